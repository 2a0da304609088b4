/**
 * Netlink message framing shared by rtnetlink and generic netlink: `nlmsghdr`, `nlattr`
 * (4-byte aligned, NLA_F_NESTED), NLMSG_ERROR/NLMSG_DONE, built and parsed in TypeScript so
 * the FFI layer only moves byte buffers. Layout from `include/uapi/linux/netlink.h`.
 *
 * @module
 */
import { errnoName } from "./errno.ts";

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** On NLMSG_ERROR: the echoed request was cut to its header / extended-ack TLVs follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** NLMSGERR_ATTR_MSG in the extended ack. */
const NLMSGERR_ATTR_MSG = 1;

export const align4 = (n: number): number => (n + 3) & ~3;

export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Bytes after the 16-byte header (family header + attributes). */
  payload: Uint8Array;
}

export interface NlAttr {
  /** Type with NESTED/NET_BYTEORDER bits stripped. */
  type: number;
  nested: boolean;
  value: Uint8Array;
}

/** A netlink request failed: `errno` is positive (e.g. 17 for EEXIST). */
export class NetlinkError extends Error {
  constructor(readonly errno: number, what: string, readonly extack?: string) {
    super(
      `Cannot ${what}: ${errnoName(errno)} (${-errno})${extack ? ` — kernel says: ${extack}` : ""}`,
    );
    this.name = "NetlinkError";
  }
}

/**
 * Builds one netlink message with a fixed budget, like libmnl's `*_check` helpers: `fits()`
 * lets a caller (the WireGuard SET splitter) stop before overflowing the budget.
 */
export class NlBuilder {
  #buf: Uint8Array;
  #view: DataView;
  #len = NLMSG_HDRLEN;

  constructor(type: number, flags: number, seq = 0, readonly limit = 32768) {
    this.#buf = new Uint8Array(limit);
    this.#view = new DataView(this.#buf.buffer);
    this.#view.setUint16(4, type, true);
    this.#view.setUint16(6, flags, true);
    this.#view.setUint32(8, seq, true);
  }

  get length(): number {
    return this.#len;
  }

  /** Whether an attribute with `payloadLen` bytes still fits (plus `reserve` for closing). */
  fits(payloadLen: number, reserve = 0): boolean {
    return this.#len + align4(NLA_HDRLEN + payloadLen) + reserve <= this.limit;
  }

  /** Appends a fixed family header (ifinfomsg, genlmsghdr, …), padded to 4 bytes. */
  extra(bytes: Uint8Array): this {
    this.#ensure(align4(bytes.length));
    this.#buf.set(bytes, this.#len);
    this.#len += align4(bytes.length);
    return this;
  }

  bytes(type: number, value: Uint8Array): this {
    const total = NLA_HDRLEN + value.length;
    if (total > 0xffff) throw new RangeError(`Cannot add netlink attribute ${type}: too long`);
    this.#ensure(align4(total));
    this.#view.setUint16(this.#len, total, true);
    this.#view.setUint16(this.#len + 2, type, true);
    this.#buf.set(value, this.#len + NLA_HDRLEN);
    this.#buf.fill(0, this.#len + total, this.#len + align4(total));
    this.#len += align4(total);
    return this;
  }

  u8(type: number, v: number): this {
    return this.bytes(type, Uint8Array.of(v));
  }

  u16(type: number, v: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    return this.bytes(type, b);
  }

  u32(type: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return this.bytes(type, b);
  }

  u64(type: number, v: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    return this.bytes(type, b);
  }

  strz(type: number, s: string): this {
    const enc = new TextEncoder().encode(s);
    const b = new Uint8Array(enc.length + 1);
    b.set(enc);
    return this.bytes(type, b);
  }

  /** Opens a nest (NLA_F_NESTED set) and returns its offset for `nestEnd`/`nestCancel`. */
  nestStart(type: number): number {
    const at = this.#len;
    this.#ensure(NLA_HDRLEN);
    this.#view.setUint16(at + 2, type | NLA_F_NESTED, true);
    this.#len += NLA_HDRLEN;
    return at;
  }

