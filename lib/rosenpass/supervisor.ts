/**
 * Runs rosenpass as a supervised child and turns its keys into WireGuard PSKs, failing closed
 * (design §4 invariant 6). Keys come from `key_out` files announced on stdout; the PSK guard
 * installs random keys whenever no fresh exchanged key can be vouched for.
 *
 * @module
 */
import { join } from "node:path";
import { Registry } from "prom-client";
import type { RosenpassConfig } from "../config/mod.ts";
import { backoffDelayMs, type Clock, systemClock } from "../timing/mod.ts";
import { getLogger, type Logger } from "../telemetry/mod.ts";
import type { Base64Key } from "../wireguard/mod.ts";
import {
  type ChildExit,
  forEachLine,
  type RosenpassChild,
  type SpawnRosenpass,
  spawnRosenpass,
} from "./child.ts";
import { renderRosenpassConfig } from "./config_file.ts";
import { checkRosenpassKeyFiles } from "./keys.ts";
import { createRosenpassMetrics, type RosenpassMetrics } from "./metrics.ts";
import { parseRosenpassOutputLine } from "./output_parser.ts";
import { type GuardDecision, type GuardEvent, type PqState, PskGuard } from "./psk_guard.ts";
import { readRosenpassKey } from "./read_key.ts";
import { resolveRosenpassBinary } from "./resolve_binary.ts";
import { reapStaleRosenpass } from "./stale_child.ts";

/**
 * Where negotiated PSKs go: labmand passes the WireGuard `setPeerPsk` function bound to its
 * backend; tests record. `dropSession` asks for the peer's live session to be discarded.
 */
export interface PskTarget {
  setPeerPsk(
    iface: string,
    peerPublicKey: Base64Key,
    psk: Base64Key,
    options?: { dropSession?: boolean },
  ): Promise<void>;
}

export interface RosenpassSupervisorOptions {
  config: RosenpassConfig;
  backend: PskTarget;
  /** WireGuard interface the PSK belongs to. */
  iface: string;
  /** WireGuard public key of the peer whose PSK rosenpass negotiates. */
  peerWgPublicKey: Base64Key;
  /** Peer's Rosenpass public key file. @default config.peer_public_key_path */
  peerPublicKeyPath?: string;
  /**
   * Peer's rosenpass `host:port`; its presence makes this side the initiator. `null` forces the
   * responder role. @default config.peer_endpoint
   */
  peerEndpoint?: string | null;
  /** @default [config.listen] */
  listen?: string[];
  /** @default config.key_lifetime_s * 1000 */
  keyLifetimeMs?: number;
  /** How long rosenpass may be down before the PSK is replaced. @default 30000 */
  maxDownMs?: number;
  /**
   * Restart backoff bounds (jittered exponential). The cap is short on purpose: rosenpass exits on
   * the first network error, so during a link outage it dies at every restart, and a long delay
   * would push the first exchange after the link returns past the key lifetime.
   * @default { initialMs: 500, maxMs: 5000 }
   */
  restartBackoff?: { initialMs?: number; maxMs?: number };
  /** A child that ran this long resets the backoff. @default 60000 */
  stableRunMs?: number;
  /** Where the metrics go. @default a private Registry */
  registry?: Registry;
  /** @default real time */
  clock?: Clock;
  /** Uniform [0, 1) for restart jitter. @default Math.random */
  random?: () => number;
  /** @default spawnRosenpass (real process under umask 077) */
  spawn?: SpawnRosenpass;
  /** @default getLogger("rosenpass") */
  logger?: Logger;
  /**
   * Called after a PSK was written to the interface (not merely received): READY=1 waits for
   * the first `exchanged` one.
   */
  onInstalled?: (kind: "exchanged" | "random") => void;
}

export interface RosenpassStatus {
  state: PqState;
  /** Seconds since the installed PSK (exchanged or random) was set; null before the first. */
  psk_age_s: number | null;
  exchanges: number;
  restarts: number;
}

