/**
 * systemd's readiness protocol (`sd_notify`): one datagram of `KEY=value` lines sent to the
 * unix socket named by `$NOTIFY_SOCKET`. Deno has no stable unix datagram client, so this goes
 * through FFI to libc's `socket`/`sendto` with byte-buffer arguments only (no pointers), which
 * works under a path-restricted `--allow-ffi`.
 *
 * @module
 */

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH_MAX = 108;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** `sockaddr_un` for a filesystem path or an abstract name (leading `@`). */
export function encodeSockaddrUn(path: string): Uint8Array {
  const name = new TextEncoder().encode(path.startsWith("@") ? `\0${path.slice(1)}` : path);
  if (name.length === 0 || name.length >= SUN_PATH_MAX) {
    throw new RangeError(
      `Cannot notify systemd: NOTIFY_SOCKET "${path}" is not a usable socket path`,
    );
  }
  // Abstract names are length-delimited; path names are NUL-terminated.
  const abstract = path.startsWith("@");
  const addr = new Uint8Array(2 + name.length + (abstract ? 0 : 1));
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  return addr;
}

/** The datagram for a set of fields, e.g. `{ READY: "1", STATUS: "serving" }`. */
export function encodeNotifyMessage(fields: Record<string, string>): Uint8Array {
  const lines = Object.entries(fields).map(([k, v]) => {
    if (!/^[A-Z_]+$/.test(k) || v.includes("\n")) {
      throw new TypeError(`Cannot notify systemd: invalid field ${k}`);
    }
    return `${k}=${v}`;
  });
  return new TextEncoder().encode(lines.join("\n") + "\n");
}

function libcPath(): string {
  return `/lib/${Deno.build.arch}-linux-gnu/libc.so.6`;
}

/**
 * Sends fields to systemd when running under `Type=notify`; a no-op (returns false) when
 * `NOTIFY_SOCKET` is unset. Never throws: readiness reporting must not take the daemon down.
 */
export function sdNotify(
  fields: Record<string, string>,
  socketPath: string | undefined = Deno.env.get("NOTIFY_SOCKET"),
): boolean {
  if (!socketPath) return false;
  let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
  try {
    lib = Deno.dlopen(libcPath(), SYMBOLS);
    const fd = lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    try {
      const msg = encodeNotifyMessage(fields);
      const addr = encodeSockaddrUn(socketPath);
      return lib.symbols.sendto(fd, msg, BigInt(msg.length), 0, addr, addr.length) >= 0;
    } finally {
      lib.symbols.close(fd);
    }
  } catch {
    return false;
  } finally {
    lib?.close();
  }
}
