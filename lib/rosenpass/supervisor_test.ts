import assert from "node:assert/strict";
import { until } from "../../tests/helpers/wait.ts";
import { fakeClock } from "../../tests/helpers/fake_clock.ts";
import { join } from "node:path";
import { Registry } from "prom-client";
import { RosenpassSchema } from "../config/schema.ts";
import { randomPsk, RosenpassSupervisor } from "./supervisor.ts";
import { captureLogs, dummyKeysConfig, FakeChild, RecordingBackend } from "./_test_helpers.ts";

const PEER_WG = "mK9e4mfk1J/h7rWcmV8r7bU3i6J1oC4r3a8ZqQn0pHs=";
const RP_PEER = "R17t+AZgNBNZy/Ig9sHD5JcrsfifVGRTJsPs18mcbZ0=";
const KEY_A = "t5yNRAek1BRrQJ+yGzm3lmthFi0mr1XA5/IfdtYhruo=";
const KEY_B = "daH4Ej6hEhRFYSTF+82/pn43hFd4PHyZcS8/nkFEkW0=";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function line(path: string, status = "exchanged"): string {
  return `output-key peer ${RP_PEER} key-file ${JSON.stringify(path)} ${status}`;
}

Deno.test("supervisor restarts a crashing child with bounded jittered backoff", async () => {
  await withRoot(async (root) => {
    const { fake: fc, clock } = fakeClock(1_000_000);
    const children: FakeChild[] = [];
    const backend = new RecordingBackend();
    const registry = new Registry();
    const sup = new RosenpassSupervisor({
      config: await dummyKeysConfig(root),
      backend,
      iface: "labman0",
      peerWgPublicKey: PEER_WG,
      clock,
      random: () => 0, // lower edge of the jitter window: cap / 2
      restartBackoff: { initialMs: 1_000, maxMs: 8_000 },
      maxDownMs: 3_600_000,
      keyLifetimeMs: 3_600_000,
      registry,
      spawn: () => {
        const c = new FakeChild();
        children.push(c);
        return c;
      },
    });
    try {
      await sup.start();
      assert.equal(children.length, 1);
      await until(() => backend.psks.length === 1, "the start PSK");
      assert.equal(sup.status().state, "waiting");

      // Delays for attempts 0..4: caps 1000, 2000, 4000, 8000, 8000 → half each with random()=0.
      const expected = [500, 1_000, 2_000, 4_000, 4_000];
      for (const [i, delay] of expected.entries()) {
        children.at(-1)!.exit(1);
        await until(() => sup.status().restarts === i + 1, `restart ${i + 1}`);
        await fc.tickAsync(delay - 1);
        assert.equal(children.length, i + 1, `spawned early on attempt ${i}`);
        await fc.tickAsync(1);
        assert.equal(children.length, i + 2, `not spawned on attempt ${i}`);
      }
      assert.equal(sup.status().restarts, 5);
      assert.match(
        await registry.getSingleMetricAsString("labman_rosenpass_restarts_total"),
        /labman_rosenpass_restarts_total 5/,
      );

      // A successful exchange resets the backoff.
      await Deno.writeTextFile(sup.keyOutPath, KEY_A);
      children.at(-1)!.emit(line(sup.keyOutPath));
      await until(() => backend.last === KEY_A, "the exchanged key");
      assert.equal(sup.status().state, "active");
      children.at(-1)!.exit(1);
      await until(() => sup.status().restarts === 6, "restart 6");
      await fc.tickAsync(500);
      assert.equal(children.length, 7);
    } finally {
      await sup.stop();
    }
    assert.equal(fc.countTimers(), 0, "timers left after stop");
    assert.deepEqual(children.at(-1)!.kills, ["SIGTERM"]);
  });
});

