/**
 * Integration on loopback with the real rosenpass binary on both sides (no root needed): the
 * node initiates (it has the control plane's endpoint), the control plane side only responds.
 */
import assert from "node:assert/strict";
import { until } from "../../tests/helpers/wait.ts";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { RosenpassSchema } from "../config/schema.ts";
import { generateRosenpassKeys } from "./keys.ts";
import { randomPsk, RosenpassSupervisor } from "./supervisor.ts";
import { RecordingBackend } from "./_test_helpers.ts";

const ZERO = btoa("\0".repeat(32));

/** A UDP port that was free a moment ago (ephemeral bind, then released). */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

Deno.test("loopback: real rosenpass pair agrees on PSKs, fails closed and recovers", async () => {
  const root = await Deno.makeTempDir();
  const nodeWg = randomPsk();
  const cpWg = randomPsk();
  let node: RosenpassSupervisor | undefined;
  let cp: RosenpassSupervisor | undefined;
  try {
    const keys = (side: string) => ({
      secretKeyPath: join(root, side, "pqsk"),
      publicKeyPath: join(root, side, "pqpk"),
    });
    await generateRosenpassKeys(keys("node"));
    await generateRosenpassKeys(keys("cp"));
    const port = await freeUdpPort();
    const cpConfig = RosenpassSchema.parse({
      secret_key_path: keys("cp").secretKeyPath,
      public_key_path: keys("cp").publicKeyPath,
      peer_public_key_path: keys("node").publicKeyPath,
      listen: `127.0.0.1:${port}`,
      state_dir: join(root, "cp-state"),
      key_lifetime_s: 60,
    });
    const nodeConfig = RosenpassSchema.parse({
      secret_key_path: keys("node").secretKeyPath,
      public_key_path: keys("node").publicKeyPath,
      peer_public_key_path: keys("cp").publicKeyPath,
      peer_endpoint: `127.0.0.1:${port}`,
      listen: "127.0.0.1:0",
      state_dir: join(root, "node-state"),
    });
    const cpBackend = new RecordingBackend();
    const nodeBackend = new RecordingBackend();
    const makeCp = () =>
      new RosenpassSupervisor({
        config: cpConfig,
        backend: cpBackend,
        iface: "cp0",
        peerWgPublicKey: nodeWg,
      });
    node = new RosenpassSupervisor({
      config: nodeConfig,
      backend: nodeBackend,
      iface: "labman0",
      peerWgPublicKey: cpWg,
      keyLifetimeMs: 3_000, // labmand's own guard, short so expiry shows within the test
      restartBackoff: { initialMs: 200, maxMs: 1_000 },
    });
    cp = makeCp();
    assert.equal(node.isInitiator, true);
    assert.equal(cp.isInitiator, false);
    const agreed = () => nodeBackend.last !== undefined && nodeBackend.last === cpBackend.last;

    // 1. Random PSKs first, then the same exchanged PSK on both sides.
    await cp.start();
    await node.start();
    await until(() => nodeBackend.psks.length > 0 && cpBackend.psks.length > 0, "start PSKs");
    const nodeStart = nodeBackend.psks[0]!.psk;
    const cpStart = cpBackend.psks[0]!.psk;
    assert.notEqual(nodeStart, cpStart);
    assert.notEqual(nodeStart, ZERO);
    assert.notEqual(cpStart, ZERO);
    await until(agreed, "the first exchange on both sides", 10_000);
    assert.ok(node.status().exchanges >= 1 && cp.status().exchanges >= 1);
    assert.notEqual(nodeBackend.last, nodeStart);
    assert.equal(nodeBackend.psks.at(-1)!.peer, cpWg);
    assert.equal(cpBackend.psks.at(-1)!.peer, nodeWg);

    // 2. The peer's rosenpass dies: within the guard lifetime the node gets a fresh random PSK.
    await until(agreed, "agreement before the kill", 10_000);
    const lastShared = nodeBackend.last!;
    Deno.kill(cp.pid!, "SIGKILL");
    await cp.stop();
    await until(() => nodeBackend.last !== lastShared, "the node's fail-closed PSK", 8_000);
    const failClosed = nodeBackend.last!;
    assert.notEqual(failClosed, ZERO);
    assert.ok(
      !cpBackend.psks.some((p) => p.psk === failClosed),
      "the random PSK is known to nobody",
    );
    assert.equal(node.status().state, "stale");

    // 3. The peer comes back: the node (still the same supervisor) re-initiates and both agree.
    const cpExchangesBefore = cp.status().exchanges;
    cp = makeCp();
    await cp.start();
    await until(
      () => cp!.status().exchanges >= 1 && agreed(),
      "re-agreement after restart",
      15_000,
    );
    assert.ok(cpExchangesBefore >= 1);
    assert.equal(node.status().state, "active");
    assert.equal(node.status().restarts, 0);

    // 4. The node's own rosenpass is killed: restarted once, exchanges resume.
    await until(agreed, "agreement before killing the node child", 10_000);
    const nodeExchanges = node.status().exchanges;
    Deno.kill(node.pid!, "SIGKILL");
    await until(() => node!.status().restarts === 1, "the node child restart", 5_000);
    await until(
      () => node!.status().exchanges > nodeExchanges && agreed(),
      "exchanges after the node restart",
      15_000,
    );
    assert.equal(node.status().restarts, 1);
  } finally {
    await node?.stop();
    await cp?.stop();
    await Deno.remove(root, { recursive: true });
  }
});
