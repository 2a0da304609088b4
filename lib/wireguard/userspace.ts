/**
 * The userspace backend: a supervised `wireguard-go -f <name>` per interface, configured over
 * its UAPI unix socket, with address/link/routes applied through rtnetlink like the kernel
 * path. If wireguard-go dies it is restarted and given the last full configuration again.
 *
 * @module
 */
import { join } from "node:path";
import { getLogger } from "../telemetry/mod.ts";
import { backoffDelayMs } from "../timing/mod.ts";
import { applyDelta } from "./device_state.ts";
import { encodeKey, publicKeyFromPrivate } from "./keys.ts";
import { defaultLinkOps, type LinkOps } from "./rtnl.ts";
import { encodeSet, GET_REQUEST, parseErrno, parseGet } from "./uapi.ts";
import type { BackendHealth, InterfaceSpec, WgDevice, WireGuardBackend } from "./types.ts";

const log = getLogger("wireguard", "userspace");
const END_OF_REPLY = /(?:^|\n)errno=-?\d{1,10}\n\n$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * One UAPI exchange over a fresh connection: writes `request`, reads until `errno=N\n\n`.
 * The connection is closed after `timeoutMs` if the reply has not ended.
 */
export async function uapiExchange(
  path: string,
  request: string,
  timeoutMs = 5000,
): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  }, timeoutMs);
  try {
    await conn.write(new TextEncoder().encode(request));
    const dec = new TextDecoder();
    const buf = new Uint8Array(65536);
    let text = "";
    // Bounded: a device with thousands of peers is a few MB; stop at 64 MiB.
    while (text.length < 64 << 20) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
      if (END_OF_REPLY.test(text)) return text;
    }
    throw new Error(
      `Cannot talk to ${path}: connection closed before errno= (got ${text.length} bytes)`,
    );
  } catch (e) {
    if (timedOut) throw new Error(`Cannot talk to ${path}: no reply within ${timeoutMs} ms`);
    throw e;
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
}

export interface UserspaceOptions {
  /** @default "wireguard-go" */
  wireguardGo?: string;
  /** Where wireguard-go puts `<name>.sock`. @default "/var/run/wireguard" */
  socketDir?: string;
  /** rtnetlink operations. @default NetlinkLinkOps, or iproute2 when FFI is unavailable */
  links?: LinkOps;
  /** @default 5000 */
  startTimeoutMs?: number;
  /** Restarts allowed within `restartWindowMs` before giving up. @default 5 */
  maxRestarts?: number;
  /** @default 60000 */
  restartWindowMs?: number;
  /** wireguard-go LOG_LEVEL (verbose|error|silent). @default "error" */
  logLevel?: string;
}

interface Instance {
  spec: InterfaceSpec;
  child?: Deno.ChildProcess;
  drains: Promise<void>[];
  tail: string[];
  desired?: WgDevice;
  stopping: boolean;
  /** wireguard-go answers and link + device state are applied. */
  ready: boolean;
  restarts: number[];
  /** Restarts since create (the window above forgets old ones). */
  restartCount: number;
  restartTimer?: ReturnType<typeof setTimeout>;
  /** Ends a pending restart delay early (on destroy). */
  wake?: () => void;
  /** The restart in progress, if any. */
  restarting?: Promise<void>;
  /** Settles when the current supervision round (exit → restart) is done. */
  supervising?: Promise<void>;
  failed?: Error;
}

export class UserspaceBackend implements WireGuardBackend {
  readonly kind = "userspace" as const;
  readonly #opts: Required<Omit<UserspaceOptions, "links">>;
  readonly #links: LinkOps;
  readonly #ownsLinks: boolean;
  readonly #instances = new Map<string, Instance>();

