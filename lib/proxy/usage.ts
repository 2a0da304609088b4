/**
 * Token usage of proxied responses, for the relay's `usage_report` (docs/protocol.md §6).
 *
 * The proxy streams bodies through untouched, so usage is read from the **tail** of the body: an
 * OpenAI-compatible answer carries `usage` last (the JSON object's last member; in a stream, the
 * final chunk before `data: [DONE]` when the client asked for `stream_options.include_usage`).
 * Only the last {@linkcode TAIL_BYTES} bytes are kept per response, so memory stays bounded
 * whatever the endpoint sends.
 *
 * @module
 */

/** Bytes of a body's end kept to find its `usage` object. */
export const TAIL_BYTES = 8192;

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const USAGE_KEY = /"usage"\s*:\s*\{/g;

function count(v: unknown): number | null {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/**
 * The last well-formed `usage` object in `tail`, or null. Pure; never throws. A quote inside a
 * JSON string is escaped, so a raw `"usage":{` can only be a key.
 */
export function extractUsage(tail: string): TokenUsage | null {
  // The last match wins; walk back through earlier ones if it is truncated or malformed.
  const starts: number[] = [];
  for (const m of tail.matchAll(USAGE_KEY)) starts.push(m.index! + m[0].length - 1);
  for (let i = starts.length - 1; i >= 0; i--) {
    const obj = objectAt(tail, starts[i]!);
    if (obj === null) continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(obj);
    } catch {
      continue;
    }
    const prompt = count(parsed.prompt_tokens) ?? 0;
    const completion = count(parsed.completion_tokens) ?? 0;
    const total = count(parsed.total_tokens) ?? prompt + completion;
    if (parsed.prompt_tokens === undefined && parsed.total_tokens === undefined) continue;
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
  }
  return null;
}

/** The balanced `{…}` starting at `open`, honouring strings; null when cut off. */
function objectAt(text: string, open: number): string | null {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length && i - open < 4096; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped char
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return text.slice(open, i + 1);
  }
  return null;
}

/** The tail of a complete body as text. */
export function usageTail(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes.subarray(Math.max(0, bytes.byteLength - TAIL_BYTES)));
}

/** Keeps the last `max` bytes written to it. */
export class TailBuffer {
  readonly #buf: Uint8Array;
  #len = 0;
  constructor(readonly max: number = TAIL_BYTES) {
    this.#buf = new Uint8Array(max);
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength >= this.max) {
      this.#buf.set(chunk.subarray(chunk.byteLength - this.max));
      this.#len = this.max;
      return;
    }
    const keep = Math.min(this.#len, this.max - chunk.byteLength);
    this.#buf.copyWithin(0, this.#len - keep, this.#len);
    this.#buf.set(chunk, keep);
    this.#len = keep + chunk.byteLength;
  }

  text(): string {
    // A multi-byte character cut at the start decodes to U+FFFD, which no JSON key contains.
    return new TextDecoder().decode(this.#buf.subarray(0, this.#len));
  }
}

/**
 * Passes `body` through unchanged and calls `onEnd` with the usage found in its tail once it
 * ended normally (not on cancel or error: a half-sent answer is not billed here).
 */
export function tapUsage(
  body: ReadableStream<Uint8Array>,
  onEnd: (usage: TokenUsage | null) => void,
): ReadableStream<Uint8Array> {
  const tail = new TailBuffer();
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        tail.push(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        onEnd(extractUsage(tail.text()));
      },
    }),
  );
}

export interface UsageKey {
  tenant: string;
  slug: string;
  endpoint: string;
  model: string;
}

export interface UsageRow extends UsageKey, TokenUsage {
  requests: number;
}

/**
 * Usage per (tenant, slug, endpoint, model) since the last {@linkcode UsageLedger.take}. At most
 * `maxKeys` rows: slugs are control-plane input, so further keys fold into one `(other)` row.
 */
export class UsageLedger {
  #rows = new Map<string, UsageRow>();
  constructor(readonly maxKeys = 10_000) {}

  add(key: UsageKey, usage: TokenUsage | null): void {
    let k = `${key.tenant}\u0000${key.slug}\u0000${key.endpoint}\u0000${key.model}`;
    let row = this.#rows.get(k);
    if (!row && this.#rows.size >= this.maxKeys) {
      k = "\u0000other";
      row = this.#rows.get(k);
      key = { tenant: "(other)", slug: "(other)", endpoint: "(other)", model: "(other)" };
    }
    if (!row) {
      row = { ...key, requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
      this.#rows.set(k, row);
    }
    row.requests++;
    if (usage) {
      row.prompt_tokens += usage.prompt_tokens;
      row.completion_tokens += usage.completion_tokens;
      row.total_tokens += usage.total_tokens;
    }
  }

  /** The rows so far; starts a new period. */
  take(): UsageRow[] {
    const rows = [...this.#rows.values()];
    this.#rows = new Map();
    return rows;
  }
}

/** Rows of several ledgers (Workers during a hand-over) summed per key. */
export function mergeUsageRows(rows: UsageRow[]): UsageRow[] {
  const byKey = new Map<string, UsageRow>();
  for (const r of rows) {
    const k = `${r.tenant}\u0000${r.slug}\u0000${r.endpoint}\u0000${r.model}`;
    const seen = byKey.get(k);
    if (seen === undefined) {
      byKey.set(k, { ...r });
      continue;
    }
    seen.requests += r.requests;
    seen.prompt_tokens += r.prompt_tokens;
    seen.completion_tokens += r.completion_tokens;
    seen.total_tokens += r.total_tokens;
  }
  return [...byKey.values()];
}