Deno.test("supervisor applies exchanged keys, fails closed on stale and on expiry", async () => {
  await withRoot(async (root) => {
    const { fake: fc, clock } = fakeClock(1_000_000);
    const children: FakeChild[] = [];
    const backend = new RecordingBackend();
    const registry = new Registry();
    const sup = new RosenpassSupervisor({
      config: await dummyKeysConfig(root, { peer_endpoint: "127.0.0.1:9" }),
      backend,
      iface: "labman0",
      peerWgPublicKey: PEER_WG,
      clock,
      keyLifetimeMs: 3_000,
      registry,
      spawn: () => {
        const c = new FakeChild();
        children.push(c);
        return c;
      },
    });
    try {
      await sup.start();
      assert.equal(sup.isInitiator, true);
      const cfg = await Deno.readTextFile(sup.configPath);
      assert.match(cfg, /endpoint = "127\.0\.0\.1:9"/);
      assert.equal((await Deno.stat(sup.configPath)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(join(root, "state"))).mode! & 0o777, 0o700);
      await until(() => backend.psks.length === 1, "the start PSK");
      const startPsk = backend.last!;
      assert.equal(atob(startPsk).length, 32);
      assert.deepEqual(backend.psks[0], { iface: "labman0", peer: PEER_WG, psk: startPsk });

      await Deno.writeTextFile(sup.keyOutPath, KEY_A);
      children[0]!.emit(line(sup.keyOutPath));
      await until(() => backend.last === KEY_A, "KEY_A applied");
      assert.deepEqual(
        { ...sup.status(), psk_age_s: null },
        { state: "active", psk_age_s: null, exchanges: 1, restarts: 0 },
      );
      await fc.tickAsync(1_500);
      assert.equal(sup.status().psk_age_s, 1.5);

      // rosenpass says stale: a fresh random PSK, not the old key and not rosenpass's file.
      children[0]!.emit(line(sup.keyOutPath, "stale"));
      await until(() => backend.psks.length === 3, "the stale PSK");
      assert.notEqual(backend.last, KEY_A);
      assert.notEqual(backend.last, startPsk);
      assert.equal(sup.status().state, "stale");

      // New exchange, then silence past the lifetime: random PSK and a re-initiation.
      await Deno.writeTextFile(sup.keyOutPath, KEY_B);
      children[0]!.emit(line(sup.keyOutPath));
      await until(() => backend.last === KEY_B, "KEY_B applied");
      await fc.tickAsync(3_000);
      await until(() => backend.psks.length === 5, "the expiry PSK");
      assert.notEqual(backend.last, KEY_B);
      assert.equal(sup.status().state, "stale");
      assert.deepEqual(children[0]!.kills, ["SIGTERM"]);
      await until(() => children.length === 2, "re-initiating child");
      assert.equal(sup.status().restarts, 0, "a deliberate re-initiation is not a crash restart");

      const metrics = await registry.metrics();
      assert.match(metrics, /labman_rosenpass_exchanges_total 2/);
      assert.match(metrics, /labman_rosenpass_stale_total 1/);
      assert.match(metrics, /labman_rosenpass_state\{state="stale"\} 1/);
      assert.match(metrics, /labman_rosenpass_state\{state="active"\} 0/);
      assert.match(metrics, /labman_rosenpass_psk_age_seconds 0/);
    } finally {
      await sup.stop();
    }
    assert.equal(fc.countTimers(), 0);
  });
});

