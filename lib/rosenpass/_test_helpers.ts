/** Test doubles shared by the rosenpass tests (not exported from mod.ts). */
import { join } from "node:path";
import { setupLogging } from "../telemetry/mod.ts";
import { RosenpassSchema } from "../config/schema.ts";
import type { RosenpassConfig } from "../config/schema.ts";
import type { ChildExit, RosenpassChild } from "./child.ts";
import { ROSENPASS_PUBLIC_KEY_BYTES, ROSENPASS_SECRET_KEY_BYTES } from "./keys.ts";

/** A WireGuard backend that only records PSK sets. */
export class RecordingBackend {
  readonly psks: { iface: string; peer: string; psk: string }[] = [];
  setPeerPsk(iface: string, peer: string, psk: string): Promise<void> {
    this.psks.push({ iface, peer, psk });
    return Promise.resolve();
  }
  get last(): string | undefined {
    return this.psks.at(-1)?.psk;
  }
}

const encoder = new TextEncoder();

/** A child whose output and exit the test drives. */
export class FakeChild implements RosenpassChild {
  static nextPid = 1000;
  readonly pid = FakeChild.nextPid++;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly status: Promise<ChildExit>;
  readonly kills: string[] = [];
  #out!: ReadableStreamDefaultController<Uint8Array>;
  #err!: ReadableStreamDefaultController<Uint8Array>;
  #resolve!: (e: ChildExit) => void;
  #exited = false;

  constructor() {
    this.stdout = new ReadableStream({ start: (c) => void (this.#out = c) });
    this.stderr = new ReadableStream({ start: (c) => void (this.#err = c) });
    this.status = new Promise((r) => (this.#resolve = r));
  }
  emit(line: string): void {
    this.#out.enqueue(encoder.encode(line + "\n"));
  }
  emitErr(line: string): void {
    this.#err.enqueue(encoder.encode(line + "\n"));
  }
  exit(code: number, signal: string | null = null): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#out.close();
    this.#err.close();
    this.#resolve({ code, signal });
  }
  kill(signal: Deno.Signal = "SIGTERM"): void {
    this.kills.push(signal);
    this.exit(128 + (signal === "SIGKILL" ? 9 : 15), signal);
  }
}

/**
 * Writes dummy key files of valid size (for supervisors whose child is faked) and returns a
 * rosenpass config pointing at them.
 */
export async function dummyKeysConfig(
  root: string,
  overrides: Partial<RosenpassConfig> = {},
): Promise<RosenpassConfig> {
  const keys = join(root, "keys");
  await Deno.mkdir(keys, { mode: 0o700 });
  await Deno.chmod(keys, 0o700);
  await Deno.writeFile(join(keys, "pqpk"), new Uint8Array(ROSENPASS_PUBLIC_KEY_BYTES));
  await Deno.writeFile(join(keys, "pqsk"), new Uint8Array(ROSENPASS_SECRET_KEY_BYTES[0]!), {
    mode: 0o600,
  });
  await Deno.chmod(join(keys, "pqsk"), 0o600);
  await Deno.writeFile(join(keys, "peer.pqpk"), new Uint8Array(ROSENPASS_PUBLIC_KEY_BYTES));
  return RosenpassSchema.parse({
    binary: "/bin/sh",
    secret_key_path: join(keys, "pqsk"),
    public_key_path: join(keys, "pqpk"),
    peer_public_key_path: join(keys, "peer.pqpk"),
    listen: "127.0.0.1:0",
    state_dir: join(root, "state"),
    ...overrides,
  });
}

/** Routes labman logs (debug and up, JSON lines) into the returned array. */
export function captureLogs(): string[] {
  const lines: string[] = [];
  setupLogging({ level: "debug", format: "json", write: (l) => void lines.push(l) });
  return lines;
}
