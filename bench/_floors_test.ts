import assert from "node:assert/strict";
import { floorsSection } from "./_floors.ts";

Deno.test("floorsSection: ratios to the base row and what labmand adds over the serve-pool floor", () => {
  const md = floorsSection([
    { name: "nginx", rps: 20_000, cpuUs: 20, rounds: [19, 20, 21] },
    { name: "floor serve-pool", rps: 16_000, cpuUs: 34, rounds: [34, 33, 35] },
    { name: "labmand", rps: 14_000, cpuUs: 56, rounds: [56, NaN, 57] },
  ], "nginx");
  assert.match(md, /\| floor serve-pool \| 16,000 \| 0\.80× \| 34\.0 \| 1\.70× \| 34 33 35 \|/);
  assert.match(md, /\| labmand \| 14,000 \| 0\.70× \| 56\.0 \| 2\.80× \| 56 — 57 \|/);
  assert.match(md, /labmand adds 22\.0 µs of CPU per request over the serve-pool floor/);
});

Deno.test("floorsSection: a run that could not measure says why instead of inventing rows", () => {
  const md = floorsSection("serve-pool: port did not open", "nginx");
  assert.match(md, /Not measured: serve-pool: port did not open/);
  assert.doesNotMatch(md, /\| labmand \|/);
});
