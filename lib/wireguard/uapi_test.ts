import assert from "node:assert/strict";
import { encodeKey } from "./keys.ts";
import { encodeSet, parseErrno, parseGet, UapiError } from "./uapi.ts";

const key = (b: number) => encodeKey(new Uint8Array(32).fill(b));
const hex = (b: number) => b.toString(16).padStart(2, "0").repeat(32);

Deno.test("encodeSet writes device keys, then one block per peer, then a blank line", () => {
  const text = encodeSet({
    name: "labman0",
    privateKey: key(0x11),
    listenPort: 51820,
    fwmark: 0,
    replacePeers: true,
    peers: [
      {
        publicKey: key(0x22),
        presharedKey: key(0x33),
        endpoint: "192.0.2.1:51820",
        persistentKeepaliveS: 25,
        replaceAllowedIps: true,
        allowedIps: ["10.90.0.1/32", "fd00::1"],
      },
      { publicKey: key(0x44), remove: true, allowedIps: ["10.0.0.0/8"] },
      { publicKey: key(0x55), updateOnly: true, endpoint: "[2001:0db8::1]:1" },
    ],
  });
  assert.equal(
    text,
    [
      "set=1",
      `private_key=${hex(0x11)}`,
      "listen_port=51820",
      "fwmark=0",
      "replace_peers=true",
      `public_key=${hex(0x22)}`,
      `preshared_key=${hex(0x33)}`,
      "endpoint=192.0.2.1:51820",
      "persistent_keepalive_interval=25",
      "replace_allowed_ips=true",
      "allowed_ip=10.90.0.1/32",
      "allowed_ip=fd00::1/128",
      `public_key=${hex(0x44)}`,
      "remove=true",
      `public_key=${hex(0x55)}`,
      "update_only=true",
      "endpoint=[2001:db8::1]:1",
      "",
      "",
    ].join("\n"),
  );
});

Deno.test("encodeSet rejects what the daemon would reject, before sending anything", () => {
  const base = { name: "x", peers: [] };
  assert.throws(() => encodeSet({ ...base, listenPort: 70000 }), /listen_port=70000/);
  assert.throws(() => encodeSet({ ...base, privateKey: "short" }), /Cannot decode/);
  assert.throws(
    () => encodeSet({ ...base, peers: [{ publicKey: key(1), endpoint: "example.com:1" }] }),
    /Cannot parse endpoint/,
  );
  assert.throws(
    () => encodeSet({ ...base, peers: [{ publicKey: key(1), allowedIps: ["10.0.0.0/33"] }] }),
    /prefix length/,
  );
  assert.throws(
    () => encodeSet({ ...base, peers: [{ publicKey: key(1), persistentKeepaliveS: -1 }] }),
    /persistent_keepalive_interval/,
  );
});

const GET_REPLY = [
  `private_key=${hex(0x11)}`,
  "listen_port=51820",
  "fwmark=7",
  `public_key=${hex(0x22)}`,
  `preshared_key=${hex(0x33)}`,
  "protocol_version=1",
  "endpoint=192.0.2.2:51820",
  "last_handshake_time_sec=1700000000",
  "last_handshake_time_nsec=123456789",
  "tx_bytes=1000",
  "rx_bytes=2000",
  "persistent_keepalive_interval=25",
  "allowed_ip=10.90.0.1/32",
  "allowed_ip=fd00::/64",
  `public_key=${hex(0x44)}`,
  `preshared_key=${hex(0)}`,
  "protocol_version=1",
  "last_handshake_time_sec=0",
  "last_handshake_time_nsec=0",
  "tx_bytes=0",
  "rx_bytes=0",
  "persistent_keepalive_interval=0",
  "errno=0",
  "",
  "",
].join("\n");

Deno.test("parseGet reads device and peers, keys back to base64", () => {
  const d = parseGet(GET_REPLY, "labman0");
  assert.deepEqual(d, {
    name: "labman0",
    privateKey: key(0x11),
    listenPort: 51820,
    fwmark: 7,
    peers: [
      {
        publicKey: key(0x22),
        presharedKey: key(0x33),
        protocolVersion: 1,
        endpoint: "192.0.2.2:51820",
        lastHandshakeMs: 1700000000123,
        txBytes: 1000,
        rxBytes: 2000,
        persistentKeepaliveS: 25,
        allowedIps: ["10.90.0.1/32", "fd00::/64"],
      },
      {
        publicKey: key(0x44),
        presharedKey: key(0),
        protocolVersion: 1,
        lastHandshakeMs: 0,
        txBytes: 0,
        rxBytes: 0,
        persistentKeepaliveS: 0,
        allowedIps: [],
      },
    ],
  });
  assert.deepEqual(parseGet("errno=0\n\n", "x"), { name: "x", peers: [] });
});

Deno.test("parseGet is strict", () => {
  const bad: [string, RegExp][] = [
    ["listen_port=65536\nerrno=0\n\n", /above 65535/],
    ["listen_port=-1\nerrno=0\n\n", /not a number/],
    ["listen_port=1e3\nerrno=0\n\n", /not a number/],
    ["mystery=1\nerrno=0\n\n", /unknown device key "mystery"/],
    [`public_key=${hex(1)}\nmystery=1\nerrno=0\n\n`, /unknown peer key "mystery"/],
    [`public_key=${hex(1)}\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n`, /above/],
    [`public_key=abc\nerrno=0\n\n`, /64 hex/],
    [`public_key=${hex(1)}\nallowed_ip=10.0.0.0/40\nerrno=0\n\n`, /prefix length/],
    [`public_key=${hex(1)}\nendpoint=nohost\nerrno=0\n\n`, /endpoint/],
    ["listen_port=1\n\n", /missing errno/],
    ["garbage\nerrno=0\n\n", /no key=value/],
    ["errno=0\nlisten_port=1\n", /data after errno/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseGet(text, "x"), re, text);
  assert.throws(
    () => parseGet("errno=-19\n\n", "labman0"),
    (e: unknown) =>
      e instanceof UapiError && e.errno === 19 && /get device labman0.*ENODEV/.test(e.message),
  );
});

Deno.test("parseErrno: 0 is success, anything else names the errno; sets are not rolled back", () => {
  assert.equal(parseErrno("errno=0\n\n"), 0);
  // A set that failed half way (e.g. an unknown key after a valid private_key line) answers with
  // EINVAL; the caller must treat the device as partially configured and re-read it.
  assert.throws(
    () => parseErrno("errno=-22\n\n", "set device labman0"),
    (e: unknown) =>
      e instanceof UapiError && e.errno === 22 &&
      e.message === "Cannot set device labman0: wireguard UAPI returned errno=-22 (EINVAL)",
  );
  assert.throws(() => parseErrno("errno=-71\n\n"), /EPROTO/);
  assert.throws(() => parseErrno("errno=-55\n\n"), /ENOANO|errno=-55/);
  assert.throws(() => parseErrno(""), /malformed/);
  assert.throws(() => parseErrno("errno=x\n\n"), /malformed/);
  assert.throws(() => parseErrno("ok\n"), /malformed/);
});
