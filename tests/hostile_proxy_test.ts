/**
 * The proxy port under a hostile peer (design §4 invariant 9, docs/threat-model.md): every row of
 * issue #8's table replayed against `labmand` started through `labmand/main.ts` with the
 * permission flags of its deno.json task, with raw sockets where the attack lives below HTTP.
 */
import assert from "node:assert/strict";
import { rawServer } from "../lib/proxy/_testing.ts";
import { type MockLlm, startMockLlm } from "../lib/mockllm/mod.ts";
import { freePort, until } from "./helpers/netns.ts";
import { type LabmandProcess, startLabmand } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const HI = [{ role: "user", content: "hi" }];
const LAN_LEAKS = ["127.0.0.1", "192.168.7.42", "http://", "vllm", "set-cookie", "internal"];

/** VmRSS of a process in MiB. */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(status.match(/^VmRSS:\s+(\d+) kB$/m)?.[1]);
  return kb / 1024;
}

/** Connects, writes `data`, reads until the server closes or `ms` pass. */
async function raw(
  port: number,
  data: string | Uint8Array,
  ms = 5_000,
): Promise<{ text: string; closed: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), ms);
  let text = "";
  try {
    await conn.write(typeof data === "string" ? enc.encode(data) : data);
    const buf = new Uint8Array(16 * 1024);
    for (let i = 0; i < 10_000; i++) {
      const n = await conn.read(buf);
      if (n === null) return { text, closed: true };
      text += dec.decode(buf.subarray(0, n));
    }
    return { text, closed: false };
  } catch {
    return { text, closed: false };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** One scrape; bounded, since a daemon out of descriptors may leave the connection unanswered. */
async function metrics(adminUrl: string): Promise<string> {
  return await (await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(3_000) })).text();
}

function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$/);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`))) {
      sum += Number(m[3]);
    }
  }
  return sum;
}

/** An endpoint that leaks its internals in headers and error bodies, like a careless server. */
function leakyEndpoint() {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const internals = {
      server: "vllm/0.6",
      "set-cookie": "session=lan-secret; Path=/",
      "x-internal-ip": "192.168.7.42",
      location: "http://192.168.7.42/v1/chat/completions",
      "openai-processing-ms": "3",
    };
    if (path === "/v1/models") {
      return Response.json({ object: "list", data: [{ id: "leaky", object: "model" }] }, {
        headers: internals,
      });
    }
    const body = await req.text();
    if (body.includes("slow")) await new Promise((r) => setTimeout(r, 1_500));
    if (body.includes("fail")) {
      return new Response("upstream db at 192.168.7.42:5432 refused (vllm worker 3)", {
        status: 500,
        headers: { ...internals, "content-type": "text/plain" },
      });
    }
    return Response.json({
      id: "x",
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    }, { headers: internals });
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}/v1` };
}

/** An endpoint whose streams are close-delimited and cut in the middle of an event. */
function truncatingEndpoint() {
  return rawServer(async (conn) => {
    for (;;) {
      const req = await conn.readRequest();
      if (!req) return;
      if (req.path === "/v1/models") {
        const body = '{"object":"list","data":[{"id":"cut","object":"model"}]}';
        await conn.write(
          `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}` +
            `\r\n\r\n${body}`,
        );
        continue;
      }
      await conn.write(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" +
          'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[{"del',
      );
      return; // close mid-event
    }
  });
}

async function writeConfig(body: string): Promise<{ path: string; port: number; admin: number }> {
  const dir = await makeTestDir({ prefix: "labman-hostile-" });
  const port = freePort();
  const admin = freePort();
  const path = `${dir}/labman.toml`;
  await Deno.writeTextFile(
    path,
    `[wireguard]
mode = "off"

[admin]
listen_port = ${admin}

[logging]
level = "info"
format = "json"

[proxy]
listen_port = ${port}
${body}`,
  );
  return { path, port, admin };
}

