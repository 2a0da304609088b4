/**
 * Pure HTTP/1.1 codec pieces for the upstream client (RFC 9112): request head encoding, response
 * head parsing and chunk-size lines. Byte-oriented and regex-free because it runs per request.
 *
 * @module
 */

/** Malformed upstream HTTP. The client maps it to an `UpstreamError` of kind `protocol`. */
export class HttpProtocolError extends Error {
  override name = "HttpProtocolError";
  /** What is wrong with the bytes, without the house prefix (wrapped by the pool's errors). */
  readonly reason: string;
  constructor(reason: string) {
    super(`Cannot parse the upstream's HTTP/1.1 response: ${reason}`);
    this.reason = reason;
  }
}

const LF = 10;
const CR = 13;

/** Request headers the client owns (framing, routing) or that must not cross a hop. */
const CLIENT_OWNED = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "expect",
]);

/** Header fields as a `Headers` object or as `[name, value]` pairs (cheaper: no sort/combine). */
export type HeaderFields = Headers | readonly (readonly [string, string])[];

/**
 * Builds the request head. `Headers` values are validated by the platform; pairs are checked
 * here for CR/LF/NUL so nothing can smuggle a header or a second request.
 */
export function encodeRequestHead(
  method: string,
  path: string,
  host: string,
  headers: HeaderFields,
  bodyLength: number | null,
): string {
  const checked = !(headers instanceof Headers);
  let head = method + " " + path + " HTTP/1.1\r\nhost: " + host + "\r\n";
  for (const [rawName, value] of headers) {
    const name = checked ? rawName.toLowerCase() : rawName;
    if (CLIENT_OWNED.has(name)) continue;
    if (checked && (!isToken(name) || !isFieldValue(value))) {
      throw new TypeError(`Cannot send header ${JSON.stringify(name)}: invalid name or value`);
    }
    head += name + ": " + value + "\r\n";
  }
  if (bodyLength !== null) head += "content-length: " + bodyLength + "\r\n";
  return head + "\r\n";
}

/** Writes a Latin-1 string as bytes (header values are ByteStrings, not UTF-8). */
export function writeLatin1(text: string, out: Uint8Array, offset: number): number {
  const n = text.length;
  for (let i = 0; i < n; i++) out[offset + i] = text.charCodeAt(i);
  return offset + n;
}

const asciiDecoder = new TextDecoder();

function readLatin1(buf: Uint8Array, start: number, end: number): string {
  // Heads are ASCII in practice, and then UTF-8 decoding gives the same string without the
  // argument list `fromCharCode.apply` builds (8 bytes per input byte).
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return asciiDecoder.decode(buf.subarray(start, end));
  let out = "";
  // fromCharCode.apply takes the bytes as arguments: stay well under the argument-count limit.
  for (let i = start; i < end; i += 8192) {
    const stop = Math.min(end, i + 8192);
    out += String.fromCharCode.apply(null, buf.subarray(i, stop) as unknown as number[]);
  }
  return out;
}

/**
 * Index just past the blank line ending a head in `buf[from, to)`, or -1. Accepts CRLF and bare
 * LF line ends (RFC 9112 §2.2 lets recipients do so).
 */
export function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  // A bounded loop, not `buf.indexOf`: that would run on into stale bytes past `to`.
  for (let i = from; i < to; i++) {
    if (buf[i] !== LF) continue;
    const next = i + 1;
    if (next < to && buf[next] === LF) return next + 1;
    if (next + 1 < to && buf[next] === CR && buf[next + 1] === LF) return next + 2;
  }
  return -1;
}

export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Built on first use from `fields` (constructing `Headers` costs a few µs per response). */
  readonly headers: Headers;
  /** Header fields in arrival order, names as received; validated like `Headers.append`. */
  readonly fields: readonly HeaderField[];
  framing: BodyFraming;
  /** False when the connection cannot carry another request after this response. */
  keepAlive: boolean;
}

/** One response header field: name as received, value with surrounding whitespace removed. */
export type HeaderField = readonly [name: string, value: string];

class ParsedHead implements ResponseHead {
  #headers: Headers | undefined = undefined;
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly fields: readonly HeaderField[],
    readonly framing: BodyFraming,
    readonly keepAlive: boolean,
  ) {}

  get headers(): Headers {
    return this.#headers ??= new Headers(this.fields as [string, string][]);
  }
}

/**
 * Parses a response head (status line + header fields, through the blank line) and decides the
 * body framing per RFC 9112 §6.3.
 */
