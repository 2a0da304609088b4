import assert from "node:assert/strict";
import { connectWs, WsHandshakeError } from "./ws_client.ts";

function echoServer(opts: { idleTimeout?: number } = {}) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (req.headers.get("authorization") !== "Bearer ok") {
      return new Response("no", { status: 401 });
    }
    const { socket, response } = Deno.upgradeWebSocket(req, {
      idleTimeout: opts.idleTimeout ?? 30,
    });
    socket.onmessage = (e) => {
      if (e.data === "close-me") socket.close(4321, "bye");
      else socket.send(`echo:${e.data}`);
    };
    return response;
  });
}

const auth = { headers: { authorization: "Bearer ok" } };

Deno.test("ws client: text round trip of small and large messages, server close code", async () => {
  await using server = echoServer();
  const ws = await connectWs(`ws://127.0.0.1:${server.addr.port}/x`, auth);
  const got: string[] = [];
  const want = ["a", "é".repeat(40_000), "x".repeat(70_000)];
  const all = new Promise<void>((resolve) => {
    ws.onmessage = (t) => {
      got.push(t);
      if (got.length === want.length) resolve();
    };
  });
  for (const w of want) ws.send(w);
  await all;
  assert.deepEqual(got, want.map((w) => `echo:${w}`));
  ws.send("close-me");
  assert.deepEqual(await ws.closed, { code: 4321, reason: "bye" });
});

Deno.test("ws client: refused handshake carries the status; oversize inbound closes with 1009", async () => {
  await using server = echoServer();
  await assert.rejects(
    connectWs(`ws://127.0.0.1:${server.addr.port}/x`),
    (e: WsHandshakeError) => e instanceof WsHandshakeError && e.status === 401,
  );
  const ws = await connectWs(`ws://127.0.0.1:${server.addr.port}/x`, {
    ...auth,
    maxMessageBytes: 1000,
  });
  ws.send("y".repeat(2000)); // the echo comes back over the limit
  assert.equal((await ws.closed).code, 1009);
});

Deno.test("ws client: answers the server's pings, so an idle link stays up", async () => {
  await using server = echoServer({ idleTimeout: 1 });
  const ws = await connectWs(`ws://127.0.0.1:${server.addr.port}/x`, auth);
  await new Promise((r) => setTimeout(r, 2500));
  let reply = "";
  const p = new Promise<void>((resolve) => ws.onmessage = (t) => (reply = t, resolve()));
  ws.send("still here");
  await p;
  assert.equal(reply, "echo:still here");
  ws.close();
  assert.equal((await ws.closed).code, 1000);
});

Deno.test("ws client: a server speaking garbage after the handshake gets a protocol close, no crash", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(4096);
    const n = (await conn.read(buf))!;
    const key = /Sec-WebSocket-Key: (\S+)/.exec(new TextDecoder().decode(buf.subarray(0, n)))![1];
    const digest = await crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    ));
    // A masked frame from a server is a protocol error (RFC 6455 §5.1).
    await conn.write(new Uint8Array([0x81, 0x82, 1, 2, 3, 4, 5, 6]));
    const r = await conn.read(buf).catch(() => null);
    conn.close();
    return r;
  })();
  const ws = await connectWs(`ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`);
  assert.equal((await ws.closed).code, 1002);
  assert.ok((await served) !== null, "the client sent a close frame");
  listener.close();
});

Deno.test("ws client: a message that arrives with the handshake answer is not lost", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(4096);
    const n = (await conn.read(buf))!;
    const key = /Sec-WebSocket-Key: (\S+)/.exec(new TextDecoder().decode(buf.subarray(0, n)))![1];
    const digest = await crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    const head = new TextEncoder().encode(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const frame = new Uint8Array([0x81, 5, ...new TextEncoder().encode("hello")]);
    const both = new Uint8Array(head.length + frame.length);
    both.set(head);
    both.set(frame, head.length);
    await conn.write(both); // one segment: the answer and the first message together
    await conn.read(buf).catch(() => null);
    conn.close();
  })();
  const ws = await connectWs(`ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`);
  await new Promise((r) => setTimeout(r, 50));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = await new Promise<string>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error("the early message was lost")), 2000);
    ws.onmessage = resolve;
  }).finally(() => clearTimeout(timer));
  assert.equal(got, "hello");
  ws.close();
  await ws.closed;
  await served;
  listener.close();
});

Deno.test({
  name: "ws client: wss:// with TLS (certificate checked against the given CA)",
  ignore: !(() => {
    try {
      return new Deno.Command("openssl", { args: ["version"] }).outputSync().success;
    } catch {
      return false;
    }
  })(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "labman-wss-" });
    try {
      // A CA and a leaf certificate for localhost signed by it.
      const ossl = async (...args: string[]) => {
        const r = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
          .output();
        assert.ok(r.success, new TextDecoder().decode(r.stderr));
      };
      const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
      await ossl(
        "req",
        "-x509",
        ...ec,
        "-keyout",
        `${dir}/ca.key`,
        "-out",
        `${dir}/ca.pem`,
        "-days",
        "1",
        "-subj",
        "/CN=labman test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
      );
      await ossl(
        "req",
        ...ec,
        "-keyout",
        `${dir}/k.pem`,
        "-out",
        `${dir}/c.csr`,
        "-subj",
        "/CN=localhost",
      );
      await Deno.writeTextFile(
        `${dir}/ext.cnf`,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
      );
      await ossl(
        "x509",
        "-req",
        "-in",
        `${dir}/c.csr`,
        "-CA",
        `${dir}/ca.pem`,
        "-CAkey",
        `${dir}/ca.key`,
        "-CAcreateserial",
        "-out",
        `${dir}/c.pem`,
        "-days",
        "1",
        "-extfile",
        `${dir}/ext.cnf`,
      );
      const ca = await Deno.readTextFile(`${dir}/ca.pem`);
      const cert = await Deno.readTextFile(`${dir}/c.pem`);
      const key = await Deno.readTextFile(`${dir}/k.pem`);
      await using server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
        (req) => {
          const { socket, response } = Deno.upgradeWebSocket(req);
          socket.onmessage = (e) => socket.send(`tls:${e.data}`);
          return response;
        },
      );
      const url = `wss://localhost:${server.addr.port}/`;
      // Without the CA the certificate is refused.
      await assert.rejects(connectWs(url));
      const ws = await connectWs(url, { caCerts: [ca] });
      const got = new Promise<string>((resolve) => ws.onmessage = resolve);
      ws.send("hi");
      assert.equal(await got, "tls:hi");
      ws.close();
      await ws.closed;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
