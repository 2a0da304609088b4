/**
 * Per-request floors for the proxy, measured next to labmand in the same run: the least a
 * passthrough built on each server/client pair can cost, with none of labmand's routing,
 * allowlists, limits, metrics or logging. Prints `listening on <port>` once bound.
 *
 * - `serve-fetch`: `Deno.serve` + `fetch` (Deno's pooled client), the textbook Deno proxy.
 * - `serve-pool`: `Deno.serve` + labmand's own keep-alive client (`UpstreamPool`), i.e. labmand
 *   without its handler and listener: what the handler and listener add is labmand − this.
 * - `raw`: a minimal HTTP/1.1 server on `Deno.listen` (Content-Length requests only, no
 *   limits, no hostile-input handling) + `UpstreamPool`, writing each upstream piece straight to
 *   the client socket. An upper bound of what a raw server could win, not a server to ship.
 *
 * ```sh
 * deno run -A bench/_passthrough_floor.ts --mode serve-pool --upstream http://127.0.0.1:8080
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UpstreamPool } from "../lib/proxy/upstream_pool.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mode: { type: "string", default: "serve-pool" },
    upstream: { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (values.upstream === undefined) throw new TypeError("Cannot start: --upstream is required");
const origin = new URL(values.upstream).origin;
const port = Number(values.port);
const onListen = ({ port }: { port: number }) => console.log(`listening on ${port}`);

/** Only what an OpenAI client needs back; the same idea as labmand's allowlist, minimal. */
const KEEP = new Set(["content-type", "content-length", "cache-control"]);
function pickFields(fields: readonly (readonly [string, string])[]): [string, string][] {
  const out: [string, string][] = [];
  for (const f of fields) if (KEEP.has(f[0].toLowerCase())) out.push(f as [string, string]);
  return out;
}

if (values.mode === "serve-fetch") {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 4096 });
  Deno.serve({ hostname: "127.0.0.1", port, onListen }, async (req) => {
    const url = new URL(req.url);
    const res = await fetch(origin + url.pathname + url.search, {
      method: req.method,
      headers: { "content-type": req.headers.get("content-type") ?? "application/json" },
      body: await req.bytes(),
      client,
    });
    const headers = new Headers();
    for (const name of KEEP) {
      const v = res.headers.get(name);
      if (v !== null) headers.set(name, v);
    }
    return new Response(res.body, { status: res.status, headers });
  });
} else if (values.mode === "serve-pool") {
  const pool = new UpstreamPool(origin, { maxConnections: 4096 });
  Deno.serve({ hostname: "127.0.0.1", port, onListen }, async (req) => {
    const url = req.url;
    const path = url.slice(url.indexOf("/", url.indexOf("://") + 3));
    const res = await pool.request({
      method: req.method,
      url: origin + path,
      headers: [["content-type", req.headers.get("content-type") ?? "application/json"]],
      body: await req.bytes(),
    });
    const body = (res.bytes as Uint8Array<ArrayBuffer> | undefined) ?? res.body;
    return new Response(body, { status: res.status, headers: pickFields(res.fields ?? []) });
  });
} else if (values.mode === "raw") {
  serveRaw(new UpstreamPool(origin, { maxConnections: 4096 }));
} else {
  throw new TypeError(`Cannot start: unknown --mode "${values.mode}"`);
}

function serveRaw(pool: UpstreamPool): void {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  onListen(listener.addr as Deno.NetAddr);
  const encoder = new TextEncoder();
  const CRLF2 = encoder.encode("\r\n");
  const LAST = encoder.encode("0\r\n\r\n");
  (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      void serveConn(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })();

  async function serveConn(conn: Deno.TcpConn): Promise<void> {
    let buf = new Uint8Array(16 * 1024);
    let end = 0;
    for (;;) {
      // Head: up to the blank line. Only what this floor needs is parsed.
      let headEnd = -1;
      for (;;) {
        headEnd = indexOfBlank(buf, end);
        if (headEnd !== -1) break;
        if (end === buf.length) return;
        const n = await conn.read(buf.subarray(end));
        if (n === null) return;
        end += n;
      }
      const head = new TextDecoder().decode(buf.subarray(0, headEnd));
      const lines = head.split("\r\n");
      const [method, target] = lines[0].split(" ");
      let length = 0;
      let contentType = "application/json";
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(":");
        const name = lines[i].slice(0, colon).toLowerCase();
        if (name === "content-length") length = Number(lines[i].slice(colon + 1).trim());
        else if (name === "content-type") contentType = lines[i].slice(colon + 1).trim();
      }
      const bodyStart = headEnd + 4;
      while (end < bodyStart + length) {
        if (end === buf.length) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf);
          buf = bigger;
        }
        const n = await conn.read(buf.subarray(end));
        if (n === null) return;
        end += n;
      }
      const body = buf.slice(bodyStart, bodyStart + length);
      buf.copyWithin(0, bodyStart + length, end);
      end -= bodyStart + length;
      const res = await pool.request({
        method,
        url: origin + target,
        headers: [["content-type", contentType]],
        body,
      });
      let out = `HTTP/1.1 ${res.status} OK\r\n`;
      for (const [n, v] of pickFields(res.fields ?? [])) {
        if (n.toLowerCase() !== "content-length") out += `${n}: ${v}\r\n`;
      }
      if (res.bytes !== undefined) {
        out += `content-length: ${res.bytes.length}\r\n\r\n`;
        const h = encoder.encode(out);
        const all = new Uint8Array(h.length + res.bytes.length);
        all.set(h);
        all.set(res.bytes, h.length);
        await writeAll(conn, all);
        continue;
      }
      await writeAll(conn, encoder.encode(out + "transfer-encoding: chunked\r\n\r\n"));
      if (res.body !== null) {
        for await (const piece of res.body) {
          const size = encoder.encode(piece.length.toString(16) + "\r\n");
          const framed = new Uint8Array(size.length + piece.length + 2);
          framed.set(size);
          framed.set(piece, size.length);
          framed.set(CRLF2, size.length + piece.length);
          await writeAll(conn, framed);
        }
      }
      await writeAll(conn, LAST);
    }
  }
}

function indexOfBlank(buf: Uint8Array, end: number): number {
  for (let i = 0; i + 3 < end; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}