export function parseResponseHead(
  buf: Uint8Array,
  start: number,
  end: number,
  requestMethod: string,
): ResponseHead {
  const text = readLatin1(buf, start, end);
  let lineEnd = text.indexOf("\n");
  const statusLine = stripCr(text.slice(0, lineEnd));
  if (
    statusLine.length < 12 || !statusLine.startsWith("HTTP/1.") ||
    statusLine.charCodeAt(8) !== 32 || (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)
  ) {
    throw new HttpProtocolError(`malformed status line ${JSON.stringify(statusLine.slice(0, 64))}`);
  }
  const minor = statusLine.charCodeAt(7) - 48;
  const status = digit(statusLine, 9) * 100 + digit(statusLine, 10) * 10 + digit(statusLine, 11);
  if (minor < 0 || minor > 9 || !(status >= 100 && status <= 999)) {
    throw new HttpProtocolError(`malformed status line ${JSON.stringify(statusLine.slice(0, 64))}`);
  }
  const statusText = statusLine.length > 13 ? statusLine.slice(13) : "";

  const fields: HeaderField[] = [];
  let contentLength = -1;
  let transferEncoding: string | null = null;
  let connection: string | null = null;
  let pos = lineEnd + 1;
  while (pos < text.length) {
    lineEnd = text.indexOf("\n", pos);
    if (lineEnd === -1) lineEnd = text.length;
    const line = stripCr(text.slice(pos, lineEnd));
    pos = lineEnd + 1;
    if (line.length === 0) break;
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      throw new HttpProtocolError("obsolete header line folding in response");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpProtocolError(`header line without a name: ${clip(line)}`);
    const name = line.slice(0, colon);
    const last = name.charCodeAt(colon - 1);
    if (last === 32 || last === 9) {
      throw new HttpProtocolError(`whitespace before ':' in header ${clip(name)}`);
    }
    const value = line.slice(colon + 1).trim();
    // The checks `Headers.append` makes (RFC 9110 token name; no NUL, CR or LF in the value),
    // so building `Headers` from these fields later cannot throw.
    if (!isHttpToken(name) || !isHeaderValue(value)) {
      throw new HttpProtocolError(`invalid header ${clip(name)}`);
    }
    fields.push([name, value]);
    // Only three names steer framing; compare lengths first to skip most lowercasing.
    switch (name.length) {
      case 14:
        if (name.toLowerCase() === "content-length") {
          const n = parseContentLength(value);
          if (contentLength !== -1 && contentLength !== n) {
            throw new HttpProtocolError("conflicting Content-Length headers");
          }
          contentLength = n;
        }
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") {
          transferEncoding = transferEncoding === null ? value : transferEncoding + ", " + value;
        }
        break;
      case 10:
        if (name.toLowerCase() === "connection") {
          connection = connection === null ? value : connection + ", " + value;
        }
        break;
    }
  }

  let keepAlive = minor >= 1;
  if (connection !== null) {
    const tokens = connection.toLowerCase();
    if (hasToken(tokens, "close")) keepAlive = false;
    else if (minor === 0 && hasToken(tokens, "keep-alive")) keepAlive = true;
  }

  let framing: BodyFraming;
  if (
    requestMethod === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)
  ) {
    framing = { kind: "none" };
  } else if (transferEncoding !== null) {
    // §6.3: chunked must be the final coding, otherwise the body runs to connection close.
    // With Content-Length also present the message is suspect: never reuse the connection.
    const codings = transferEncoding.toLowerCase();
    const lastComma = codings.lastIndexOf(",");
    const lastCoding = codings.slice(lastComma + 1).trim();
    if (lastCoding === "chunked") {
      framing = { kind: "chunked" };
      if (contentLength !== -1) keepAlive = false;
    } else {
      framing = { kind: "close" };
      keepAlive = false;
    }
  } else if (contentLength !== -1) {
    framing = contentLength === 0 ? { kind: "none" } : { kind: "length", length: contentLength };
  } else {
    framing = { kind: "close" };
    keepAlive = false;
  }
  return new ParsedHead(status, statusText, fields, framing, keepAlive);
}

/**
 * Parses a chunk-size line `buf[start, lineEnd)` (LF excluded, CR tolerated), ignoring chunk
 * extensions after `;`. Returns the size in bytes.
 */
