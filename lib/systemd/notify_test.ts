import assert from "node:assert/strict";
import { encodeNotifyMessage, encodeSockaddrUn, sdNotify } from "./notify.ts";

Deno.test("encodeSockaddrUn: path names are NUL-terminated, abstract names are not", () => {
  const p = encodeSockaddrUn("/run/systemd/notify");
  assert.deepEqual([...p.slice(0, 2)], [1, 0]);
  assert.equal(new TextDecoder().decode(p.slice(2)), "/run/systemd/notify\0");
  const a = encodeSockaddrUn("@sd-abc");
  assert.equal(new TextDecoder().decode(a.slice(2)), "\0sd-abc");
  assert.throws(() => encodeSockaddrUn("/" + "x".repeat(200)), /not a usable socket path/);
});

Deno.test("encodeNotifyMessage: KEY=value lines, rejects newlines in values", () => {
  assert.equal(
    new TextDecoder().decode(
      encodeNotifyMessage({ READY: "1", STATUS: "serving on 10.90.0.7:8080" }),
    ),
    "READY=1\nSTATUS=serving on 10.90.0.7:8080\n",
  );
  assert.throws(() => encodeNotifyMessage({ STATUS: "a\nb" }), /invalid field/);
});

Deno.test("sdNotify delivers one datagram to a real unix socket, and is a no-op without one", async () => {
  assert.equal(sdNotify({ READY: "1" }, ""), false, "no socket: a no-op (never the environment's)");
  const dir = await Deno.makeTempDir();
  const path = `${dir}/notify.sock`;
  const sock = Deno.listenDatagram({ transport: "unixpacket", path });
  try {
    const received = sock.receive();
    assert.equal(sdNotify({ READY: "1", STATUS: "ready" }, path), true);
    const [data] = await received;
    assert.equal(new TextDecoder().decode(data), "READY=1\nSTATUS=ready\n");
  } finally {
    sock.close();
    await Deno.remove(dir, { recursive: true });
  }
});
