import assert from "node:assert/strict";
import { formatIp, parseCidr, parseEndpoint, parseIp } from "./cidr.ts";

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

Deno.test("parseCidr and parseEndpoint bounds", () => {
  assert.equal(parseCidr("10.0.0.1").prefixLen, 32);
  assert.equal(parseCidr("fd00::/8").prefixLen, 8);
  assert.throws(() => parseCidr("10.0.0.1/33"), /0..32/);
  assert.throws(() => parseCidr("10.0.0.1/1/2"), SyntaxError);
  assert.throws(() => parseCidr("10.0.0.1/x"), /prefix/);
  assert.equal(parseEndpoint("192.0.2.1:51820").port, 51820);
  assert.equal(parseEndpoint("[2001:db8::1]:1").family, 6);
  for (
    const bad of [
      "192.0.2.1",
      "192.0.2.1:0",
      "192.0.2.1:65536",
      "[192.0.2.1]:1",
      "2001:db8::1:1",
      "host:1",
    ]
  ) {
    assert.throws(() => parseEndpoint(bad), /Cannot parse endpoint/, bad);
  }
});
