/**
 * The memory floor of the server labmand is built on: a bare `Deno.serve` that streams the same
 * stamped SSE events as the mock itself (no upstream, no Worker, no libraries), one event every
 * `--token-delay-ms`, `max_tokens` events per request. The many-streams phase runs against it so
 * labmand's RSS per open stream can be read as a ratio to this floor measured in the same run.
 * Prints `listening on <port>` once bound.
 *
 * @module
 */
const delayIdx = Deno.args.indexOf("--token-delay-ms");
const delayMs = delayIdx >= 0 ? Number(Deno.args[delayIdx + 1]) : 50;
const encoder = new TextEncoder();
const DONE = encoder.encode("data: [DONE]\n\n");

function frame(i: number): Uint8Array {
  const event = {
    id: "chatcmpl-floor",
    object: "chat.completion.chunk",
    created: 0,
    model: "floor",
    choices: [{ index: 0, delta: { content: "tok " }, finish_reason: null }],
    mock_index: i,
    mock_sent_at_ms: performance.timeOrigin + performance.now(),
  };
  return encoder.encode(`data: ${JSON.stringify(event)}\n\n`);
}

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`listening on ${port}`),
}, async (req) => {
  const body = await req.json().catch(() => ({}));
  const tokens = Math.max(1, Math.min(10_000, Number(body.max_tokens) || 16));
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      // One event per pull, spaced by the timer: nothing is queued ahead of the reader.
      return new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (sent < tokens) c.enqueue(frame(sent++));
          else {
            c.enqueue(DONE);
            c.close();
          }
          resolve();
        }, sent === 0 ? 0 : delayMs);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  }, { highWaterMark: 0 });
  return new Response(stream, { headers: { "content-type": "text/event-stream" } });
});
