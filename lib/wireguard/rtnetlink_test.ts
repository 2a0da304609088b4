import assert from "node:assert/strict";
import { parseCidr } from "./cidr.ts";
import { NlBuilder, NLMSG_ERROR, parseAttrs, parseError, parseMessages } from "./nlmsg.ts";
import {
  delLinkMessage,
  newAddrMessage,
  newLinkMessage,
  newRouteMessage,
  parseAddr,
  parseLink,
  parseRoute,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  setLinkMessage,
} from "./rtnetlink.ts";
import { hexBytes, loadVector, toHex } from "./_vectors.ts";

const same = (built: Uint8Array, file: string) =>
  assert.equal(toHex(built), toHex(hexBytes(loadVector(file).hex)), file);

Deno.test("rtnetlink requests match the hand-derived vectors byte for byte", () => {
  same(newLinkMessage("labman0", "wireguard"), "rtm_newlink_wireguard.json");
  same(setLinkMessage(7, { up: true, mtu: 1420 }), "rtm_setlink_up.json");
  same(delLinkMessage(7), "rtm_dellink.json");
  same(newAddrMessage(7, parseCidr("10.90.0.2/32")), "rtm_newaddr_v4.json");
  same(newRouteMessage(7, parseCidr("10.90.0.1/32")), "rtm_newroute_v4.json");
});

Deno.test("requests decode back through the generic parsers", () => {
  const [link] = parseMessages(hexBytes(loadVector("rtm_newlink_wireguard.json").hex));
  assert.equal(link.type, RTM_NEWLINK);
  assert.deepEqual(parseLink(link), { index: 0, name: "labman0", flags: 0, kind: "wireguard" });
  const [addr] = parseMessages(hexBytes(loadVector("rtm_newaddr_v4.json").hex));
  assert.equal(addr.type, RTM_NEWADDR);
  assert.deepEqual(parseAddr(addr), { index: 7, family: 4, prefixLen: 32, address: "10.90.0.2" });
  const [route] = parseMessages(hexBytes(loadVector("rtm_newroute_v4.json").hex));
  assert.equal(route.type, RTM_NEWROUTE);
  assert.deepEqual(parseRoute(route), {
    family: 4,
    dst: "10.90.0.1",
    dstLen: 32,
    table: 254,
    protocol: 4,
    scope: 253,
    type: 1,
    oif: 7,
  });
  const set = parseMessages(hexBytes(loadVector("rtm_setlink_up.json").hex))[0];
  assert.deepEqual(parseLink(set), { index: 7, name: "", flags: 1, mtu: 1420 });
});

Deno.test("NLMSG_ERROR: errno and extended-ack text", () => {
  const v = loadVector("nlmsg_error_extack.json");
  const [m] = parseMessages(hexBytes(v.hex));
  assert.equal(m.type, NLMSG_ERROR);
  assert.equal(m.seq, 5);
  assert.deepEqual(parseError(m), v.expect);
  // A plain ACK: error 0, no TLVs.
  const ack = new NlBuilder(NLMSG_ERROR, 0, 9).extra(new Uint8Array(20)).finish();
  assert.deepEqual(parseError(parseMessages(ack)[0]), { errno: 0 });
});

Deno.test("parsers reject truncated and overlong lengths", () => {
  const good = hexBytes(loadVector("rtm_newaddr_v4.json").hex);
  assert.throws(() => parseMessages(good.subarray(0, 30)), /length 40 invalid/);
  const bad = good.slice();
  bad[0] = 8; // nlmsg_len below the header size
  assert.throws(() => parseMessages(bad), /invalid/);
  assert.throws(() => parseAttrs(Uint8Array.of(0x20, 0, 1, 0, 0, 0, 0, 0)), /length 32 invalid/);
  assert.throws(() => parseAttrs(Uint8Array.of(0x02, 0, 1, 0)), /length 2 invalid/);
});

Deno.test("NlBuilder pads to 4 bytes, nests set NLA_F_NESTED, and enforces its budget", () => {
  const b = new NlBuilder(1, 0, 0, 64);
  const n = b.nestStart(5);
  b.u8(1, 0xaa);
  b.nestEnd(n);
  const bytes = b.finish();
  assert.equal(toHex(bytes.subarray(16)), "0c000580" + "05000100aa000000");
  assert.equal(bytes.length % 4, 0);
  assert.throws(() => b.bytes(2, new Uint8Array(64)), /budget/);
  assert.equal(b.fits(20), true);
  assert.equal(b.fits(40), false);
});
