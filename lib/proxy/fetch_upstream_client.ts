/**
 * {@linkcode FetchUpstreamClient}: the `fetch` fallback for https endpoints (TLS), with a
 * dedicated `Deno.createHttpClient`. Slower than {@linkcode UpstreamPool}, rarely used.
 *
 * @module
 */
import {
  positive,
  type UpstreamClient,
  type UpstreamClientOptions,
  UpstreamError,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./upstream_types.ts";
// https fallback on fetch

/** `fetch`-based client for https endpoints (TLS); slower than the pool but rarely used. */
export class FetchUpstreamClient implements UpstreamClient {
  readonly #client: Deno.HttpClient;
  readonly #firstByteTimeoutMs: number;

  constructor(options: UpstreamClientOptions = {}) {
    this.#firstByteTimeoutMs = positive(
      options.firstByteTimeoutMs ?? 300_000,
      "firstByteTimeoutMs",
    );
    this.#client = Deno.createHttpClient({
      poolMaxIdlePerHost: options.maxConnections ?? 256,
      poolIdleTimeout: options.keepAliveMs ?? 30_000,
      http2: false,
    });
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const signal = req.signal;
    signal?.throwIfAborted();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#firstByteTimeoutMs);
    const headers = new Headers(req.headers as HeadersInit);
    // fetch would otherwise ask for gzip and decode it, hiding the real encoding.
    headers.set("accept-encoding", "identity");
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers,
        body: req.body as Uint8Array<ArrayBuffer> | null,
        signal: controller.signal,
        redirect: "manual",
        client: this.#client,
      });
      // A fetch Response has immutable headers; callers may edit theirs.
      return {
        status: res.status,
        headers: new Headers(res.headers),
        body: observeBody(res.body, req),
      };
    } catch (err) {
      signal?.removeEventListener("abort", onAbort);
      if (signal?.aborted) throw signal.reason;
      if (timedOut) {
        throw new UpstreamError(
          "timeout",
          `Cannot read the response from ${req.url}: no headers within ${this.#firstByteTimeoutMs} ms`,
        );
      }
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
      const detail = err instanceof Error
        ? `${err.message}${cause ? `: ${cause}` : ""}`
        : String(err);
      // fetch reports every network failure as TypeError; the cause tells connect from reset.
      const kind = /connect|dns|resolve|refused|unreachable|certificate|tls/i.test(detail)
        ? "connect"
        : "reset";
      throw new UpstreamError(kind, `Cannot reach ${req.url}: ${detail}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#client.close();
  }
}

/** Wraps a fetch body so the request's hooks fire (the pool calls them natively). */
function observeBody(
  body: ReadableStream<Uint8Array> | null,
  req: UpstreamRequest,
): ReadableStream<Uint8Array> | null {
  if (body === null) {
    req.onFirstByte?.();
    req.onBodyEnd?.("done");
    return null;
  }
  if (req.onFirstByte === undefined && req.onBodyEnd === undefined && req.onData === undefined) {
    return body;
  }
  const reader = body.getReader();
  let first = true;
  let ended = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        controller.error(err);
        if (!ended) {
          ended = true;
          req.onBodyEnd?.("failed", err);
        }
        return;
      }
      if (chunk.done) {
        controller.close();
        if (!ended) {
          ended = true;
          req.onBodyEnd?.("done");
        }
        return;
      }
      if (first) {
        first = false;
        req.onFirstByte?.();
      }
      req.onData?.(chunk.value);
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      if (!ended) {
        ended = true;
        req.onBodyEnd?.("cancelled");
      }
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
