import assert from "node:assert/strict";
import { parseRosenpassOutputLine, unescapeRustDebugString } from "./output_parser.ts";

const PEER = "R17t+AZgNBNZy/Ig9sHD5JcrsfifVGRTJsPs18mcbZ0=";

Deno.test("parses an exchanged line as rosenpass 0.2.3 prints it", () => {
  assert.deepEqual(
    parseRosenpassOutputLine(`output-key peer ${PEER} key-file "/run/rp/peer.osk" exchanged`),
    { kind: "key", peerId: PEER, keyFile: "/run/rp/peer.osk", status: "exchanged" },
  );
});

Deno.test("parses a stale line", () => {
  const out = parseRosenpassOutputLine(`output-key peer ${PEER} key-file "/k" stale`);
  assert.equal(out.kind, "key");
  assert.equal(out.kind === "key" && out.status, "stale");
});

Deno.test("unescapes escaped quotes and backslashes in the path (real 0.2.3 output)", () => {
  // Captured from rosenpass 0.2.3 with key_out = '/tmp/rpx/out/a "q".osk'.
  const out = parseRosenpassOutputLine(
    `output-key peer ${PEER} key-file "/tmp/rpx/out/a \\"q\\".osk" exchanged`,
  );
  assert.equal(out.kind === "key" && out.keyFile, '/tmp/rpx/out/a "q".osk');
  const out2 = parseRosenpassOutputLine(
    `output-key peer ${PEER} key-file "C:\\\\x\\ty \\u{e9}" exchanged`,
  );
  assert.equal(out2.kind === "key" && out2.keyFile, "C:\\x\ty é");
});

Deno.test("tolerates a trailing carriage return", () => {
  const out = parseRosenpassOutputLine(`output-key peer ${PEER} key-file "/k" exchanged\r`);
  assert.equal(out.kind, "key");
});

Deno.test("rejects garbage, truncated and altered lines as unexpected", () => {
  const bad = [
    "",
    "hello",
    `output-key peer ${PEER} key-file "/k"`,
    `output-key peer ${PEER} key-file "/k" exchange`,
    `output-key peer ${PEER} key-file "/k`,
    `output-key peer ${PEER} key-file /k exchanged`,
    `output-key peer  key-file "/k" exchanged`,
    `output-key peer ${PEER} key-file "/k" exchanged extra`,
    ` output-key peer ${PEER} key-file "/k" exchanged`,
    `output-key peer ${PEER} key-file "/a"b" exchanged`,
    `output-key peer ${PEER} key-file "/a\\xff" exchanged`,
    `output-key peer ${PEER} key-file "/a\\u{d800}" exchanged`,
    `output-key peer ${PEER} key-file "/a\\q" exchanged`,
  ];
  for (const line of bad) {
    const out = parseRosenpassOutputLine(line);
    assert.equal(out.kind, "unexpected", `accepted: ${JSON.stringify(line)}`);
    assert.equal(out.kind === "unexpected" && out.line, line);
  }
});

Deno.test("unescapeRustDebugString handles every Debug escape and refuses the rest", () => {
  assert.equal(unescapeRustDebugString(`a\\"b\\\\c\\'d\\n\\r\\t\\0`), `a"b\\c'd\n\r\t\0`);
  assert.equal(unescapeRustDebugString("\\u{1f600}"), "😀");
  assert.equal(unescapeRustDebugString("\\u{}"), null);
  assert.equal(unescapeRustDebugString("trailing\\"), null);
  assert.equal(unescapeRustDebugString("\\x41"), null);
});
