import assert from "node:assert/strict";
import { isOurRosenpass, reapStaleRosenpass } from "./stale_child.ts";

Deno.test("isOurRosenpass matches only rosenpass running exactly our config", () => {
  const cfg = "/run/labman/rosenpass/rosenpass.toml";
  assert.ok(isOurRosenpass(`/usr/bin/rosenpass\0exchange-config\0${cfg}\0`, cfg));
  assert.ok(!isOurRosenpass(`/usr/bin/rosenpass\0exchange-config\0/other.toml\0`, cfg));
  assert.ok(!isOurRosenpass(`/usr/bin/vim\0exchange-config\0${cfg}\0`, cfg));
  assert.ok(!isOurRosenpass(`/usr/bin/rosenpass\0gen-keys\0${cfg}\0`, cfg));
});

Deno.test("reapStaleRosenpass stops a leftover process running our config, and nothing else", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = `${dir}/rosenpass.toml`;
  // A stand-in named rosenpass, started with our argv (visible in /proc/<pid>/cmdline).
  const fake = `${dir}/rosenpass`;
  await Deno.writeTextFile(fake, "#!/bin/sh\nwhile :; do sleep 0.05; done\n");
  await Deno.chmod(fake, 0o755);
  const bystander = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const leftover = new Deno.Command(fake, { args: ["exchange-config", cfg] }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 100));
    await Deno.writeTextFile(`${dir}/rosenpass.pid`, String(bystander.pid));
    assert.equal(
      await reapStaleRosenpass(`${dir}/rosenpass.pid`, cfg),
      null,
      "not ours: untouched",
    );
    await Deno.writeTextFile(`${dir}/rosenpass.pid`, String(leftover.pid));
    assert.equal(await reapStaleRosenpass(`${dir}/rosenpass.pid`, cfg), leftover.pid);
    assert.equal((await leftover.status).success, false, "the leftover was stopped");
    assert.equal(await reapStaleRosenpass(`${dir}/missing.pid`, cfg), null);
  } finally {
    for (const c of [bystander, leftover]) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
      await c.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
