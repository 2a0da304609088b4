/**
 * Property and fuzz tests (fast-check) of what a hostile peer or a broken upstream controls:
 * the upstream HTTP/1.1 response parser (head, chunk sizes, close-delimited tails) and the proxy's
 * request path end to end in-process. `deno task fuzz` runs at least 1,000,000 generated cases
 * in total (`LABMAN_FUZZ=full`, random seed unless `LABMAN_FUZZ_SEED`); the normal test run
 * replays a short slice with a fixed seed.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CloseDelimitedTail,
  findHeadEnd,
  HttpProtocolError,
  parseChunkSize,
  parseResponseHead,
} from "../lib/proxy/_http1.ts";
import { createProxyHandler } from "../lib/proxy/handler.ts";
import {
  type UpstreamClient,
  UpstreamError,
  type UpstreamRequest,
} from "../lib/proxy/upstream_client.ts";
import { BodyBudget } from "../lib/proxy/body_reader.ts";
import type { AcquireResult, EndpointTarget, Router } from "../lib/registry/types.ts";
import { createDataPlaneMetrics, Registry } from "../lib/telemetry/mod.ts";

const FULL = Deno.env.get("LABMAN_FUZZ") === "full";
const SEED = Deno.env.get("LABMAN_FUZZ_SEED");

/** Runs per property: the full run totals 1,000,000; the slice is quick and seed-fixed. */
function params(fullRuns: number): fc.Parameters<unknown> {
  if (!FULL) return { numRuns: Math.max(200, Math.round(fullRuns / 500)), seed: 8 };
  return { numRuns: fullRuns, ...(SEED ? { seed: Number(SEED) } : {}) };
}

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Generated cases run so far, over every property of this file. */
let cases = 0;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const tokenArb = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/);
const valueArb = fc.stringMatching(/^[\x20-\x7e]{0,40}$/).map((v) => v.trim());
const interesting = fc.constantFrom(
  "Content-Length",
  "Transfer-Encoding",
  "Connection",
  "content-type",
  "Set-Cookie",
  "Server",
  "Location",
);

/** A response head: mostly well formed, with the framing fields a hostile upstream plays with. */
const headArb = fc.record({
  version: fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/1.9", "HTTP/2.0", "HTTP/1.", "http/1.1"),
  status: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer({ min: 0, max: 1200 })),
  reason: fc.constantFrom("OK", "", "Bad Gateway", "x y z"),
  fields: fc.array(
    fc.tuple(
      fc.oneof(tokenArb, interesting, fc.constantFrom("bad name", "", "x\u00ff")),
      fc.oneof(
        valueArb,
        fc.constantFrom(
          "chunked",
          "gzip, chunked",
          "chunked, gzip",
          "close",
          "-1",
          "1, 2",
          "99999999999999999999",
        ),
        fc.integer({ min: 0, max: 1 << 20 }).map(String),
      ),
    ),
    { maxLength: 12 },
  ),
  lineEnd: fc.constantFrom("\r\n", "\n"),
  method: fc.constantFrom("POST", "GET", "HEAD"),
});

function encodeHead(h: {
  version: string;
  status: number;
  reason: string;
  fields: [string, string][];
  lineEnd: string;
}): Uint8Array {
  const status = String(h.status).padStart(3, "0");
  const lines = [`${h.version} ${status}${h.reason ? ` ${h.reason}` : ""}`];
  for (const [n, v] of h.fields) lines.push(`${n}: ${v}`);
  return enc.encode(lines.join(h.lineEnd) + h.lineEnd + h.lineEnd);
}

/** Either a valid, consistent head or an HttpProtocolError; never anything else. */
function parseOrProtocolError(buf: Uint8Array, method: string): void {
  const end = findHeadEnd(buf, 0, buf.length);
  if (end < 0) return;
  let head;
  try {
    head = parseResponseHead(buf, 0, end, method);
  } catch (err) {
    assert.ok(err instanceof HttpProtocolError, `unexpected ${err}`);
    return;
  }
  assert.ok(head.status >= 100 && head.status <= 999);
  for (const [name, value] of head.fields) {
    assert.match(name, TOKEN);
    assert.ok(!/[\r\n\0]/.test(value));
  }
  const f = head.framing;
  assert.ok(["none", "length", "chunked", "close"].includes(f.kind));
  if (f.kind === "length") assert.ok(Number.isSafeInteger(f.length) && f.length > 0);
  if (method === "HEAD" || head.status === 204 || head.status === 304) {
    assert.equal(f.kind, "none");
  }
}

