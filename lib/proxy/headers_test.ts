import assert from "node:assert/strict";
import { toClientResponseFields, toClientResponseHeaders } from "./headers.ts";

const CASES: [string, string][][] = [
  [["Content-Type", "application/json"], ["Content-Length", "2"], ["Date", "x"]],
  [["transfer-encoding", "chunked"], ["content-length", "9"], [
    "content-type",
    "text/event-stream",
  ]],
  [
    ["Connection", "keep-alive, X-Ratelimit-Limit-Requests"],
    ["Keep-Alive", "timeout=5"],
    ["x-ratelimit-limit-requests", "1"],
    ["X-Ratelimit-Remaining-Tokens", "99"],
    ["openai-processing-ms", "12"],
    ["Proxy-Authenticate", "Basic"],
    ["Upgrade", "h2c"],
    ["Trailer", "x"],
    ["TE", "trailers"],
    ["X-Request-Id", "upstream-id"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["Server", "vllm/0.6"],
    ["X-Internal-IP", "192.168.7.42"],
    ["Location", "http://192.168.7.42/v1"],
    ["Via", "1.1 lan-gw"],
    ["Retry-After", "3"],
    ["Cache-Control", "no-cache"],
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
});

Deno.test("response fields pass an allowlist: no Server, Set-Cookie, Location or X-* internals", () => {
  const out = toClientResponseFields(CASES[2], "r");
  assert.deepEqual(out.map(([n]) => n.toLowerCase()), [
    "x-ratelimit-remaining-tokens",
    "openai-processing-ms",
    "retry-after",
    "cache-control",
    "x-request-id",
  ]);
  const chunked = toClientResponseFields(CASES[1], "r").map(([n]) => n);
  assert.deepEqual(chunked, ["content-type", "x-request-id"]);
});
