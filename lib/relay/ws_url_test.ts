import assert from "node:assert/strict";
import { checkWebsocketUrl } from "./ws_url.ts";

Deno.test("websocket_url: only the control plane's own host or the tunnel peer's addresses", () => {
  const base = "https://cp.example.net/labs";
  const peer = ["10.90.0.1/32", "fd00:90::/64"];
  assert.equal(checkWebsocketUrl("wss://cp.example.net/api/v1/ws", base, peer), null);
  assert.equal(checkWebsocketUrl("wss://CP.example.net:8443/x", base, peer), null);
  assert.equal(checkWebsocketUrl("ws://10.90.0.1:8444/api/v1/ws", base, peer), null);
  assert.equal(checkWebsocketUrl("ws://[fd00:90::5]/ws", base, peer), null);
  for (
    const bad of [
      "ws://192.168.1.10/",
      "ws://10.90.0.2/",
      "ws://127.0.0.1:22/",
      "wss://evil.example.org/",
      "http://cp.example.net/",
      "wss://user:pw@cp.example.net/",
      "not a url",
    ]
  ) assert.notEqual(checkWebsocketUrl(bad, base, peer), null, bad);
  assert.match(
    checkWebsocketUrl("ws://192.168.1.10/", base, peer)!,
    /allowed IPs \(10\.90\.0\.1\/32/,
  );
});