Deno.test("fuzz: the upstream response head parser accepts only consistent heads", () => {
  fc.assert(
    fc.property(headArb, (h) => {
      cases++;
      parseOrProtocolError(encodeHead(h), h.method);
    }),
    params(300_000),
  );
});

Deno.test("fuzz: arbitrary bytes never crash the head parser", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom("POST", "HEAD"),
      (bytes, method) => {
        cases++;
        // Give most inputs a plausible start and a head end so the parser goes deep.
        const buf = new Uint8Array([
          ...enc.encode("HTTP/1.1 200 OK\r\n"),
          ...bytes,
          13,
          10,
          13,
          10,
        ]);
        parseOrProtocolError(buf, method);
        parseOrProtocolError(new Uint8Array([...bytes, 13, 10, 13, 10]), method);
      },
    ),
    params(200_000),
  );
});

Deno.test("fuzz: chunk-size lines parse to a safe size or a protocol error", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 40 }),
        fc.tuple(fc.stringMatching(/^[0-9a-fA-F]{1,20}$/), fc.stringMatching(/^(;[ -~]{0,30})?$/))
          .map(([size, ext]) => enc.encode(`${size}${ext}\r`)),
      ),
      (line) => {
        cases++;
        try {
          const n = parseChunkSize(line, 0, line.length);
          assert.ok(Number.isSafeInteger(n) && n >= 0);
        } catch (err) {
          assert.ok(err instanceof HttpProtocolError, `unexpected ${err}`);
        }
      },
    ),
    params(200_000),
  );
});

Deno.test("fuzz: a close-delimited SSE body is complete exactly when its last event is", () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[a-z0-9{}":, ]{1,30}$/), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 8 }),
      fc.nat(),
      (events, splits, cutAt) => {
        cases++;
        const body = events.map((e) => `data: ${e}\n\n`).join("");
        const bytes = enc.encode(body);
        const feed = (upTo: number) => {
          const tail = new CloseDelimitedTail("text/event-stream; charset=utf-8");
          let off = 0;
          for (const s of splits) {
            if (off >= upTo) break;
            const next = Math.min(upTo, off + s);
            tail.feed(bytes.subarray(off, next));
            off = next;
          }
          tail.feed(bytes.subarray(off, upTo));
          return tail.truncated();
        };
        assert.equal(feed(bytes.length), null);
        const cut = 1 + (cutAt % (bytes.length - 1));
        const cutText = dec.decode(bytes.subarray(0, cut));
        const endsAtEvent = cutText.endsWith("\n\n");
        assert.equal(feed(cut) === null, endsAtEvent, JSON.stringify(cutText));
      },
    ),
    params(100_000),
  );
});

// --- request path ---------------------------------------------------------------------------

const LEAKS = ["192.168.7.42", "10.1.2.3", "lan-secret", "vllm", "http://"];
const ALLOWED_STATUS = new Set([
  200,
  201,
  400,
  401,
  403,
  404,
  405,
  408,
  409,
  413,
  422,
  429,
  500,
  502,
  503,
  504,
]);

/** IANA-registered statuses (what may go on the wire). */
const STANDARD = new Set(
  [
    [200, 208],
    [226, 226],
    [300, 308],
    [400, 418],
    [421, 426],
    [428, 429],
    [431, 431],
    [451, 451],
    [500, 508],
    [510, 511],
  ].flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i)),
);

const target: EndpointTarget = {
  endpoint: "gpu",
  baseUrl: "http://10.1.2.3:8000/v1",
  model: "real-model",
  tenant: "t",
};

const router: Router = {
  acquire(slug: string): Promise<AcquireResult> {
    if (slug !== "known") {
      return Promise.resolve({
        ok: false,
        status: 404,
        message: `The model '${slug}' does not exist`,
      });
    }
    return Promise.resolve({ ok: true, lease: { target, queuedMs: 0, release() {} } });
  },
  listModels: () => [],
  knows: (slug) => slug === "known",
};

const upstreamArb = fc.record({
  kind: fc.constantFrom("answer", "answer", "answer", "connect", "reset", "timeout", "protocol"),
  status: fc.oneof(fc.constantFrom(200, 400, 429, 500, 503), fc.integer({ min: 100, max: 700 })),
  fields: fc.array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          "content-type",
          "set-cookie",
          "server",
          "location",
          "x-internal-ip",
          "openai-processing-ms",
          "x-ratelimit-remaining-requests",
          "retry-after",
          "via",
        ),
        tokenArb,
      ),
      fc.constantFrom(
        "192.168.7.42",
        "lan-secret=1",
        "vllm/0.6",
        "application/json",
        "7",
        "http://10.1.2.3/",
      ),
    ),
    { maxLength: 6 },
  ),
  body: fc.constantFrom(
    '{"error":{"message":"db at 192.168.7.42 down","code":"overload"}}',
    "vllm worker crashed at 10.1.2.3",
    '{"choices":[]}',
    "",
  ),
});