  constructor(options: UserspaceOptions = {}) {
    this.#opts = {
      wireguardGo: options.wireguardGo ?? "wireguard-go",
      socketDir: options.socketDir ?? "/var/run/wireguard",
      startTimeoutMs: options.startTimeoutMs ?? 5000,
      maxRestarts: options.maxRestarts ?? 5,
      restartWindowMs: options.restartWindowMs ?? 60_000,
      logLevel: options.logLevel ?? "error",
    };
    this.#ownsLinks = !options.links;
    this.#links = options.links ?? defaultLinkOps();
  }

  socketPath(name: string): string {
    return join(this.#opts.socketDir, `${name}.sock`);
  }

  /** The pid of wireguard-go once it is running and configured (for tests and diagnostics). */
  pid(name: string): number | undefined {
    const inst = this.#instances.get(name);
    return inst?.ready ? inst.child?.pid : undefined;
  }

  health(name: string): BackendHealth {
    const inst = this.#instances.get(name);
    if (!inst) return { restarts: 0, failure: `${name} does not exist` };
    return { restarts: inst.restartCount, failure: inst.failed?.message ?? null };
  }

  async create(spec: InterfaceSpec): Promise<void> {
    if (!IFNAME.test(spec.name)) {
      throw new TypeError(`Cannot create interface "${spec.name}": name must match ${IFNAME}`);
    }
    if (this.#instances.has(spec.name)) await this.destroy(spec.name);
    if (await this.#links.deleteLink(spec.name)) {
      log.warn("removed stale interface {name} before creating it", { name: spec.name });
    }
    await Deno.remove(this.socketPath(spec.name)).catch(() => {});
    const inst: Instance = {
      spec,
      drains: [],
      tail: [],
      stopping: false,
      ready: false,
      restarts: [],
      restartCount: 0,
    };
    this.#instances.set(spec.name, inst);
    try {
      await this.#start(inst);
    } catch (e) {
      await this.destroy(spec.name).catch(() => {});
      throw e;
    }
  }

  async set(device: WgDevice): Promise<void> {
    const inst = this.#instance(device.name, "configure");
    // Record first: if wireguard-go dies mid-set, the restart applies the intended state.
    inst.desired = applyDelta(inst.desired, device);
    parseErrno(
      await uapiExchange(
        this.socketPath(device.name),
        encodeSet(device),
        this.#opts.startTimeoutMs,
      ),
      `set device ${device.name}`,
    );
  }

  async get(name: string): Promise<WgDevice> {
    this.#instance(name, "read");
    const device = parseGet(
      await uapiExchange(this.socketPath(name), GET_REQUEST, this.#opts.startTimeoutMs),
      name,
    );
    // UAPI has no public_key line (wg(8) derives it); the kernel reports it: report it too.
    if (device.privateKey && !device.publicKey) {
      device.publicKey = encodeKey(await publicKeyFromPrivate(device.privateKey));
    }
    return device;
  }

  async destroy(name: string): Promise<void> {
    const inst = this.#instances.get(name);
    if (inst) {
      inst.stopping = true;
      clearTimeout(inst.restartTimer);
      inst.wake?.();
      await this.#stopChild(inst);
      await inst.restarting?.catch(() => {});
      // A restart that raced with us may have spawned a fresh child.
      await this.#stopChild(inst);
      await inst.supervising?.catch(() => {});
      this.#instances.delete(name);
    }
    await this.#links.deleteLink(name).catch((e) => log.warn("{error}", { error: String(e) }));
    await Deno.remove(this.socketPath(name)).catch(() => {});
  }

  /** Destroys every interface this backend created and releases the netlink socket. */
  async close(): Promise<void> {
    for (const name of [...this.#instances.keys()]) await this.destroy(name);
    if (this.#ownsLinks) this.#links.close();
  }

  #instance(name: string, verb: string): Instance {
    const inst = this.#instances.get(name);
    if (!inst) throw new Error(`Cannot ${verb} ${name}: not created by this userspace backend`);
    if (inst.failed) throw inst.failed;
    return inst;
  }

  async #start(inst: Instance): Promise<void> {
    const { name } = inst.spec;
    inst.ready = false;
    const child = new Deno.Command(this.#opts.wireguardGo, {
      args: ["-f", name],
      env: { WG_PROCESS_FOREGROUND: "1", LOG_LEVEL: this.#opts.logLevel },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    inst.child = child;
    inst.drains = [this.#drain(inst, child.stdout), this.#drain(inst, child.stderr)];
    let exited = false;
    const exit = child.status.then((s) => {
      exited = true;
      return s;
    });
    inst.supervising = exit.then((status) => this.#onExit(inst, child, status));
    const deadline = Date.now() + this.#opts.startTimeoutMs;
    for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
      if (exited) break;
      try {
        parseGet(await uapiExchange(this.socketPath(name), GET_REQUEST, 1000), name);
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotCapable) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `Cannot start wireguard-go for ${name}: no UAPI socket at ${
            this.socketPath(name)
          } within ${this.#opts.startTimeoutMs} ms`,
        );
      }
    }
    if (exited) {
      throw new Error(
        `Cannot start wireguard-go for ${name}: it exited (${(await exit).code}): ${
          inst.tail.join(" | ")
        }`,
      );
    }
    log.info("wireguard-go started for {name} (pid {pid})", { name, pid: child.pid });
    await this.#configureLink(inst.spec);
    if (inst.desired) {
      parseErrno(
        await uapiExchange(
          this.socketPath(name),
          encodeSet(inst.desired),
          this.#opts.startTimeoutMs,
        ),
        `restore device ${name}`,
      );
    }
    inst.ready = true;
  }

  async #configureLink(spec: InterfaceSpec): Promise<void> {
    // Invariant 1: the only address on the link is the configured one, so no IPv6 link-local.
    await this.#links.disableLinkLocal(spec.name).catch((e) =>
      log.debug("cannot disable IPv6 link-local on {name}: {error}", {
        name: spec.name,
        error: String(e),
      })
    );
    // Up before routes: the kernel refuses routes through a link that is down.
    await this.#links.setLink(spec.name, { up: true, mtu: spec.mtu ?? 1420 });
    await this.#links.addAddress(spec.name, spec.address);
    for (const r of spec.routes) await this.#links.addRoute(spec.name, r);
  }

  async #drain(inst: Instance, stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        inst.tail = [...inst.tail.slice(-9), line];
        log.debug("wireguard-go[{name}]: {line}", { name: inst.spec.name, line });
      }
    }
  }

  async #stopChild(inst: Instance): Promise<void> {
    const child = inst.child;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }, 3000);
    try {
      await child.status;
      await Promise.all(inst.drains);
    } finally {
      clearTimeout(killer);
    }
  }

  async #onExit(inst: Instance, child: Deno.ChildProcess, status: Deno.CommandStatus) {
    await Promise.all(inst.drains).catch(() => {});
    if (inst.stopping || inst.child !== child) return;
    const now = Date.now();
    inst.restarts = inst.restarts.filter((t) => now - t < this.#opts.restartWindowMs);
    if (inst.restarts.length >= this.#opts.maxRestarts) {
      inst.failed = new Error(
        `Cannot keep ${inst.spec.name} up: wireguard-go exited ${
          inst.restarts.length + 1
        } times within ${this.#opts.restartWindowMs} ms (last: code ${status.code}: ${
          inst.tail.join(" | ")
        })`,
      );
      log.error("{error}", { error: inst.failed.message });
      return;
    }
    inst.restarts.push(now);
    inst.restartCount++;
    // Exact doubling from 100 ms: one local child, nothing to spread apart.
    const delay = backoffDelayMs(inst.restarts.length - 1, {
      initialMs: 100,
      maxMs: 10_000,
      jitter: 0,
    });
    log.warn("wireguard-go for {name} exited (code {code}); restarting in {delay} ms", {
      name: inst.spec.name,
      code: status.code,
      delay,
    });
    let done!: () => void;
    inst.restarting = new Promise<void>((r) => done = r);
    try {
      await new Promise<void>((resolve) => {
        inst.wake = resolve;
        inst.restartTimer = setTimeout(resolve, delay);
      });
      inst.wake = undefined;
      if (inst.stopping) return;
      await this.#links.deleteLink(inst.spec.name);
      await Deno.remove(this.socketPath(inst.spec.name)).catch(() => {});
      await this.#start(inst);
    } catch (e) {
      log.error("restarting wireguard-go for {name} failed: {error}", {
        name: inst.spec.name,
        error: String(e),
      });
      if (!inst.stopping) await this.#stopChild(inst).catch(() => {});
      inst.failed = e as Error;
    } finally {
      done();
    }
  }
}