  nestEnd(at: number): void {
    const len = this.#len - at;
    if (len > 0xffff) throw new RangeError("Cannot close netlink nest: longer than 64 KiB");
    this.#view.setUint16(at, len, true);
  }

  nestCancel(at: number): void {
    this.#len = at;
  }

  /** Returns a copy with nlmsg_len filled in. */
  finish(): Uint8Array {
    this.#view.setUint32(0, this.#len, true);
    return this.#buf.slice(0, this.#len);
  }

  #ensure(n: number): void {
    if (this.#len + n > this.limit) {
      throw new RangeError(`Cannot build netlink message: exceeds ${this.limit}-byte budget`);
    }
  }
}

/** Splits a receive buffer into messages; throws on a truncated or malformed header. */
export function parseMessages(buf: Uint8Array): NlMsg[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlMsg[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new SyntaxError(`Cannot parse netlink message at byte ${off}: length ${len} invalid`);
    }
    out.push({
      type: view.getUint16(off + 4, true),
      flags: view.getUint16(off + 6, true),
      seq: view.getUint32(off + 8, true),
      pid: view.getUint32(off + 12, true),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  if (off < buf.length && buf.length - off >= NLMSG_HDRLEN) {
    throw new SyntaxError(`Cannot parse netlink messages: ${buf.length - off} trailing bytes`);
  }
  return out;
}

/** Parses a run of attributes (e.g. after a family header, or a nest's value). */
export function parseAttrs(buf: Uint8Array): NlAttr[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlAttr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = view.getUint16(off, true);
    const rawType = view.getUint16(off + 2, true);
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw new SyntaxError(`Cannot parse netlink attribute at byte ${off}: length ${len} invalid`);
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      value: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Typed readers for attribute values; each checks the exact length. */
export const attr = {
  u8(a: NlAttr): number {
    expectLen(a, 1);
    return a.value[0];
  },
  u16(a: NlAttr): number {
    expectLen(a, 2);
    return dv(a).getUint16(0, true);
  },
  u32(a: NlAttr): number {
    expectLen(a, 4);
    return dv(a).getUint32(0, true);
  },
  u64(a: NlAttr): bigint {
    expectLen(a, 8);
    return dv(a).getBigUint64(0, true);
  },
  s64(a: NlAttr): bigint {
    expectLen(a, 8);
    return dv(a).getBigInt64(0, true);
  },
  str(a: NlAttr): string {
    const end = a.value.indexOf(0);
    return new TextDecoder().decode(a.value.subarray(0, end < 0 ? a.value.length : end));
  },
};

function dv(a: NlAttr): DataView {
  return new DataView(a.value.buffer, a.value.byteOffset, a.value.byteLength);
}

function expectLen(a: NlAttr, n: number): void {
  if (a.value.length !== n) {
    throw new SyntaxError(
      `Cannot read netlink attribute ${a.type}: ${a.value.length} bytes, want ${n}`,
    );
  }
}

/**
 * Reads an NLMSG_ERROR payload: 0 for an ACK, otherwise the positive errno plus the kernel's
 * extended-ack message when present.
 */
export function parseError(msg: NlMsg): { errno: number; extack?: string } {
  if (msg.payload.length < 4) throw new SyntaxError("Cannot parse NLMSG_ERROR: too short");
  const view = new DataView(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength);
  const errno = Math.abs(view.getInt32(0, true));
  let extack: string | undefined;
  if (msg.flags & NLM_F_ACK_TLVS && msg.payload.length >= 4 + NLMSG_HDRLEN) {
    const inner = msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : view.getUint32(4, true);
    const tlvs = msg.payload.subarray(4 + align4(inner));
    for (const a of parseAttrs(tlvs)) if (a.type === NLMSGERR_ATTR_MSG) extack = attr.str(a);
  }
  return extack === undefined ? { errno } : { errno, extack };
}