Deno.test("hostile: declared-but-absent bodies, slow heads and idle sockets cannot grow memory or hold descriptors", async () => {
  const leaky = leakyEndpoint();
  const cfg = await writeConfig(`header_timeout_ms = 1000
body_timeout_ms = 1500
client_idle_timeout_ms = 1000
max_connections = 120
shutdown_grace_ms = 1000

[health]
interval_s = 10

[[endpoints]]
name = "leaky"
base_url = "${leaky.url}"
`);
  await using labmand = await startLabmand(cfg.path);
  try {
    const pid = labmand.child.pid;
    const before = await rssMiB(pid);
    // Row 1: 50 heads declaring 16 MB bodies, no body. Each gets 408 and is closed.
    const heads = await Promise.all(Array.from({ length: 50 }, () =>
      raw(
        cfg.port,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" +
          "content-length: 16000000\r\n\r\n",
        10_000,
      )));
    const peak = await rssMiB(pid);
    for (const h of heads) {
      assert.ok(h.closed, "the server closed the connection");
      assert.match(h.text, /^HTTP\/1\.1 408 /);
    }
    assert.ok(peak - before < 60, `RSS grew ${Math.round(peak - before)} MiB for 50 heads`);

    // Row 2: idle sockets, half-sent heads and half-sent bodies are closed by the timeouts;
    // past max_connections new ones get 503 before descriptors run out.
    const sockets: Deno.Conn[] = [];
    for (let i = 0; i < 150; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: cfg.port });
      sockets.push(c);
      if (i % 3 === 1) await c.write(enc.encode("POST /v1/chat/completions HTTP/1.1\r\nHo"));
      if (i % 3 === 2) {
        await c.write(enc.encode(
          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{",
        ));
      }
    }
    const answers = await Promise.all(sockets.map(async (c) => {
      const buf = new Uint8Array(4096);
      let text = "";
      const timer = setTimeout(() => c.close(), 8_000);
      try {
        for (let i = 0; i < 100; i++) {
          const n = await c.read(buf);
          if (n === null) return { text, closed: true };
          text += dec.decode(buf.subarray(0, n));
        }
      } catch {
        return { text, closed: false };
      } finally {
        clearTimeout(timer);
      }
      return { text, closed: false };
    }));
    for (const c of sockets) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    assert.ok(answers.every((a) => a.closed), "every slow or silent connection was closed");
    const refused = answers.filter((a) => a.text.startsWith("HTTP/1.1 503")).length;
    assert.ok(refused >= 25, `connections past the cap got 503 (${refused})`);

    const m = await metrics(labmand.adminUrl!);
    assert.ok(metricSum(m, "labman_proxy_rejected_total", { reason: "connection_cap" }) >= 25);
    assert.ok(metricSum(m, "labman_proxy_rejected_total", { reason: "head_timeout" }) >= 1);
    assert.ok(metricSum(m, "labman_proxy_rejected_total", { reason: "body_timeout" }) >= 50);
    // Still serving.
    const models = await fetch(`${labmand.proxyUrl}/models`);
    assert.equal(models.status, 200);
    await models.body?.cancel();
  } finally {
    await leaky.server.shutdown();
  }
});

Deno.test("hostile: out of descriptors degrades (accept backs off) and recovers; the daemon lives", async () => {
  const leaky = leakyEndpoint();
  const cfg = await writeConfig(`header_timeout_ms = 1500
client_idle_timeout_ms = 1500
max_connections = 5000
shutdown_grace_ms = 1000

[health]
interval_s = 10

[[endpoints]]
name = "leaky"
base_url = "${leaky.url}"
`);
  await using labmand = await startLabmand(cfg.path, {
    wrap: ["prlimit", "--nofile=400:400", "--"],
    timeoutMs: 30_000,
  });
  const sockets: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 420; i++) {
      sockets.push(await Deno.connect({ hostname: "127.0.0.1", port: cfg.port }));
    }
    await until(
      async () => {
        const m = await metrics(labmand.adminUrl!).catch(() => "");
        return metricSum(m, "labman_proxy_accept_errors_total") > 0;
      },
      "accept errors counted",
      30_000,
    );
    // The idle connections stay open on our side: the head timeout frees the daemon's
    // descriptors, and the proxy and the admin listener serve again.
    await until(
      async () => {
        const res = await fetch(`${labmand.proxyUrl}/models`, {
          signal: AbortSignal.timeout(3_000),
        }).catch(() => null);
        await res?.body?.cancel();
        return res?.status === 200;
      },
      "the proxy serving again",
      20_000,
    );
    const after = await metrics(labmand.adminUrl!);
    assert.ok(metricSum(after, "labman_proxy_accept_errors_total") > 0, "admin still answers");
    assert.equal(metricSum(after, "labman_dataplane_restarts_total"), 0, "the Worker never died");
    assert.equal(
      labmand.logs.some((l) => String(l.level).toLowerCase() === "fatal"),
      false,
      "no FATAL",
    );
    assert.equal(
      labmand.logs.some((l) => String(l.message).includes("data plane failed")),
      false,
    );
  } finally {
    for (const c of sockets) c.close();
    await leaky.server.shutdown();
  }
});