export class RosenpassSupervisor {
  readonly #o: RosenpassSupervisorOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #metrics: RosenpassMetrics;
  readonly #guard: PskGuard;
  readonly #spawn: SpawnRosenpass;
  readonly #stateDir: string;
  readonly #peerEndpoint: string | undefined;
  #state: PqState = "waiting";
  #binary = "";
  #child: RosenpassChild | null = null;
  #childDone: Promise<void> = Promise.resolve();
  #childStartedAt = 0;
  #expectedExit = false;
  #restartTimer: unknown = undefined;
  #attempt = 0;
  #exchanges = 0;
  #restarts = 0;
  #rejected = 0;
  #installedAtMs: number | null = null;
  #lastPsk: string | null = null;
  #pskChain: Promise<void> = Promise.resolve();
  #started = false;
  #stopping = false;

  constructor(options: RosenpassSupervisorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? getLogger("rosenpass");
    this.#spawn = options.spawn ?? spawnRosenpass;
    this.#stateDir = options.config.state_dir;
    const endpoint = options.peerEndpoint === undefined
      ? options.config.peer_endpoint
      : options.peerEndpoint;
    this.#peerEndpoint = endpoint ?? undefined;
    // Fail on bad backoff bounds now, not inside an exit handler later.
    this.#restartDelay(0);
    this.#metrics = createRosenpassMetrics(options.registry ?? new Registry(), () => this.#age());
    this.#guard = new PskGuard(
      {
        keyLifetimeMs: options.keyLifetimeMs ?? options.config.key_lifetime_s * 1000,
        maxDownMs: options.maxDownMs ?? 30_000,
      },
      (d, e) => this.#onGuard(d, e),
      this.#clock,
    );
    this.#metrics.setState(options.config.enabled ? "waiting" : "disabled");
    if (!options.config.enabled) this.#state = "disabled";
  }

  /** This side initiates handshakes (it knows the peer's endpoint). */
  get isInitiator(): boolean {
    return this.#peerEndpoint !== undefined;
  }
  /** The generated rosenpass config. */
  get configPath(): string {
    return join(this.#stateDir, "rosenpass.toml");
  }
  /** Pid of the running child, so a successor can stop it if this process dies uncleanly. */
  get pidPath(): string {
    return join(this.#stateDir, "rosenpass.pid");
  }
  /** Where rosenpass writes each key. */
  get keyOutPath(): string {
    return join(this.#stateDir, "peer.osk");
  }
  /** pid of the running rosenpass child, if any. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }
  /** Keys read from `key_out` and refused (never applied). */
  get rejectedKeys(): number {
    return this.#rejected;
  }

  status(): RosenpassStatus {
    return {
      state: this.#state,
      psk_age_s: this.#age(),
      exchanges: this.#exchanges,
      restarts: this.#restarts,
    };
  }

  /**
   * Writes the config, installs a random PSK and starts rosenpass. With `rosenpass.enabled =
   * false` it only warns (every start) and does nothing else.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error("Cannot start rosenpass supervisor: already started");
    this.#started = true;
    const cfg = this.#o.config;
    if (!cfg.enabled) {
      this.#log.warn(
        "Rosenpass is disabled (rosenpass.enabled = false): the WireGuard tunnel has no post-quantum PSK",
      );
      return;
    }
    const peerPk = this.#o.peerPublicKeyPath ?? cfg.peer_public_key_path;
    if (!peerPk) {
      throw new Error(
        "Cannot start rosenpass: no peer public key — set rosenpass.peer_public_key_path or register with the control plane first",
      );
    }
    this.#binary = resolveRosenpassBinary(cfg.binary);
    await checkRosenpassKeyFiles({
      secretKeyPath: cfg.secret_key_path,
      publicKeyPath: cfg.public_key_path,
    });
    await Deno.mkdir(this.#stateDir, { recursive: true, mode: 0o700 });
    await Deno.chmod(this.#stateDir, 0o700);
    const text = renderRosenpassConfig({
      publicKeyPath: cfg.public_key_path,
      secretKeyPath: cfg.secret_key_path,
      listen: this.#o.listen ?? [cfg.listen],
      peer: { publicKeyPath: peerPk, endpoint: this.#peerEndpoint, keyOutPath: this.keyOutPath },
    });
    const reaped = await reapStaleRosenpass(this.pidPath, this.configPath);
    if (reaped !== null) {
      this.#log.warn("Stopped a leftover rosenpass (pid {pid}) from an earlier run", {
        pid: reaped,
      });
    }
    await Deno.writeTextFile(this.configPath, text, { mode: 0o600 });
    await Deno.chmod(this.configPath, 0o600);
    // A key left by an earlier run must never be mistaken for a fresh one.
    await Deno.remove(this.keyOutPath).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    this.#guard.handle("start");
    this.#log.info("Starting rosenpass ({role}) for {iface}", {
      role: this.isInitiator ? "initiator" : "responder",
      iface: this.#o.iface,
      endpoint: this.#peerEndpoint ?? null,
    });
    this.#spawnChild();
  }

  /** Stops rosenpass and every timer; waits for pending PSK writes. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#guard.stop();
    if (this.#restartTimer !== undefined) this.#clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const child = this.#child;
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      // 0.2.x dies on SIGTERM (no handler); escalate if it ever ignores it.
      const escalate = this.#clock.setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 2_000);
      await this.#childDone;
      this.#clock.clearTimeout(escalate);
    }
    await this.#childDone;
    await this.#pskChain;
    // No key material outlives the run: the last PSK and the generated config go with it.
    for (const path of [this.pidPath, this.keyOutPath, this.configPath]) {
      await Deno.remove(path).catch(() => {});
    }
  }

  /**
   * Drops the peer's WireGuard session, keeping the PSK now installed, so the next keepalive
   * starts a fresh handshake (the control plane restarted its WireGuard). Serialized with PSK
   * installs, so it can never put back a key the guard has just replaced.
   */
  reinitiate(): Promise<void> {
    if (this.#stopping || this.#lastPsk === null) return Promise.resolve();
    this.#pskChain = this.#pskChain.then(async () => {
      const psk = this.#lastPsk;
      if (this.#stopping || psk === null) return;
      try {
        await this.#o.backend.setPeerPsk(this.#o.iface, this.#o.peerWgPublicKey, psk, {
          dropSession: true,
        });
      } catch (err) {
        this.#log.warn("Cannot re-initiate the handshake on {iface}: {error}", {
          iface: this.#o.iface,
          error: (err as Error).message,
        });
      }
    });
    return this.#pskChain;
  }

  #age(): number | null {
    return this.#installedAtMs === null ? null : (this.#clock.now() - this.#installedAtMs) / 1000;
  }

  #setState(s: PqState): void {
    if (s === this.#state) return;
    this.#log.info("Rosenpass PSK state {from} -> {to}", { from: this.#state, to: s });
    this.#state = s;
    this.#metrics.setState(s);
  }

  #spawnChild(): void {
    if (this.#stopping) return;
    let child: RosenpassChild;
    try {
      child = this.#spawn(this.#binary, this.configPath);
    } catch (err) {
      this.#log.error("Cannot spawn rosenpass {binary}: {error}", {
        binary: this.#binary,
        error: (err as Error).message,
      });
      this.#guard.handle("child_exit");
      this.#scheduleRestart({ code: -1, signal: null });
      return;
    }
    this.#child = child;
    this.#childStartedAt = this.#clock.now();
    try {
      Deno.writeTextFileSync(this.pidPath, `${child.pid}\n`, { mode: 0o600 });
    } catch (err) {
      this.#log.warn("Cannot record the rosenpass pid: {error}", { error: (err as Error).message });
    }
    this.#guard.handle("child_spawn");
    const out = forEachLine(child.stdout, (line) => this.#onStdout(line)).catch((err) =>
      this.#log.error("Cannot read rosenpass stdout: {error}", { error: String(err) })
    );
    const err = forEachLine(child.stderr, (line) => {
      this.#log.warn("rosenpass: {line}", { line, pid: child.pid });
    }).catch((e) => this.#log.error("Cannot read rosenpass stderr: {error}", { error: String(e) }));
    this.#childDone = (async () => {
      const status = await child.status;
      await Promise.all([out, err]);
      this.#onExit(child, status);
    })();
  }

  #onExit(child: RosenpassChild, status: ChildExit): void {
    if (this.#child === child) this.#child = null;
    if (this.#stopping) return;
    if (this.#expectedExit) {
      this.#expectedExit = false;
      this.#spawnChild();
      return;
    }
    this.#restarts++;
    this.#metrics.restarts.inc();
    if (this.#clock.now() - this.#childStartedAt >= (this.#o.stableRunMs ?? 60_000)) {
      this.#attempt = 0;
    }
    this.#guard.handle("child_exit");
    this.#scheduleRestart(status);
  }

  #scheduleRestart(status: ChildExit): void {
    const delay = this.#restartDelay(this.#attempt);
    this.#attempt++;
    this.#log.warn(
      "rosenpass exited (code {code}, signal {signal}); restart #{restarts} in {delay} ms",
      {
        code: status.code,
        signal: status.signal,
        restarts: this.#restarts,
        delay,
      },
    );
    this.#restartTimer = this.#clock.setTimeout(() => {
      this.#restartTimer = undefined;
      this.#spawnChild();
    }, delay);
  }

  #restartDelay(attempt: number): number {
    return backoffDelayMs(attempt, {
      initialMs: this.#o.restartBackoff?.initialMs ?? 500,
      maxMs: this.#o.restartBackoff?.maxMs ?? 5_000,
      random: this.#o.random,
    });
  }

  async #onStdout(line: string): Promise<void> {
    const out = parseRosenpassOutputLine(line);
    if (out.kind === "unexpected") {
      this.#log.error("Ignoring unexpected rosenpass output {line}: {reason}", {
        line: line.slice(0, 200),
        reason: out.reason,
      });
      return;
    }
    if (out.keyFile !== this.keyOutPath) {
      this.#log.error("Ignoring rosenpass key for unknown file {file} (expected {expected})", {
        file: out.keyFile,
        expected: this.keyOutPath,
      });
      return;
    }
    if (out.status === "stale") {
      this.#metrics.stale.inc();
      this.#log.warn("rosenpass reports the key stale: installing a random PSK");
      this.#guard.handle("stale");
      return;
    }
    const key = await readRosenpassKey(this.keyOutPath);
    if (!key.ok) {
      this.#rejected++;
      this.#log.error("Rejected rosenpass key in {file}: {error}; the PSK was not changed", {
        file: this.keyOutPath,
        error: key.error,
      });
      return;
    }
    if (this.#stopping) return;
    // Enqueue and tell the guard in one synchronous step so a deadline tick cannot slip in
    // between and leave a random key installed under an "active" state.
    this.#install(key.psk, "exchanged");
    this.#exchanges++;
    this.#metrics.exchanges.inc();
    this.#attempt = 0;
    this.#guard.handle("exchanged");
  }

  #onGuard(d: GuardDecision, event: GuardEvent): void {
    this.#setState(d.next.state);
    if (d.installRandom) {
      const level = d.installRandom === "start" ? "info" : "warn";
      this.#log[level](
        "Installing a random PSK on {iface} ({reason}): fail closed until the next exchange",
        {
          iface: this.#o.iface,
          reason: d.installRandom,
          event,
        },
      );
      this.#install(randomPsk(this.#lastPsk), "random");
    }
    if (d.reinitiate && this.isInitiator && this.#child && !this.#expectedExit) {
      this.#log.info("No fresh key within the key lifetime: restarting rosenpass to re-initiate");
      this.#expectedExit = true;
      try {
        this.#child.kill("SIGTERM");
      } catch {
        this.#expectedExit = false;
      }
    }
  }

  #install(psk: string, kind: "exchanged" | "random"): void {
    this.#lastPsk = psk;
    this.#pskChain = this.#pskChain.then(async () => {
      if (this.#stopping && kind === "exchanged") return;
      try {
        // A fail-closed key must stop traffic now, not at WireGuard's next rekey.
        await this.#o.backend.setPeerPsk(this.#o.iface, this.#o.peerWgPublicKey, psk, {
          dropSession: kind === "random",
        });
        this.#installedAtMs = this.#clock.now();
        try {
          this.#o.onInstalled?.(kind);
        } catch (err) {
          this.#log.error("onInstalled callback threw: {error}", { error: String(err) });
        }
      } catch (err) {
        this.#log.error("Cannot set the {kind} PSK on {iface}: {error}", {
          kind,
          iface: this.#o.iface,
          error: (err as Error).message,
        });
      }
    });
  }
}

/** A fresh random 32-byte PSK: never all-zero (which WireGuard reads as "no PSK"), never `avoid`. */
export function randomPsk(avoid: string | null = null): string {
  // A repeat needs 2^-256 luck; the bound only keeps the loop finite.
  for (let i = 0; i < 8; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    if (bytes.every((b) => b === 0)) continue;
    const b64 = btoa(String.fromCharCode(...bytes));
    if (b64 !== avoid) return b64;
  }
  throw new Error("Cannot generate a random PSK: crypto.getRandomValues keeps repeating");
}