Deno.test("supervisor ignores unexpected lines, foreign key files and bad keys", async () => {
  await withRoot(async (root) => {
    const logs = captureLogs();
    const { clock } = fakeClock(1_000_000);
    const child = new FakeChild();
    const backend = new RecordingBackend();
    const sup = new RosenpassSupervisor({
      config: await dummyKeysConfig(root),
      backend,
      iface: "labman0",
      peerWgPublicKey: PEER_WG,
      clock,
      spawn: () => child,
    });
    try {
      await sup.start();
      await until(() => backend.psks.length === 1, "the start PSK");
      const other = join(root, "other.osk");
      await Deno.writeTextFile(other, KEY_A);
      child.emit("output-key peer garbage");
      child.emit(line(other));
      await Deno.writeTextFile(sup.keyOutPath, "not a key at all");
      child.emit(line(sup.keyOutPath));
      child.emitErr("[ERROR rosenpass] something on stderr");
      await until(() => sup.rejectedKeys === 1, "the rejected key");
      await until(() => logs.some((l) => l.includes("something on stderr")), "stderr log");
      assert.equal(backend.psks.length, 1, "nothing but the start PSK was applied");
      assert.equal(sup.status().exchanges, 0);
      assert.ok(logs.some((l) => l.includes("Ignoring unexpected rosenpass output")));
      assert.ok(logs.some((l) => l.includes("unknown file")));
      assert.ok(logs.some((l) => l.includes("Rejected rosenpass key")));
      assert.ok(!logs.some((l) => l.includes(KEY_A)), "key material never logged");
    } finally {
      await sup.stop();
    }
  });
});

Deno.test("disabled rosenpass warns at every start and spawns nothing", async () => {
  await withRoot(async (root) => {
    const logs = captureLogs();
    for (let i = 0; i < 2; i++) {
      const backend = new RecordingBackend();
      await Deno.mkdir(join(root, String(i)));
      const sup = new RosenpassSupervisor({
        config: await dummyKeysConfig(join(root, String(i)), { enabled: false }),
        backend,
        iface: "labman0",
        peerWgPublicKey: PEER_WG,
        spawn: () => {
          throw new Error("must not spawn");
        },
      });
      await sup.start();
      assert.equal(sup.status().state, "disabled");
      assert.equal(backend.psks.length, 0);
      await sup.stop();
    }
    assert.equal(logs.filter((l) => l.includes("Rosenpass is disabled")).length, 2);
  });
});

Deno.test("randomPsk is 32 random bytes and avoids the given key", () => {
  const a = randomPsk();
  assert.equal(atob(a).length, 32);
  assert.notEqual(randomPsk(a), a);
  assert.notEqual(atob(a), "\0".repeat(32));
});

Deno.test("a stub child: garbage written before its line is rejected, then a good key applies", async () => {
  await withRoot(async (root) => {
    const logs = captureLogs();
    const config = await dummyKeysConfig(root);
    const keyOut = join(config.state_dir, "peer.osk");
    const stub = join(root, "fake-rosenpass");
    // Called as: fake-rosenpass exchange-config <file>, like the real binary.
    await Deno.writeTextFile(
      stub,
      `#!/bin/sh
[ "$1" = exchange-config ] && [ -f "$2" ] || exit 2
printf 'garbage!' > '${keyOut}'
echo 'output-key peer ${RP_PEER} key-file "${keyOut}" exchanged'
sleep 0.3
printf '${KEY_A}' > '${keyOut}'
echo 'output-key peer ${RP_PEER} key-file "${keyOut}" exchanged'
echo 'surprise'
exec sleep 30
`,
      { mode: 0o755 },
    );
    const backend = new RecordingBackend();
    const sup = new RosenpassSupervisor({
      config: { ...config, binary: stub },
      backend,
      iface: "labman0",
      peerWgPublicKey: PEER_WG,
    });
    try {
      await sup.start();
      await until(() => backend.last === KEY_A, "the good key", 5_000);
      assert.equal(backend.psks.length, 2, "start PSK, then KEY_A; never the garbage");
      assert.equal(sup.rejectedKeys, 1);
      assert.ok(logs.some((l) => l.includes("Rejected rosenpass key")));
      await until(() => logs.some((l) => l.includes("surprise")), "unexpected line logged");
      // The child runs under umask 077.
      assert.equal((await Deno.stat(keyOut)).mode! & 0o077, 0);
      assert.ok(sup.pid !== null);
    } finally {
      await sup.stop();
    }
    assert.equal(sup.pid, null);
  });
});

