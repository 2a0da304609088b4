import assert from "node:assert/strict";
import { AddressPool, parseCidr4 } from "./address_pool.ts";

Deno.test("pool skips network, first host, reserved and broadcast; stable per key", () => {
  const pool = new AddressPool("10.90.0.0/29", ["10.90.0.3/32"]);
  assert.equal(pool.allocate("a"), "10.90.0.2/32");
  assert.equal(pool.allocate("b"), "10.90.0.4/32");
  assert.equal(pool.allocate("a"), "10.90.0.2/32");
  assert.equal(pool.allocate("c"), "10.90.0.5/32");
  assert.equal(pool.allocate("d"), "10.90.0.6/32");
  assert.equal(pool.allocate("e"), undefined, ".7 is broadcast");
  assert.equal(pool.allocated, 4);
});

Deno.test("parseCidr4 normalises host bits and rejects junk", () => {
  assert.deepEqual(parseCidr4("10.90.0.77/24"), { network: 0x0a5a0000, prefix: 24, size: 256 });
  for (const bad of ["10.90.0.0", "10.90.0.0/33", "10.900.0.0/24", "fd00::/64", "10.0.0.0/24/1"]) {
    assert.throws(() => parseCidr4(bad), TypeError, bad);
  }
  assert.throws(() => new AddressPool("10.0.0.0/30"), RangeError);
});
