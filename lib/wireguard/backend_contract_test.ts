// One contract (./_backend_contract.ts) against each backend that can run here: the fake
// always, the userspace backend on a real wireguard-go as root. The kernel backend runs the
// same cases under QEMU (tests/wireguard_kernel_test.ts → tests/qemu/kernel_guest.ts).
import { BACKEND_CONTRACT, type ContractContext } from "./_backend_contract.ts";
import { FakeBackend } from "./fake.ts";
import { NetlinkLinkOps } from "./rtnl.ts";
import { UserspaceBackend } from "./userspace.ts";
import type { WireGuardBackend } from "./types.ts";
import { whichOnPath } from "../ops/host.ts";

const rand = () => crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0");

/** The one PATH lookup (lib/ops/host.ts), as labman itself resolves programs. */
const onPath = (cmd: string) => whichOnPath(cmd, Deno.env.get("PATH") ?? "") !== null;

function freeUdpPort(): number {
  const l = Deno.listenDatagram({ hostname: "0.0.0.0", port: 0, transport: "udp" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function suite(
  label: string,
  make: () => { backend: WireGuardBackend; cleanup(): Promise<void> },
  ignore: string | undefined,
) {
  for (const c of BACKEND_CONTRACT) {
    Deno.test({
      name: `${label} backend contract: ${c.name}${ignore ? ` (skipped: ${ignore})` : ""}`,
      ignore: ignore !== undefined,
      async fn() {
        const { backend, cleanup } = make();
        // 198.18.0.0/15 (benchmarking range): never a real address on a test host.
        const n = crypto.getRandomValues(new Uint8Array(2));
        const ctx: ContractContext = {
          backend,
          ifname: `lmct${rand()}`,
          address: `198.18.${n[0]}.${n[1]}/32`,
          listenPort: freeUdpPort(),
        };
        try {
          await c.run(ctx);
        } finally {
          await backend.destroy(ctx.ifname).catch(() => {});
          await backend.close();
          await cleanup();
        }
      },
    });
  }
}

suite("fake", () => ({ backend: new FakeBackend(), cleanup: () => Promise.resolve() }), undefined);

const userspaceSkip = Deno.uid() !== 0
  ? "needs root"
  : !(onPath("wireguard-go"))
  ? "no wireguard-go (apt-get install wireguard-go)"
  : undefined;

suite("userspace", () => {
  const links = new NetlinkLinkOps();
  return {
    backend: new UserspaceBackend({ links }),
    cleanup: () => Promise.resolve(links.close()),
  };
}, userspaceSkip);
