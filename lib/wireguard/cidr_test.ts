import assert from "node:assert/strict";
import { parseCidr, parseEndpoint } from "./cidr.ts";

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
