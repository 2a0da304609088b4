import assert from "node:assert/strict";
import { errorFromFetchFailure, errorFromResponse, parseRetryAfter } from "./errors.ts";

const body = (code: string, message: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ error: { code, message, ...extra } });

Deno.test("status → kind table", () => {
  const table: [string, number, string][] = [
    ["register", 400, "fatal"],
    ["register", 401, "auth"],
    ["heartbeat", 403, "auth"],
    ["heartbeat", 404, "not_found"],
    ["register", 404, "fatal"],
    ["register", 409, "transient"],
    ["register", 408, "transient"],
    ["heartbeat", 429, "transient"],
    ["heartbeat", 500, "transient"],
    ["register", 503, "transient"],
    ["register", 418, "fatal"],
    ["register", 422, "fatal"],
  ];
  for (const [op, status, kind] of table) {
    const err = errorFromResponse(op as "register", status, "", null);
    assert.equal(err.kind, kind, `${op} ${status}`);
    assert.equal(err.status, status);
  }
});

Deno.test("401 says what to do and never echoes more than the server message", () => {
  const err = errorFromResponse("register", 401, body("unauthorized", "bad token"), null);
  assert.equal(
    err.message,
    "Cannot register with the control plane: it rejected the node token (401): unauthorized: bad token — check control_plane.node_token_file; get a new token from the control plane",
  );
  const bare = errorFromResponse("register", 401, "", null);
  assert.equal(
    bare.message,
    "Cannot register with the control plane: it rejected the node token (401) — check control_plane.node_token_file; get a new token from the control plane",
  );
});

Deno.test("Retry-After from header (seconds or date) wins over the body", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(
    errorFromResponse("register", 503, body("u", "m", { retry_after_s: 9 }), "4", now).retryAfterS,
    4,
  );
  assert.equal(
    errorFromResponse("register", 503, body("u", "m", { retry_after_s: 9 }), null, now).retryAfterS,
    9,
  );
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now), 30);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

Deno.test("non-JSON bodies are clipped into one line", () => {
  const err = errorFromResponse("heartbeat", 502, "<html>\n" + "x".repeat(500) + "</html>", null);
  assert.equal(err.kind, "transient");
  assert.ok(!err.message.includes("\n"));
  assert.ok(err.message.length < 300, err.message);
  assert.match(err.message, /HTTP 502/);
});

Deno.test("fetch failures are transient; timeouts name the config knob", () => {
  const t = errorFromFetchFailure(
    "register",
    "http://cp",
    new DOMException("signal timed out", "TimeoutError"),
    1234,
  );
  assert.equal(t.kind, "transient");
  assert.match(t.message, /no answer within 1234 ms \(control_plane.request_timeout_ms\)/);
  const r = errorFromFetchFailure("register", "http://cp", new TypeError("Connection refused"), 1);
  assert.match(
    r.message,
    /^Cannot register with the control plane at http:\/\/cp: Connection refused/,
  );
});
