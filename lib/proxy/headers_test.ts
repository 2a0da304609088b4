import assert from "node:assert/strict";
import { toClientResponseFields, toClientResponseHeaders } from "./headers.ts";

const CASES: [string, string][][] = [
  [["Content-Type", "application/json"], ["Content-Length", "2"], ["Date", "x"]],
  [["transfer-encoding", "chunked"], ["content-length", "9"], [
    "content-type",
    "text/event-stream",
  ]],
  [
    ["Connection", "keep-alive, X-Drop"],
    ["Keep-Alive", "timeout=5"],
    ["x-drop", "1"],
    ["X-Keep", "yes"],
    ["Proxy-Authenticate", "Basic"],
    ["Upgrade", "h2c"],
    ["Trailer", "x"],
    ["TE", "trailers"],
    ["X-Request-Id", "upstream-id"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
  ],
];

Deno.test("toClientResponseFields forwards exactly what toClientResponseHeaders does", () => {
  for (const fields of CASES) {
    const viaHeaders = toClientResponseHeaders(new Headers(fields), "req-1");
    const viaFields = new Headers(toClientResponseFields(fields, "req-1"));
    assert.deepEqual([...viaFields], [...viaHeaders], JSON.stringify(fields));
    assert.deepEqual(viaFields.getSetCookie(), viaHeaders.getSetCookie());
    assert.equal(viaFields.get("x-request-id"), "req-1");
  }
  const out = toClientResponseFields(CASES[2], "r");
  assert.deepEqual(out.map(([n]) => n.toLowerCase()), [
    "x-keep",
    "set-cookie",
    "set-cookie",
    "x-request-id",
  ]);
});
