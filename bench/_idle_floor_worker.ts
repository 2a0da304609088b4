/** The empty Worker of {@link ./_idle_floor.ts}: answers one message so the parent knows it runs. */
/// <reference lib="deno.worker" />
self.onmessage = () => self.postMessage("ready");
