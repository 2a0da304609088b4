/**
 * A minimal writer for the cpio "newc" format the kernel unpacks as an initramfs
 * (`Documentation/driver-api/early-userspace/buffer-format.rst`): directories, regular files,
 * symlinks and character devices, gzip-compressed with the web CompressionStream.
 *
 * @module
 */

export type CpioEntry =
  | { type: "dir"; path: string; mode?: number }
  | { type: "file"; path: string; data: Uint8Array; mode?: number }
  | { type: "symlink"; path: string; target: string }
  | { type: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000, S_IFCHR = 0o020000;
const enc = new TextEncoder();

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, "0");
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

function header(
  ino: number,
  mode: number,
  size: number,
  nameLen: number,
  rdev: [number, number] = [0, 0],
): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
  // namesize (including NUL), check
  return "070701" +
    [ino, mode, 0, 0, 1, 0, size, 0, 0, rdev[0], rdev[1], nameLen, 0].map(hex8).join("");
}

/** Serialises `entries` (parents before children) into an uncompressed newc archive. */
export function cpioNewc(entries: CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    offset += b.length;
  };
  const record = (
    ino: number,
    mode: number,
    name: string,
    data: Uint8Array,
    rdev?: [number, number],
  ) => {
    const nameBytes = enc.encode(name + "\0");
    const head = enc.encode(header(ino, mode, data.length, nameBytes.length, rdev));
    push(head);
    push(nameBytes);
    push(new Uint8Array(pad4(head.length + nameBytes.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, "");
    if (!name) throw new RangeError(`Cannot add cpio entry "${e.path}": empty path`);
    switch (e.type) {
      case "dir":
        record(ino++, S_IFDIR | (e.mode ?? 0o755), name, new Uint8Array());
        break;
      case "file":
        record(ino++, S_IFREG | (e.mode ?? 0o644), name, e.data);
        break;
      case "symlink":
        record(ino++, S_IFLNK | 0o777, name, enc.encode(e.target));
        break;
      case "chardev":
        record(ino++, S_IFCHR | (e.mode ?? 0o600), name, new Uint8Array(), [e.major, e.minor]);
        break;
    }
  }
  record(0, 0, "TRAILER!!!", new Uint8Array());
  const out = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** gzip, which every distribution kernel can unpack as an initramfs (CONFIG_RD_GZIP). */
export async function gzip(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
