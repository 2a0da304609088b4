import assert from "node:assert/strict";
import { decideBackend, probeKernelWireGuard, selectBackend } from "./backend.ts";
import { FakeBackend } from "./fake.ts";

const absent = { available: false, reason: "no module" };
const present = { available: true, reason: "family id 35" };

Deno.test("decideBackend: auto follows the probe, forced modes are honoured or refused", () => {
  assert.deepEqual(decideBackend("auto", present), {
    kind: "kernel",
    reason: "auto: family id 35",
  });
  assert.deepEqual(decideBackend("auto", absent), {
    kind: "userspace",
    reason: "auto: no module; using wireguard-go",
  });
  assert.equal(decideBackend("userspace", undefined).kind, "userspace");
  assert.equal(decideBackend("kernel", present).kind, "kernel");
  assert.throws(
    () => decideBackend("kernel", absent),
    /wireguard.mode "kernel": no module — .*"auto"/,
  );
});

Deno.test("selectBackend builds the chosen backend and never probes for userspace", async () => {
  let probes = 0;
  const kernel = new FakeBackend(), user = new FakeBackend();
  const deps = {
    probeKernel: () => (probes++, Promise.resolve(absent)),
    makeKernel: () => kernel,
    makeUserspace: () => user,
  };
  assert.equal((await selectBackend("auto", deps)).backend, user);
  assert.equal((await selectBackend("userspace", deps)).backend, user);
  assert.equal(probes, 1);
  await assert.rejects(selectBackend("kernel", deps), /Cannot use wireguard.mode "kernel"/);
  const k = await selectBackend("auto", { ...deps, probeKernel: () => Promise.resolve(present) });
  assert.equal(k.backend, kernel);
});

Deno.test({
  name: "probeKernelWireGuard on this host reports why, and leaves no link behind (root)",
  ignore: Deno.uid() !== 0,
  async fn() {
    const probe = await probeKernelWireGuard();
    assert.ok(probe.reason.length > 0);
    // This build host has no wireguard.ko: the probe must say so rather than guess.
    if (!probe.available) assert.match(probe.reason, /EOPNOTSUPP|WireGuard/);
    const out = await new Deno.Command("ip", { args: ["-o", "link"], stdout: "piped" }).output();
    assert.doesNotMatch(new TextDecoder().decode(out.stdout), /lmprobe/);
  },
});
