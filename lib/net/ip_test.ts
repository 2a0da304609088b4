import assert from "node:assert/strict";
import { formatIp, ipSyntaxHint, isLoopbackIp, parseIp } from "./mod.ts";

Deno.test("parseIp/formatIp round trip IPv4 and IPv6 (RFC 5952 output)", () => {
  const cases: [string, string][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["fd00::", "fd00::"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ];
  for (const [input, out] of cases) assert.equal(formatIp(parseIp(input)!.bytes), out, input);
  for (
    const bad of [
      "256.0.0.1",
      "1.2.3",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "g::1",
      "",
      "1.2.3.4.5",
      "[::1]",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});
Deno.test("leading-zero IPv4 octets are rejected with a reason", () => {
  for (const bad of ["010.0.0.1", "10.0.0.01", "00.1.2.3", "::ffff:010.0.0.1"]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
  assert.match(ipSyntaxHint("010.0.0.1"), /leading zeros/);
  assert.match(ipSyntaxHint("fe80::1%eth0"), /zone/);
  assert.match(ipSyntaxHint("wg0"), /not an IP address/);
  assert.equal(formatIp(parseIp("10.0.0.0")!.bytes), "10.0.0.0");
});

Deno.test("isLoopbackIp covers 127.0.0.0/8 and ::1 only", () => {
  for (const yes of ["127.0.0.1", "127.255.0.9", "::1"]) {
    assert.ok(isLoopbackIp(parseIp(yes)!), yes);
  }
  for (const no of ["128.0.0.1", "::2", "::", "0.0.0.0", "::ffff:127.0.0.1"]) {
    assert.ok(!isLoopbackIp(parseIp(no)!), no);
  }
});

Deno.test("formatIp refuses byte lengths that are not an address", () => {
  assert.throws(() => formatIp(new Uint8Array(5)), /Cannot format IP address: 5 bytes — /);
});
