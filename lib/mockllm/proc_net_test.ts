import assert from "node:assert/strict";
import { countEstablished, openConnectionsOn } from "./proc_net.ts";

const SAMPLE =
  `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:1F90 0100007F:C351 06 00000000:00000000 00:00000000 00000000     0        0 4 1
   4: 0100007F:1F90 0100007F:C352 01 00000000:00000000 00:00000000 00000000     0        0 5 1
`;

Deno.test("countEstablished counts only ESTABLISHED sockets on the local port", () => {
  // Port 8080 = 0x1F90: two established server-side sockets; listen, TIME_WAIT and the
  // client side (local port 0xC350) are not counted.
  assert.equal(countEstablished(SAMPLE, 8080), 2);
  assert.equal(countEstablished(SAMPLE, 50000), 1);
  assert.equal(countEstablished("", 8080), 0);
});

Deno.test("openConnectionsOn sees a live connection to a local listener", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const server = await listener.accept();
  try {
    const n = openConnectionsOn(port);
    if (n !== null) assert.equal(n, 1); // null only where /proc is unreadable
  } finally {
    client.close();
    server.close();
    listener.close();
  }
});