Deno.test("bad restart backoff bounds fail at construction", async () => {
  await withRoot(async (root) => {
    assert.throws(
      () =>
        new RosenpassSupervisor({
          config: RosenpassSchema.parse({ state_dir: root }),
          backend: new RecordingBackend(),
          iface: "labman0",
          peerWgPublicKey: PEER_WG,
          restartBackoff: { initialMs: 0 },
        }),
      RangeError,
    );
    await Promise.resolve();
  });
});

Deno.test("supervisor: onInstalled fires only after the key write finished; reinitiate keeps the key; stop leaves no key material", async () => {
  await withRoot(async (root) => {
    const { clock } = fakeClock(1_000_000);
    const children: FakeChild[] = [];
    const writes: { psk: string; dropSession: boolean; done: boolean }[] = [];
    let release: () => void = () => {};
    const backend = {
      async setPeerPsk(_i: string, _p: string, psk: string, o?: { dropSession?: boolean }) {
        const w = { psk, dropSession: o?.dropSession ?? false, done: false };
        writes.push(w);
        // The exchanged key's write is slow: nothing may claim it installed before it ends.
        if (psk === KEY_A && !w.dropSession) await new Promise<void>((r) => release = r);
        w.done = true;
      },
    };
    const installed: { kind: string; writeDone: boolean }[] = [];
    const sup = new RosenpassSupervisor({
      config: await dummyKeysConfig(root),
      backend,
      iface: "labman0",
      peerWgPublicKey: PEER_WG,
      clock,
      maxDownMs: 3_600_000,
      keyLifetimeMs: 3_600_000,
      spawn: () => {
        const c = new FakeChild();
        children.push(c);
        return c;
      },
      onInstalled: (kind) => installed.push({ kind, writeDone: writes.at(-1)!.done }),
    });
    try {
      await sup.start();
      await until(() => installed.length === 1, "the start PSK");
      assert.deepEqual(installed[0], { kind: "random", writeDone: true });
      await Deno.writeTextFile(sup.keyOutPath, KEY_A);
      children[0]!.emit(line(sup.keyOutPath));
      await until(() => writes.some((w) => w.psk === KEY_A), "the exchanged key's write");
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(installed.length, 1, "announced before the write completed");
      release();
      await until(() => installed.length === 2, "the exchanged key announced");
      assert.deepEqual(installed[1], { kind: "exchanged", writeDone: true });

      await sup.reinitiate();
      assert.deepEqual(writes.at(-1), { psk: KEY_A, dropSession: true, done: true });
      assert.equal(installed.length, 2, "re-initiating is not a new key");
    } finally {
      release();
      await sup.stop();
    }
    for (const f of ["peer.osk", "rosenpass.toml", "rosenpass.pid"]) {
      await assert.rejects(Deno.stat(join(sup.configPath, "..", f)), Deno.errors.NotFound, f);
    }
  });
});

Deno.test("supervisor: the default restart delay is capped at 5 s, so a returning link is used at once", async () => {
  await withRoot(async (root) => {
    const { fake: fc, clock } = fakeClock(1_000_000);
    const children: FakeChild[] = [];
    const sup = new RosenpassSupervisor({
      config: await dummyKeysConfig(root),
      backend: new RecordingBackend(),
      iface: "labman0",
      peerWgPublicKey: PEER_WG,
      clock,
      random: () => 1 - Number.EPSILON, // upper edge of the jitter window: the cap itself
      maxDownMs: 3_600_000,
      keyLifetimeMs: 3_600_000,
      spawn: () => {
        const c = new FakeChild();
        children.push(c);
        return c;
      },
    });
    try {
      await sup.start();
      const delays: number[] = [];
      for (let i = 0; i < 8; i++) {
        children.at(-1)!.exit(1);
        await until(() => sup.status().restarts === i + 1, `restart ${i + 1}`);
        let waited = 0;
        while (children.length === i + 1 && waited < 60_000) {
          await fc.tickAsync(100);
          waited += 100;
        }
        delays.push(waited);
      }
      assert.deepEqual(delays, [500, 1_000, 2_000, 4_000, 5_000, 5_000, 5_000, 5_000]);
    } finally {
      await sup.stop();
    }
  });
});
