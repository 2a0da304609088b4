const s = Deno.serve({port: 0, hostname: "127.0.0.1", onListen(){}}, (req) => {
  const {socket, response} = Deno.upgradeWebSocket(req, {idleTimeout: 0});
  socket.onopen = () => { const big = "x".repeat(1<<20); for (let i=0;i<20;i++) { socket.send(big); console.log(i, socket.bufferedAmount); } };
  return response;
});
const c = await Deno.connect({hostname:"127.0.0.1", port: s.addr.port});
await c.write(new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`));
await new Promise(r => setTimeout(r, 1000));
c.close(); await s.shutdown();