export function parseChunkSize(buf: Uint8Array, start: number, lineEnd: number): number {
  let end = lineEnd;
  if (end > start && buf[end - 1] === CR) end--;
  let size = 0;
  let digits = 0;
  let i = start;
  for (; i < end; i++) {
    const c = buf[i];
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 97 && c <= 102) v = c - 87;
    else if (c >= 65 && c <= 70) v = c - 55;
    else break;
    // 13 hex digits stay below 2^53; real chunks are far smaller.
    if (++digits > 13) throw new HttpProtocolError("chunk size too large");
    size = size * 16 + v;
  }
  if (digits === 0) throw new HttpProtocolError("missing chunk size");
  for (; i < end; i++) {
    const c = buf[i];
    if (c === 59) return size; // ';' starts chunk extensions, ignored (RFC 9112 §7.1.1)
    if (c !== 32 && c !== 9) throw new HttpProtocolError("malformed chunk size line");
  }
  return size;
}

function isToken(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 58) return false; // controls, space, DEL, ':'
  }
  return true;
}

/** tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
const TCHAR = (() => {
  const table = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~") table[c.charCodeAt(0)] = 1;
  for (let c = 48; c <= 57; c++) table[c] = 1;
  for (let c = 65; c <= 90; c++) table[c] = table[c + 32] = 1;
  return table;
})();

function isHttpToken(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}

function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 13 || c === 10 || c === 0 || c > 255) return false;
  }
  return true;
}

function parseContentLength(value: string): number {
  // A list of identical values is allowed (RFC 9110 §8.6); anything else is an error.
  let result = -1;
  for (const part of value.split(",")) {
    const v = part.trim();
    if (v.length === 0 || v.length > 15) throw new HttpProtocolError("invalid Content-Length");
    let n = 0;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i) - 48;
      if (c < 0 || c > 9) throw new HttpProtocolError("invalid Content-Length");
      n = n * 10 + c;
    }
    if (result !== -1 && result !== n) throw new HttpProtocolError("invalid Content-Length");
    result = n;
  }
  return result;
}

function hasToken(list: string, token: string): boolean {
  for (const part of list.split(",")) if (part.trim() === token) return true;
  return false;
}

function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : NaN;
}

function stripCr(line: string): string {
  return line.length > 0 && line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
}

function clip(s: string): string {
  return JSON.stringify(s.length > 64 ? s.slice(0, 64) + "…" : s);
}

/**
 * A body framed by connection close (RFC 9112 §6.3 rule 8) cannot tell a clean end from a cut
 * one. For the two formats the proxy relays, the tail can: an SSE stream ends after a blank line
 * (every event is terminated), and a JSON document ends in `}` or `]`. Tracks the last bytes
 * seen; {@linkcode CloseDelimitedTail.truncated} says why an end looks cut, or null.
 */
export class CloseDelimitedTail {
  #tail = new Uint8Array(0);
  #seen = 0;
  readonly #kind: "sse" | "json" | null;

  constructor(contentType: string | undefined) {
    const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
    this.#kind = type === "text/event-stream"
      ? "sse"
      : type === "application/json" || type.endsWith("+json")
      ? "json"
      : null;
  }

  /** Remembers the last few non-whitespace-relevant bytes of `chunk`. */
  feed(chunk: Uint8Array): void {
    if (this.#kind === null || chunk.length === 0) return;
    this.#seen += chunk.length;
    const keep = 64;
    if (chunk.length >= keep) {
      this.#tail = chunk.slice(chunk.length - keep);
      return;
    }
    const merged = new Uint8Array(Math.min(keep, this.#tail.length + chunk.length));
    const fromTail = merged.length - chunk.length;
    merged.set(this.#tail.subarray(this.#tail.length - fromTail), 0);
    merged.set(chunk, fromTail);
    this.#tail = merged;
  }

  /** Why the body, ended here, is incomplete; null when it may be whole. */
  truncated(): string | null {
    if (this.#kind === null || this.#seen === 0) return null;
    const t = this.#tail;
    if (this.#kind === "sse") {
      const n = t.length;
      const lf = n >= 2 && t[n - 1] === 0x0a && t[n - 2] === 0x0a;
      const crlf = n >= 4 && t[n - 1] === 0x0a && t[n - 2] === 0x0d && t[n - 3] === 0x0a &&
        t[n - 4] === 0x0d;
      const cr = n >= 2 && t[n - 1] === 0x0d && t[n - 2] === 0x0d;
      return lf || crlf || cr ? null : "the connection closed in the middle of an event";
    }
    let i = t.length - 1;
    while (i >= 0 && (t[i] === 0x20 || t[i] === 0x0a || t[i] === 0x0d || t[i] === 0x09)) i--;
    const last = i >= 0 ? t[i] : -1;
    // Every OpenAI answer is a JSON object (or array), so it must end in `}` or `]`.
    if (last === 0x7d || last === 0x5d) return null;
    return "the connection closed in the middle of the JSON document";
  }
}
