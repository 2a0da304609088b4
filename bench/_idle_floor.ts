/**
 * The idle-RSS floor: one Worker and one `Deno.serve`, nothing else loaded, i.e. the skeleton
 * labmand's process model (supervisor + data-plane Worker + one listener) costs before any of its
 * code. Prints `listening on <port>` once the Worker is up and the server bound.
 *
 * @module
 */
const worker = new Worker(new URL("./_idle_floor_worker.ts", import.meta.url), { type: "module" });
await new Promise<void>((resolve) => {
  worker.onmessage = () => resolve();
  worker.postMessage("ready?");
});
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(`listening on ${port}`) },
  () => new Response("ok"),
);
Deno.addSignalListener("SIGTERM", () => {
  worker.terminate();
  server.shutdown();
});