Deno.test("hostile: 100,000 distinct model names leave metric series and RSS flat", async () => {
  const leaky = leakyEndpoint();
  const cfg = await writeConfig(`[health]
interval_s = 10

[[endpoints]]
name = "leaky"
base_url = "${leaky.url}"
`);
  await using labmand = await startLabmand(cfg.path);
  try {
    const pid = labmand.child.pid;
    const url = `${labmand.proxyUrl}/chat/completions`;
    const send = async (model: string) => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [] }),
      });
      await res.body?.cancel();
      return res.status;
    };
    // Warm-up, so the baseline includes the code paths.
    for (let i = 0; i < 2_000; i++) assert.equal(await send(`warm-${i}`), 404);
    const before = await rssMiB(pid);
    const seriesBefore = (await metrics(labmand.adminUrl!)).split("\n").length;
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < 100_000) {
        const i = next++;
        // A few huge names among many short ones.
        const name = i % 10_000 === 0 ? `big-${i}-${"m".repeat(1024 * 1024)}` : `probe-${i}`;
        assert.equal(await send(name), 404);
      }
    }));
    const after = await rssMiB(pid);
    const text = await metrics(labmand.adminUrl!);
    assert.equal(text.split("\n").length, seriesBefore, "no new series");
    assert.ok(!text.includes("probe-"), "client model names are not labels");
    assert.equal(metricSum(text, "labman_proxy_requests_total", { model: "unknown" }), 102_000);
    assert.ok(after - before < 100, `RSS grew ${Math.round(after - before)} MiB`);
  } finally {
    await leaky.server.shutdown();
  }
});

