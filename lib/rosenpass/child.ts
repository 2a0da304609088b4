/**
 * The rosenpass child process seam: the supervisor only needs pid, the two output streams, the
 * exit status and kill, so tests can hand it a fake.
 *
 * @module
 */

export interface ChildExit {
  code: number;
  signal: string | null;
}

export interface RosenpassChild {
  readonly pid: number;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly status: Promise<ChildExit>;
  kill(signal?: Deno.Signal): void;
}

export type SpawnRosenpass = (binary: string, configPath: string) => RosenpassChild;

/**
 * Spawns `rosenpass exchange-config <configPath>` under umask 077: rosenpass 0.2.x creates
 * `key_out` with the process umask, and Deno.Command cannot set one, so `sh` sets it and
 * `exec`s rosenpass (same pid, no shell left holding the pipes).
 */
export function spawnRosenpass(
  binary: string,
  configPath: string,
  options: {
    /** Command prefix that execs what follows, e.g. `["ip", "netns", "exec", ns]` (tests). */
    prefix?: string[];
  } = {},
): RosenpassChild {
  const argv = [
    ...(options.prefix ?? []),
    "/bin/sh",
    "-c",
    'umask 077; exec "$0" "$@"',
    binary,
    "exchange-config",
    configPath,
  ];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    status: child.status.then((s) => ({ code: s.code, signal: s.signal })),
    kill: (signal) => child.kill(signal),
  };
}

/**
 * Calls `onLine` for each line of `stream` in order, awaiting each call so a line is fully
 * handled before the next. Lines longer than `maxLineLength` are cut there (the rest of that
 * line is dropped) so a misbehaving child cannot grow memory without bound.
 */
export async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => Promise<void> | void,
  maxLineLength = 4096,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let dropping = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (dropping) dropping = false;
        else await onLine(line);
      }
      if (buf.length > maxLineLength) {
        if (!dropping) await onLine(buf.slice(0, maxLineLength));
        dropping = true;
        buf = "";
      }
    }
    if (buf.length && !dropping) await onLine(buf);
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
}
