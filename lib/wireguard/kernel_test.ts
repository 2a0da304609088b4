import assert from "node:assert/strict";
import { probeKernelWireGuard } from "./backend.ts";
import { KernelBackend } from "./kernel.ts";

const isRoot = Deno.uid() === 0;
const noKernelWg = isRoot && !(await probeKernelWireGuard()).available;

Deno.test({
  name:
    "kernel backend without wireguard.ko fails with the kernel's reason, leaving nothing (root)",
  ignore: !noKernelWg,
  async fn() {
    const backend = new KernelBackend();
    try {
      await assert.rejects(
        backend.create({ name: "lmkern0", address: "10.90.0.2/32", routes: [] }),
        /Cannot create wireguard link lmkern0: EOPNOTSUPP/,
      );
      await assert.rejects(backend.get("lmkern0"), /Cannot resolve genl family wireguard: ENOENT/);
      await backend.destroy("lmkern0");
    } finally {
      await backend.close();
    }
  },
});
