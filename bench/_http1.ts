/**
 * A minimal HTTP/1.1 response reader and SSE event splitter for the benchmark's own clients.
 *
 * The bench needs what `fetch` hides: the arrival time of every socket read and how many SSE
 * events each read carried (a proxy that coalesces events shows up as reads with more than
 * one). So it speaks HTTP/1.1 over a raw `Deno.connect` socket and parses just enough:
 * status line, `content-length` or `transfer-encoding: chunked`, and `connection: close`.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();

/** The head of a response, as far as the bench cares. */
export interface ResponseHead {
  status: number;
  /** The server will close the connection after this response. */
  close: boolean;
}

/** Receives body bytes as they are de-framed. */
export type BodySink = (bytes: Uint8Array) => void;

type State = "head" | "length" | "size" | "data" | "dataEnd" | "trailer" | "done";

/**
 * Incremental parser for one response at a time; `reset()` before the next response on the
 * same keep-alive connection. Bytes after the end of a response are an error (the bench never
 * pipelines).
 */
export class ResponseReader {
  #buf = new Uint8Array(64 * 1024);
  #len = 0;
  #state: State = "head";
  #remaining = 0;
  head: ResponseHead | null = null;
  /** Body bytes seen for the current response. */
  bodyBytes = 0;
  #sink: BodySink | null;

  constructor(sink: BodySink | null = null) {
    this.#sink = sink;
  }

  /** True once the whole current response (head, body, trailers) was read. */
  get done(): boolean {
    return this.#state === "done";
  }

  reset(): void {
    this.#state = "head";
    this.#len = 0;
    this.#remaining = 0;
    this.head = null;
    this.bodyBytes = 0;
  }

  /** Feeds bytes read from the socket. @throws {Error} on a malformed response. */
  feed(bytes: Uint8Array): void {
    this.#append(bytes);
    let pos = 0;
    const buf = this.#buf;
    for (;;) {
      const avail = this.#len - pos;
      if (this.#state === "head") {
        const end = indexOfCrlfCrlf(buf, pos, this.#len);
        if (end < 0) break;
        this.head = parseHead(latin1.decode(buf.subarray(pos, end)), this);
        pos = end + 4;
        continue;
      }
      if (this.#state === "length") {
        const take = Math.min(avail, this.#remaining);
        if (take > 0) this.#emit(buf.subarray(pos, pos + take));
        pos += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = "done";
        break;
      }
      if (this.#state === "size") {
        const eol = indexOfCrlf(buf, pos, this.#len);
        if (eol < 0) break;
        const line = latin1.decode(buf.subarray(pos, eol));
        const size = parseInt(line.split(";")[0].trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size line "${line}"`);
        pos = eol + 2;
        this.#remaining = size;
        this.#state = size === 0 ? "trailer" : "data";
        continue;
      }
      if (this.#state === "data") {
        if (avail === 0) break;
        const take = Math.min(avail, this.#remaining);
        this.#emit(buf.subarray(pos, pos + take));
        pos += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = "dataEnd";
        continue;
      }
      if (this.#state === "dataEnd") {
        if (avail < 2) break;
        if (buf[pos] !== CR || buf[pos + 1] !== LF) throw new Error("chunk not followed by CRLF");
        pos += 2;
        this.#state = "size";
        continue;
      }
      if (this.#state === "trailer") {
        const eol = indexOfCrlf(buf, pos, this.#len);
        if (eol < 0) break;
        const empty = eol === pos;
        pos = eol + 2;
        if (empty) this.#state = "done";
        continue;
      }
      break; // done
    }
    if (this.#state === "done" && pos < this.#len) {
      throw new Error(`${this.#len - pos} unexpected bytes after the response`);
    }
    // Keep only the unparsed tail.
    if (pos > 0) {
      buf.copyWithin(0, pos, this.#len);
      this.#len -= pos;
    }
  }

  /** Called by parseHead to set the body framing. */
  frame(chunked: boolean, length: number | null, status: number): void {
    if (chunked) this.#state = "size";
    else if (length !== null && length > 0) {
      this.#state = "length";
      this.#remaining = length;
    } else if (length === 0 || status === 204 || status === 304) this.#state = "done";
    else throw new Error("response without content-length or chunked framing is not supported");
  }

  #emit(bytes: Uint8Array): void {
    this.bodyBytes += bytes.length;
    this.#sink?.(bytes);
  }

  #append(bytes: Uint8Array): void {
    if (this.#len + bytes.length > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + bytes.length));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }
}

function parseHead(text: string, reader: ResponseReader): ResponseHead {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`bad status line "${lines[0]}"`);
  const status = Number(m[1]);
  let chunked = false;
  let length: number | null = null;
  let close = lines[0].startsWith("HTTP/1.0");
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon < 0) continue;
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    const value = lines[i].slice(colon + 1).trim().toLowerCase();
    if (name === "content-length") length = Number(value);
    else if (name === "transfer-encoding") chunked = value.includes("chunked");
    else if (name === "connection") close = value.includes("close");
  }
  reader.frame(chunked, length, status);
  return { status, close };
}

function indexOfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 1 < to; i++) if (buf[i] === CR && buf[i + 1] === LF) return i;
  return -1;
}

function indexOfCrlfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (buf[i] === CR && buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i;
  }
  return -1;
}

/** A prebuilt `POST` request with a JSON body. */
export function postRequest(host: string, path: string, body: string): Uint8Array {
  const bytes = encoder.encode(body);
  const head = `POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\n` +
    `content-length: ${bytes.length}\r\nauthorization: Bearer bench\r\n\r\n`;
  const out = new Uint8Array(head.length + bytes.length);
  out.set(encoder.encode(head));
  out.set(bytes, head.length);
  return out;
}

/** One SSE event as the bench sees it. */
export interface SseEvent {
  /** `mock_index` of the event, or -1 for `[DONE]` and unstamped events. */
  index: number;
  /** `mock_sent_at_ms` (epoch ms, sub-ms precision), or NaN. */
  sentAtMs: number;
  done: boolean;
}

const INDEX = /"mock_index":(\d+)/;
const SENT_AT = /"mock_sent_at_ms":([0-9.e+]+)/;

/**
 * Splits a de-framed SSE body into events (`\n\n`-terminated) and reads the mock's stamps with
 * a regex rather than JSON.parse, so the client stays cheap with 1,000 streams.
 */
export class SseSplitter {
  #decoder = new TextDecoder();
  #text = "";

  /** Appends body bytes and returns the events they completed. */
  push(bytes: Uint8Array): SseEvent[] {
    this.#text += this.#decoder.decode(bytes, { stream: true });
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const end = this.#text.indexOf("\n\n", start);
      if (end < 0) break;
      const raw = this.#text.slice(start, end);
      start = end + 2;
      if (raw.includes("[DONE]")) {
        events.push({ index: -1, sentAtMs: NaN, done: true });
        continue;
      }
      const index = INDEX.exec(raw);
      const sent = SENT_AT.exec(raw);
      events.push({
        index: index ? Number(index[1]) : -1,
        sentAtMs: sent ? Number(sent[1]) : NaN,
        done: false,
      });
    }
    if (start > 0) this.#text = this.#text.slice(start);
    return events;
  }

  reset(): void {
    this.#decoder = new TextDecoder();
    this.#text = "";
  }
}