const requestArb = fc.record({
  method: fc.constantFrom("POST", "GET", "PUT", "DELETE"),
  path: fc.constantFrom(
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v2/x",
    "/",
  ),
  body: fc.oneof(
    fc.constant('{"model":"known","messages":[]}'),
    fc.constant('{"model":"known","stream":true}'),
    fc.json().map((j) => j),
    fc.string({ maxLength: 200 }),
    fc.record({ model: fc.oneof(fc.string({ maxLength: 50 }), fc.integer(), fc.constant(null)) })
      .map((o) => JSON.stringify(o)),
    fc.uint8Array({ maxLength: 100 }).map((b) => dec.decode(b)),
  ),
  headers: fc.array(fc.tuple(tokenArb, valueArb), { maxLength: 5 }),
});

Deno.test("fuzz: the request path answers only standard statuses, OpenAI-shaped, with nothing of the LAN", async () => {
  const metrics = createDataPlaneMetrics(new Registry());
  let plan: { kind: string; status: number; fields: [string, string][]; body: string };
  const client: UpstreamClient = {
    request(req: UpstreamRequest) {
      const p = plan;
      if (p.kind !== "answer") {
        return Promise.reject(
          new UpstreamError(
            p.kind as "connect",
            `Cannot connect to http://10.1.2.3:8000: refused (${p.kind})`,
          ),
        );
      }
      req.onFirstByte?.();
      req.onBodyEnd?.("done");
      const bytes = enc.encode(p.body);
      const fields = [...p.fields, ["content-length", String(bytes.length)]] as [string, string][];
      return Promise.resolve({
        status: p.status,
        get headers() {
          return new Headers(fields.filter(([n]) => TOKEN.test(n)));
        },
        fields: fields.filter(([n]) => TOKEN.test(n)),
        body: null,
        bytes,
      });
    },
    close() {},
  };
  const handler = createProxyHandler({
    router,
    client: () => client,
    proxy: { max_body_bytes: 1024, retry_connect_failures: false, body_timeout_ms: 5_000 },
    bodyBudget: new BodyBudget(4096),
    metrics,
  });
  await fc.assert(
    fc.asyncProperty(requestArb, upstreamArb, async (r, u) => {
      cases++;
      plan = u as typeof plan;
      const headers = new Headers();
      for (const [n, v] of r.headers) headers.append(n, v);
      const req = new Request(`http://proxy.test${r.path}`, {
        method: r.method,
        headers,
        ...(r.method === "GET" ? {} : { body: r.body }),
      });
      const res = await handler.fetch(req);
      assert.ok(ALLOWED_STATUS.has(res.status) || res.status === u.status, `status ${res.status}`);
      assert.ok(STANDARD.has(res.status), `non-standard status ${res.status} on the wire`);
      const text = await res.text();
      const names = [...res.headers.keys()];
      for (const name of names) {
        assert.ok(
          [
            "content-type",
            "content-length",
            "content-encoding",
            "cache-control",
            "retry-after",
            "x-request-id",
            "allow",
            "connection",
          ]
            .includes(name) || name.startsWith("openai-") || name.startsWith("x-ratelimit-"),
          `header ${name} reached the client`,
        );
      }
      // A success body is the model's answer and passes as is; everything else is ours.
      const answeredByUpstream = res.status >= 200 && res.status < 300 &&
        r.path !== "/v1/models";
      if (!answeredByUpstream) {
        const json = JSON.parse(text);
        if (r.path !== "/v1/models" || res.status !== 200) {
          assert.deepEqual(Object.keys(json.error).sort(), ["code", "message", "param", "type"]);
        }
        for (const leak of LEAKS) {
          assert.ok(!text.includes(leak) || r.body.includes(leak), `${leak} in ${text}`);
        }
      }
    }),
    params(200_000),
  );
  const { values } = await metrics.requests.get();
  const models = new Set(values.map((v) => v.labels.model));
  for (const m of models) assert.ok(m === "known" || m === "unknown", `label ${m}`);
  assert.equal(handler.inFlight(), 0);
});

Deno.test("fuzz: the full run generates at least 1,000,000 cases", () => {
  if (FULL) {
    console.log(`fuzz: ${cases} generated cases`);
    assert.ok(cases >= 1_000_000, `only ${cases} cases`);
  } else {
    assert.ok(cases >= 1_000, `the slice ran ${cases} cases`);
  }
});
