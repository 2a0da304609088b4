import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { renderRosenpassConfig } from "./config_file.ts";

const base = {
  publicKeyPath: "/var/lib/labman/rosenpass/pqpk",
  secretKeyPath: "/var/lib/labman/rosenpass/pqsk",
  listen: ["0.0.0.0:9999"],
  peer: { publicKeyPath: "/var/lib/labman/rosenpass/cp.pqpk", keyOutPath: "/run/rp/peer.osk" },
};

Deno.test("renders the initiator config with endpoint and key_out only", () => {
  const text = renderRosenpassConfig({
    ...base,
    peer: { ...base.peer, endpoint: "203.0.113.10:9999" },
  });
  assert.deepEqual(JSON.parse(JSON.stringify(parse(text))), {
    public_key: "/var/lib/labman/rosenpass/pqpk",
    secret_key: "/var/lib/labman/rosenpass/pqsk",
    listen: ["0.0.0.0:9999"],
    verbosity: "Quiet",
    peers: [{
      public_key: "/var/lib/labman/rosenpass/cp.pqpk",
      endpoint: "203.0.113.10:9999",
      key_out: "/run/rp/peer.osk",
    }],
  });
  assert.doesNotMatch(text, /device|peer\s*=|extra_params|exchange_command/);
});

Deno.test("the responder config has no endpoint", () => {
  const cfg = parse(renderRosenpassConfig(base)) as { peers: Record<string, unknown>[] };
  assert.equal(cfg.peers.length, 1);
  assert.equal("endpoint" in cfg.peers[0]!, false);
  assert.equal(cfg.peers[0]!.key_out, "/run/rp/peer.osk");
});

Deno.test("quotes and escapes paths so TOML round-trips them", () => {
  const odd = '/tmp/a "b"\\c\n';
  const cfg = parse(
    renderRosenpassConfig({ ...base, peer: { ...base.peer, keyOutPath: odd } }),
  ) as {
    peers: { key_out: string }[];
  };
  assert.equal(cfg.peers[0]!.key_out, odd);
});

Deno.test("rejects relative paths and malformed addresses", () => {
  assert.throws(
    () => renderRosenpassConfig({ ...base, secretKeyPath: "pqsk" }),
    /secretKeyPath must be an absolute path/,
  );
  assert.throws(() => renderRosenpassConfig({ ...base, listen: ["9999"] }), /host:port/);
  assert.throws(
    () => renderRosenpassConfig({ ...base, peer: { ...base.peer, endpoint: "a b:1" } }),
    /host:port/,
  );
  assert.doesNotThrow(() => renderRosenpassConfig({ ...base, listen: ["[::]:9999"] }));
});
