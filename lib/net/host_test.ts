import assert from "node:assert/strict";
import { bracketHost, isLoopbackHost, joinHostPort, unbracketHost } from "./mod.ts";

Deno.test("bracketHost/unbracketHost are inverse for IPv6 and identity otherwise", () => {
  assert.equal(bracketHost("fd00::1"), "[fd00::1]");
  assert.equal(bracketHost("[fd00::1]"), "[fd00::1]");
  assert.equal(bracketHost("10.0.0.1"), "10.0.0.1");
  assert.equal(bracketHost("example.net"), "example.net");
  assert.equal(unbracketHost("[fd00::1]"), "fd00::1");
  assert.equal(unbracketHost("fd00::1"), "fd00::1");
  assert.equal(joinHostPort("::1", 80), "[::1]:80");
  assert.equal(joinHostPort("127.0.0.1", 80), "127.0.0.1:80");
});

Deno.test("isLoopbackHost: localhost, 127/8 and ::1, never a resolved name", () => {
  for (const yes of ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"]) {
    assert.ok(isLoopbackHost(yes), yes);
  }
  for (const no of ["10.0.0.1", "0.0.0.0", "::", "localhost.example", "0127.0.0.1", "127.0.0.01"]) {
    assert.ok(!isLoopbackHost(no), no);
  }
});
