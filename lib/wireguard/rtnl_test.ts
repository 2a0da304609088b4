import assert from "node:assert/strict";
import { NetlinkError } from "./nlmsg.ts";
import { IFF_UP } from "./rtnetlink.ts";
import { IpCommandLinkOps, type LinkOps, NetlinkLinkOps } from "./rtnl.ts";

const isRoot = Deno.uid() === 0;

const IMPLEMENTATIONS: [string, () => LinkOps][] = [
  ["rtnetlink via FFI", () => new NetlinkLinkOps()],
  ["iproute2 fallback", () => new IpCommandLinkOps()],
];

for (const [label, make] of IMPLEMENTATIONS) {
  Deno.test({
    name: `${label}: create link, /32 address, route, list, delete (root)`,
    ignore: !isRoot,
    async fn() {
      const ops = make();
      const name = `lmrt${crypto.getRandomValues(new Uint16Array(1))[0].toString(16)}`;
      try {
        // veth without VETH_INFO_PEER: the kernel names the peer itself; deleting one removes both.
        await ops.createLink(name, "veth", 1400);
        const link = await ops.getLink(name);
        assert.ok(link);
        assert.equal(link.name, name);
        assert.equal(link.kind, "veth");
        assert.equal(link.mtu, 1400);
        assert.equal(link.flags & IFF_UP, 0);

        await ops.setLink(name, { up: true, mtu: 1380 });
        const up = await ops.getLink(name);
        assert.equal(up?.flags! & IFF_UP, IFF_UP);
        assert.equal(up?.mtu, 1380);

        await ops.addAddress(name, "192.0.2.77/32");
        await assert.rejects(
          ops.addAddress(name, "192.0.2.77/32"),
          (e: unknown) =>
            ops instanceof NetlinkLinkOps
              ? e instanceof NetlinkError && e.errno === 17 && /EEXIST/.test(e.message)
              : /already assigned/.test(String(e)),
        );
        await ops.addAddress(name, "2001:db8::77/128");
        const addrs = await ops.listAddresses(name);
        assert.deepEqual(
          addrs.filter((a) => !a.address.startsWith("fe80")).map((a) =>
            `${a.address}/${a.prefixLen}`
          )
            .sort(),
          ["192.0.2.77/32", "2001:db8::77/128"],
        );

        await ops.addRoute(name, "198.51.100.9/32");
        await ops.addRoute(name, "203.0.113.0/24");
        await ops.addRoute(name, "2001:db8:1::/64");
        const routes = await ops.listRoutes(name);
        const dsts = routes.map((r) => `${r.dst}/${r.dstLen}`);
        for (const want of ["198.51.100.9/32", "203.0.113.0/24", "2001:db8:1::/64"]) {
          assert.ok(dsts.includes(want), `${want} in ${dsts.join(",")}`);
        }
        assert.equal(await ops.deleteLink(name), true);
        assert.equal(await ops.getLink(name), undefined);
        assert.equal(await ops.deleteLink(name), false);
      } finally {
        await ops.deleteLink(name).catch(() => {});
        ops.close();
      }
    },
  });
}

Deno.test({
  name: "rtnetlink via FFI: errors name the errno (root)",
  ignore: !isRoot,
  async fn() {
    const ops = new NetlinkLinkOps();
    try {
      await assert.rejects(ops.setLink("lmnosuchlink0", { up: true }), /ENODEV/);
      // No kernel WireGuard here: link kind "wireguard" is refused (EOPNOTSUPP). Where the module
      // exists this creates the link, which we then remove.
      const name = `lmwg${crypto.getRandomValues(new Uint16Array(1))[0].toString(16)}`;
      try {
        await ops.createLink(name, "wireguard");
        assert.equal((await ops.getLink(name))?.kind, "wireguard");
      } catch (e) {
        assert.ok(e instanceof NetlinkError && e.errno === 95, String(e));
      } finally {
        await ops.deleteLink(name);
      }
    } finally {
      ops.close();
    }
  },
});