Deno.test("hostile: nothing of the LAN leaves the node (errors, headers, bodies); truthful framing", async () => {
  const leaky = leakyEndpoint();
  const cut = truncatingEndpoint();
  const gone = await startMockLlm({ models: ["gone-model"] });
  const cfg = await writeConfig(`max_body_bytes = 1048576
max_body_bytes_in_flight = 1048576
retry_connect_failures = false

[health]
interval_s = 60

[[endpoints]]
name = "leaky"
base_url = "${leaky.url}"

[[endpoints]]
name = "cut"
base_url = "${cut.origin}/v1"

[[endpoints]]
name = "gone"
base_url = "${gone.url}"
`);
  await using labmand = await startLabmand(cfg.path);
  let goneClosed = false;
  try {
    await until(async () => {
      const res = await fetch(`${labmand.proxyUrl}/models`);
      const ids = (await res.json()).data.map((m: { id: string }) => m.id);
      return ids.includes("gone-model") && ids.includes("cut") && ids.includes("leaky");
    }, "every endpoint healthy");
    const goneOrigin = gone.url.replace(/\/v1$/, "");
    await gone.close();
    goneClosed = true;
    const chat = (model: string, extra = "") =>
      fetch(`${labmand.proxyUrl}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [], note: extra }),
      });

    // Row 4: the endpoint is down: 502 naming it by name only.
    const down = await chat("gone-model");
    const downText = await down.text();
    assert.equal(down.status, 502);
    assert.match(JSON.parse(downText).error.message, /"gone"/);
    for (const leak of [goneOrigin, String(new URL(goneOrigin).port), ...LAN_LEAKS]) {
      assert.ok(!downText.includes(leak), `${leak} in ${downText}`);
    }
    // ... while the operator's log keeps the detail.
    await labmand.waitForLog((l) => JSON.stringify(l).includes(goneOrigin));

    // Row 5: upstream headers and error bodies are filtered.
    const ok = await chat("leaky");
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    for (const name of ["server", "set-cookie", "x-internal-ip", "location"]) {
      assert.equal(ok.headers.get(name), null, name);
    }
    assert.equal(ok.headers.get("openai-processing-ms"), "3");
    const failed = await chat("leaky", "fail");
    const failedText = await failed.text();
    assert.equal(failed.status, 500);
    assert.equal(
      JSON.parse(failedText).error.message,
      'Endpoint "leaky" answered 500 Internal Server Error',
    );
    for (const leak of LAN_LEAKS) assert.ok(!failedText.includes(leak), `${leak} in ${failedText}`);
    assert.equal(failed.headers.get("server"), null);
    await labmand.waitForLog((l) => JSON.stringify(l).includes("192.168.7.42:5432"));

    // Row 10: a close-delimited stream cut mid-event is an aborted stream, not a clean end.
    const stream = await chat("cut");
    assert.equal(stream.status, 200);
    await assert.rejects(stream.text(), "the client sees the stream abort");

    // Row 9: a malformed chunked body (200 KB chunk extension) answers 400, never 499.
    const ext = "a".repeat(200 * 1024);
    const malformed = await raw(
      cfg.port,
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" +
        `transfer-encoding: chunked\r\n\r\n5;${ext}\r\n{"mod\r\n0\r\n\r\n`,
    );
    assert.match(malformed.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(malformed.text, /malformed message framing/);
    // An invalid chunk-size line breaks the connection inside Deno's HTTP server, which closes
    // it without an answer: still never a made-up status.
    const truncatedChunk = await raw(
      cfg.port,
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" +
        `transfer-encoding: chunked\r\n\r\nzz\r\n{"model":"leaky"}\r\n0\r\n\r\n`,
    );
    assert.ok(truncatedChunk.closed);
    assert.ok(
      truncatedChunk.text === "" || truncatedChunk.text.startsWith("HTTP/1.1 400 "),
      truncatedChunk.text.slice(0, 80),
    );

    // Row 6: one budget for all bodies in flight: 503 + Retry-After past it.
    const big = JSON.stringify({ model: "leaky", note: "slow", pad: "p".repeat(700_000) });
    const rssBefore = await rssMiB(labmand.child.pid);
    const uploads = await Promise.all(Array.from({ length: 40 }, async () => {
      const res = await fetch(`${labmand.proxyUrl}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: big,
      });
      await res.body?.cancel();
      return { status: res.status, retryAfter: res.headers.get("retry-after") };
    }));
    const refused = uploads.filter((u) => u.status === 503);
    assert.ok(refused.length >= 1, JSON.stringify(uploads));
    assert.ok(refused.every((u) => u.retryAfter === "1"));
    assert.ok(uploads.some((u) => u.status === 200));
    const rssGrowth = (await rssMiB(labmand.child.pid)) - rssBefore;
    assert.ok(rssGrowth < 100, `40 parallel uploads grew RSS by ${Math.round(rssGrowth)} MiB`);
  } finally {
    if (!goneClosed) await gone.close();
    await leaky.server.shutdown();
    await cut.close();
  }
});

Deno.test("hostile: client disconnects are cancellations logged once with the request id, never unhandled errors", async () => {
  const slow = await startMockLlm({ models: ["m"], mode: { tokens: 50, tokenDelayMs: 100 } });
  const cfg = await writeConfig(`[health]
interval_s = 10

[[endpoints]]
name = "slow"
base_url = "${slow.url}"
`);
  await Deno.writeTextFile(
    cfg.path,
    (await Deno.readTextFile(cfg.path)).replace('level = "info"', 'level = "debug"'),
  );
  await using labmand = await startLabmand(cfg.path);
  try {
    const body = JSON.stringify({ model: "m", stream: true, messages: HI });
    const head = (id: string, length: number) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-request-id: ${id}\r\n` +
      `content-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
    // Mid-stream: read the first event, then hang up.
    const mid = await Deno.connect({ hostname: "127.0.0.1", port: cfg.port });
    await mid.write(enc.encode(head("gone-mid-stream", body.length) + body));
    const buf = new Uint8Array(4096);
    let seen = "";
    for (let i = 0; i < 100 && !seen.includes("data:"); i++) {
      const n = await mid.read(buf);
      if (n === null) break;
      seen += dec.decode(buf.subarray(0, n));
    }
    assert.match(seen, /data:/);
    mid.close();
    // Mid-upload: half the body, then hang up.
    const upload = await Deno.connect({ hostname: "127.0.0.1", port: cfg.port });
    await upload.write(enc.encode(head("gone-mid-upload", body.length) + body.slice(0, 10)));
    await new Promise((r) => setTimeout(r, 100));
    upload.close();
    await until(async () => {
      const m = await metrics(labmand.adminUrl!);
      return metricSum(m, "labman_proxy_cancellations_total") >= 2;
    }, "both disconnects counted");
    const lines = (id: string) =>
      labmand.logs.filter((l) =>
        JSON.stringify(l.properties ?? {}).includes(id) &&
        String(l.message).startsWith("Client disconnected")
      );
    assert.equal(lines("gone-mid-stream").length, 1);
    assert.equal(lines("gone-mid-upload").length, 1);
    assert.equal(
      labmand.logs.filter((l) => String(l.level).toLowerCase() === "error").length,
      0,
      "no error lines",
    );
    assert.ok(!labmand.logs.some((l) => String(l.message).includes("Unhandled error")));
  } finally {
    await slow.close();
  }
});

Deno.test("hostile: max_concurrent and counters hold across a reload that hands over to a new Worker", async () => {
  const slow: MockLlm = await startMockLlm({
    models: ["m"],
    mode: { tokens: 12, tokenDelayMs: 250 },
  });
  const extra = await startMockLlm({ models: ["other"] });
  const cfg = await writeConfig(`queue_max = 16
queue_timeout_ms = 20000
shutdown_grace_ms = 20000

[health]
interval_s = 1
timeout_ms = 500

[[endpoints]]
name = "slow"
base_url = "${slow.url}"
max_concurrent = 4
`);
  await using labmand: LabmandProcess = await startLabmand(cfg.path);
  let peak = 0;
  const sampler = setInterval(() => peak = Math.max(peak, slow.stats().openStreams), 20);
  try {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${labmand.proxyUrl}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages: HI, max_tokens: 1 }),
      });
      assert.equal(res.status, 200, await res.text());
    }
    const countedBefore = metricSum(
      await metrics(labmand.adminUrl!),
      "labman_proxy_requests_total",
    );
    assert.equal(countedBefore, 5);
    const stream = () =>
      fetch(`${labmand.proxyUrl}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", stream: true, messages: HI }),
      }).then((r) => r.text());
    const first = Array.from({ length: 4 }, stream);
    await until(() => slow.stats().openStreams === 4, "4 streams open");
    // A new endpoint host needs wider permissions: a successor Worker takes over.
    await Deno.writeTextFile(
      cfg.path,
      (await Deno.readTextFile(cfg.path)) +
        `\n[[endpoints]]\nname = "extra"\nbase_url = "${extra.url}"\n`,
    );
    labmand.signal("SIGHUP");
    await labmand.waitForLog((l) => String(l.message).startsWith("reloaded"), 20_000);
    const second = Array.from({ length: 4 }, stream);
    const texts = await Promise.all([...first, ...second]);
    assert.ok(texts.every((t) => t.includes("[DONE]")), "all 8 streams completed");
    assert.ok(peak <= 4, `the endpoint saw ${peak} concurrent streams (max_concurrent = 4)`);
    const m = await metrics(labmand.adminUrl!);
    assert.equal(metricSum(m, "labman_proxy_requests_total"), 13, "counters did not reset");
    assert.equal(metricSum(m, "labman_dataplane_restarts_total"), 0);
  } finally {
    clearInterval(sampler);
    await slow.close();
    await extra.close();
  }
});

Deno.test("hostile: config rejects unusable timeouts and endpoint addresses, every problem in one run", async () => {
  const dir = await makeTestDir({ prefix: "labman-hostile-cfg-" });
  const path = `${dir}/labman.toml`;
  const urls = [
    "ftp://a",
    "http://169.254.169.254/v1",
    "http://0.0.0.0:8000",
    "http://255.255.255.255:8000",
    "http://[::]:8000",
    "http://224.0.0.1:8000",
    "http://x/v2",
    "http://u:p@host/v1",
  ];
  await Deno.writeTextFile(
    path,
    `[wireguard]\nmode = "off"\n[proxy]\nqueue_timeout_ms = 3000000000\n` +
      `[[endpoints]]\nname = "bad name!"\nbase_url = "http://127.0.0.1:1/v1"\n` +
      urls.map((u, i) => `[[endpoints]]\nname = "e${i}"\nbase_url = "${u}"\n`).join(""),
  );
  const { taskFlags } = await import("./helpers/labmand_process.ts");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...await taskFlags("labman"), "labman/main.ts", "config", "check", "-c", path],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = dec.decode(out.stderr);
  assert.equal(out.code, 1, stderr);
  assert.match(stderr, /proxy\.queue_timeout_ms: must be ≤ 2147483647/);
  assert.match(stderr, /endpoints\[0\]\.name/);
  for (let i = 1; i <= urls.length; i++) {
    assert.match(stderr, new RegExp(`endpoints\\[${i}\\]\\.base_url`), `endpoint ${i}`);
  }
  assert.match(stderr, /10 errors/);
  assert.ok(!stderr.includes("    at "), "no stack trace");
});
