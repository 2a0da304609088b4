/**
 * A netlink socket through FFI to libmnl. Only libmnl's socket calls are used, with byte
 * buffers and the opaque `struct mnl_socket *` passed back as a "pointer" value: that works
 * under `--allow-ffi=<absolute path of libmnl.so.0>` (checked on Deno 2.9.6), whereas libmnl's
 * callback API (`mnl_cb_run`) would need unrestricted `--allow-ffi`. Messages are built and
 * parsed in TypeScript (`nlmsg.ts`).
 *
 * @module
 */
import {
  NetlinkError,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  type NlMsg,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  parseError,
  parseMessages,
} from "./nlmsg.ts";

export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const RECV_BUFFER = 32768;
/** A dump of every route on a busy host stays well under this; a runaway loop does not. */
const MAX_RECV_CALLS = 100_000;

const SYMBOLS = {
  mnl_socket_open: { parameters: ["i32"], result: "pointer" },
  mnl_socket_bind: { parameters: ["pointer", "u32", "i32"], result: "i32" },
  mnl_socket_get_portid: { parameters: ["pointer"], result: "u32" },
  mnl_socket_setsockopt: { parameters: ["pointer", "i32", "buffer", "u32"], result: "i32" },
  mnl_socket_sendto: { parameters: ["pointer", "buffer", "usize"], result: "isize" },
  mnl_socket_recvfrom: {
    parameters: ["pointer", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  mnl_socket_close: { parameters: ["pointer"], result: "i32" },
} as const;

type Libmnl = Deno.DynamicLibrary<typeof SYMBOLS>;

/** Where Debian-style systems keep libmnl; the FFI permission compares this exact text. */
export function libmnlCandidates(): string[] {
  const triplet = `${Deno.build.arch}-linux-gnu`;
  return [
    `/usr/lib/${triplet}/libmnl.so.0`,
    `/lib/${triplet}/libmnl.so.0`,
    "/usr/lib64/libmnl.so.0",
    "/usr/lib/libmnl.so.0",
  ];
}

/**
 * Opens libmnl. Each socket holds its own handle (dlopen is reference-counted by libc) so that
 * closing the socket releases everything it loaded. Throws with the paths tried.
 */
export function loadLibmnl(path?: string): Libmnl {
  const errors: string[] = [];
  for (const p of path ? [path] : libmnlCandidates()) {
    try {
      return Deno.dlopen(p, SYMBOLS);
    } catch (e) {
      errors.push(`${p}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `Cannot load libmnl: ${errors.join("; ")} — install libmnl0 and run with --allow-ffi=<path>`,
  );
}

/** True when libmnl can be loaded with the current permissions. */
export function ffiAvailable(): boolean {
  try {
    loadLibmnl().close();
    return true;
  } catch {
    return false;
  }
}

/**
 * One bound netlink socket. Requests are serialised (one outstanding sequence number at a
 * time) so replies never interleave.
 */
export class NetlinkSocket {
  #lib: Libmnl;
  #nl: Deno.PointerValue;
  #seq = Math.floor(Math.random() * 0x7fffffff);
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly portId: number;

  private constructor(lib: Libmnl, nl: Deno.PointerValue) {
    this.#lib = lib;
    this.#nl = nl;
    this.portId = lib.symbols.mnl_socket_get_portid(nl);
  }

  /** Opens and binds a socket on `bus` (NETLINK_ROUTE or NETLINK_GENERIC). */
  static open(bus: number, options: { libraryPath?: string } = {}): NetlinkSocket {
    const l = loadLibmnl(options.libraryPath);
    const nl = l.symbols.mnl_socket_open(bus);
    if (nl === null) {
      l.close();
      throw new Error(`Cannot open netlink socket (bus ${bus}): mnl_socket_open failed`);
    }
    if (l.symbols.mnl_socket_bind(nl, 0, 0) < 0) {
      l.symbols.mnl_socket_close(nl);
      l.close();
      throw new Error(`Cannot bind netlink socket (bus ${bus}): mnl_socket_bind failed`);
    }
    // Extended acks give readable kernel error strings; capped acks keep error replies short.
    const one = new Uint8Array(new Int32Array([1]).buffer);
    l.symbols.mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, one, 4);
    l.symbols.mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, one, 4);
    return new NetlinkSocket(l, nl);
  }

  /**
   * Sends one request and collects the replies: for a dump until NLMSG_DONE, otherwise until
   * the ACK (the request must carry NLM_F_ACK). Throws NetlinkError on a negative ack.
   * `what` completes the error message: "Cannot <what>: EEXIST …".
   */
  request(msg: Uint8Array, what: string): Promise<NlMsg[]> {
    const run = this.#queue.then(() => this.#request(msg, what));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Sends several requests in order (each waits for its ACK), e.g. a split WireGuard SET. */
  async requestAll(msgs: Uint8Array[], what: string): Promise<NlMsg[]> {
    const out: NlMsg[] = [];
    for (const m of msgs) out.push(...await this.request(m, what));
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.symbols.mnl_socket_close(this.#nl);
    this.#lib.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #request(msg: Uint8Array, what: string): Promise<NlMsg[]> {
    if (this.#closed) throw new Error(`Cannot ${what}: netlink socket is closed`);
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    view.setUint32(8, seq, true);
    const dump = (view.getUint16(6, true) & NLM_F_DUMP) === NLM_F_DUMP;
    const sent = this.#lib.symbols.mnl_socket_sendto(this.#nl, msg, BigInt(msg.length));
    if (Number(sent) !== msg.length) throw new Error(`Cannot ${what}: netlink sendto failed`);
    const replies: NlMsg[] = [];
    const buf = new Uint8Array(RECV_BUFFER);
    for (let i = 0; i < MAX_RECV_CALLS; i++) {
      const n = Number(
        await this.#lib.symbols.mnl_socket_recvfrom(this.#nl, buf, BigInt(buf.length)),
      );
      if (n < 0) throw new Error(`Cannot ${what}: netlink recvfrom failed`);
      for (const m of parseMessages(buf.slice(0, n))) {
        if (m.seq !== seq || m.type === NLMSG_NOOP) continue;
        if (m.type === NLMSG_ERROR) {
          const { errno, extack } = parseError(m);
          if (errno !== 0) throw new NetlinkError(errno, what, extack);
          if (!dump) return replies;
          continue;
        }
        if (m.type === NLMSG_DONE) {
          if (m.flags & NLM_F_DUMP_INTR) throw new NetlinkError(4, `${what} (dump interrupted)`);
          const err = m.payload.length >= 4
            ? -new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true)
            : 0;
          if (err !== 0) throw new NetlinkError(err, what);
          return replies;
        }
        replies.push(m);
      }
    }
    throw new Error(`Cannot ${what}: no end of netlink reply after ${MAX_RECV_CALLS} reads`);
  }
}
