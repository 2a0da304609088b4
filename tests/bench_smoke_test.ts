/**
 * CI's performance guard: the bench smoke (bench/smoke.ts) runs as its own process against a
 * real mock, nginx and labmand, and fails only when labmand falls grossly behind nginx measured
 * in the same run.
 */
import assert from "node:assert/strict";
import { BOUNDS, judge } from "../bench/smoke.ts";

const today = {
  addedP50: { labmand: 0.25, nginx: 0.1 },
  rps: { labmand: 8_000, nginx: 20_000 },
  cpuUsPerReq: { labmand: 100, nginx: 25 },
};

Deno.test("bench smoke: today's ratios pass, a gross regression of any one fails", () => {
  assert.equal(judge(today).ok, true);
  const slow = { ...today, addedP50: { labmand: 0.1 * (BOUNDS.addedP50VsNginx + 1), nginx: 0.1 } };
  assert.deepEqual(judge(slow).rows.map((r) => r.ok), [false, true, true]);
  const starved = { ...today, rps: { labmand: 2_000, nginx: 20_000 } };
  assert.deepEqual(judge(starved).rows.map((r) => r.ok), [true, false, true]);
  const hungry = {
    ...today,
    cpuUsPerReq: { labmand: 25 * (BOUNDS.cpuPerRequestVsNginx + 1), nginx: 25 },
  };
  assert.deepEqual(judge(hungry).rows.map((r) => r.ok), [true, true, false]);
  // A figure that could not be measured never passes as a silent 0.
  assert.equal(judge({ ...today, rps: { labmand: NaN, nginx: 20_000 } }).ok, false);
  // nginx adding almost nothing must not turn labmand's small addition into a huge ratio.
  assert.equal(judge({ ...today, addedP50: { labmand: 0.3, nginx: 0.001 } }).rows[0].ok, true);
});

Deno.test("bench smoke: labmand within gross bounds of nginx, in under 60 s", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const flags = String(denoJson.tasks["bench:smoke"]).split(/\s+/)
    .filter((w) => w.startsWith("--allow-") || w.startsWith("--unstable-"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL("../bench/smoke.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout);
  if (text.startsWith("bench smoke skipped")) {
    console.log(text.trim());
    return;
  }
  assert.equal(out.code, 0, `${text}\n${new TextDecoder().decode(out.stderr).slice(-2000)}`);
  assert.match(text, /\| labmand \|/);
  const took = Number(/passed in ([\d.]+) s/.exec(text)?.[1]);
  assert.ok(took <= 60, `the smoke took ${took} s; CI's budget is 60 s`);
});
