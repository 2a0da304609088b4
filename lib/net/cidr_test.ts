import assert from "node:assert/strict";
import {
  cidrOverlaps,
  parseCidr,
  parseHostIp as parseIp,
  privateRangeOf,
  splitHostPort,
} from "./cidr.ts";
import { formatIp as fmt, isLoopbackIp as isLoopback } from "./mod.ts";
import type { Ip } from "./mod.ts";

const formatIp = (ip: Ip) => fmt(ip.bytes);

Deno.test("parseIp accepts v4/v6 literals and rejects the rest", () => {
  assert.equal(formatIp(parseIp("10.0.0.1")!), "10.0.0.1");
  assert.equal(formatIp(parseIp("fd00:0:0::05")!), "fd00::5");
  assert.equal(formatIp(parseIp("[::1]")!), "::1");
  assert.equal(formatIp(parseIp("::ffff:1.2.3.4")!), "::ffff:102:304");
  for (const bad of ["10.0.0", "256.1.1.1", "01.2.3.4", "host", "1::2::3", "fe80::1%eth0", ""]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("parseCidr, overlaps and classification", () => {
  assert.deepEqual(parseCidr("10.1.2.3")?.prefix, 32);
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
  assert.ok(cidrOverlaps(parseCidr("10.0.0.0/7")!, parseCidr("10.0.0.0/8")!));
  assert.ok(!cidrOverlaps(parseCidr("11.0.0.0/8")!, parseCidr("10.0.0.0/8")!));
  assert.equal(privateRangeOf(parseIp("192.168.1.20")!), "192.168.0.0/16");
  assert.equal(privateRangeOf(parseIp("8.8.8.8")!), undefined);
  assert.ok(isLoopback(parseIp("127.0.0.2")!));
  assert.ok(!isLoopback(parseIp("::2")!));
});

Deno.test("splitHostPort", () => {
  assert.deepEqual(splitHostPort("0.0.0.0:9999"), { host: "0.0.0.0", port: 9999 });
  assert.deepEqual(splitHostPort("[::]:51820"), { host: "::", port: 51820 });
  assert.equal(splitHostPort("::1:80"), undefined);
  assert.equal(splitHostPort("host"), undefined);
  assert.equal(splitHostPort("host:0"), undefined);
});
