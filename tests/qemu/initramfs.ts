/**
 * Finds a host kernel that ships `wireguard.ko` and builds (or reuses from the cache) a small
 * initramfs for it: static busybox, the decompressed modules for wireguard + virtio-9p in
 * `modprobe --show-depends` order, and `init.sh` as `/init`.
 *
 * @module
 */
import { type CpioEntry, cpioNewc, gzip } from "./cpio.ts";

// virtio_pci is the transport of the virtio-9p-pci device; it is no symbol dependency of
// 9pnet_virtio, so `modprobe --show-depends` does not list it, and Debian builds it as a module.
export const REQUIRED_MODULES = ["wireguard", "9p", "9pnet_virtio", "virtio_pci"];

export interface GuestKernel {
  version: string;
  image: string;
}

const dec = new TextDecoder();

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function output(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`Cannot run ${cmd} ${args.join(" ")}: ${dec.decode(out.stderr).trim()}`);
  }
  return dec.decode(out.stdout);
}

/** True when `path` is an ELF executable without a PT_INTERP header (statically linked). */
export async function isStaticElf(path: string): Promise<boolean> {
  let b: Uint8Array;
  try {
    b = await Deno.readFile(path);
  } catch {
    return false;
  }
  if (b.length < 64 || b[0] !== 0x7f || b[1] !== 0x45 || b[4] !== 2) return false; // ELF64 only
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true), phnum = v.getUint16(56, true);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > b.length) return false;
    if (v.getUint32(at, true) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/** The newest `/boot/vmlinuz-*` whose module tree holds wireguard.ko (any compression). */
export async function findWireGuardKernel(boot = "/boot"): Promise<GuestKernel | undefined> {
  const found: GuestKernel[] = [];
  try {
    for await (const e of Deno.readDir(boot)) {
      if (!e.name.startsWith("vmlinuz-")) continue;
      const version = e.name.slice("vmlinuz-".length);
      const dir = `/lib/modules/${version}/kernel/drivers/net/wireguard`;
      for (const ext of ["ko", "ko.xz", "ko.zst", "ko.gz"]) {
        if (await exists(`${dir}/wireguard.${ext}`)) {
          found.push({ version, image: `${boot}/${e.name}` });
          break;
        }
      }
    }
  } catch {
    return undefined;
  }
  found.sort((a, b) => b.version.localeCompare(a.version, "en", { numeric: true }));
  return found[0];
}

/** Module files to insmod, dependencies first, each listed once (built-ins are skipped). */
export async function moduleLoadOrder(version: string): Promise<string[]> {
  const text = await output("modprobe", [
    "-S",
    version,
    "-a",
    "--show-depends",
    ...REQUIRED_MODULES,
  ]);
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^insmod (\S+)/.exec(line.trim());
    if (m && !out.includes(m[1])) out.push(m[1]);
  }
  if (!out.some((p) => /\/wireguard\.ko/.test(p))) {
    throw new Error(`Cannot find wireguard.ko for kernel ${version}: modprobe listed ${out}`);
  }
  return out;
}

/** The module's bytes, uncompressed (busybox insmod uses init_module, which takes raw ELF). */
export async function readModule(path: string): Promise<Uint8Array> {
  if (path.endsWith(".ko")) return await Deno.readFile(path);
  const tool = path.endsWith(".xz") ? "xz" : path.endsWith(".zst") ? "zstd" : "gzip";
  const out = await new Deno.Command(tool, {
    args: ["-dc", path],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`Cannot decompress ${path} with ${tool}: ${dec.decode(out.stderr).trim()}`);
  }
  return out.stdout;
}

async function sha256Hex(parts: (string | Uint8Array)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks = parts.map((p) => typeof p === "string" ? enc.encode(p) : p);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length + 1, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length + 1;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface InitramfsOptions {
  kernel: GuestKernel;
  /** Directory for cached images; created if missing. */
  cacheDir: string;
  /** @default /bin/busybox (must be static: busybox-static) */
  busybox?: string;
}

/**
 * Returns the path of a gzip'd initramfs for `kernel`, building it unless the cache already
 * holds one with the same key (kernel version + hash of init.sh, this builder, busybox and the
 * module list).
 */
export async function buildInitramfs(opts: InitramfsOptions): Promise<string> {
  const busybox = opts.busybox ?? "/bin/busybox";
  const init = await Deno.readFile(new URL("./init.sh", import.meta.url));
  const self = await Deno.readFile(new URL("./initramfs.ts", import.meta.url));
  const modules = await moduleLoadOrder(opts.kernel.version);
  const bbStat = await Deno.stat(busybox);
  const key = await sha256Hex([
    init,
    self,
    modules.join("\n"),
    `${bbStat.size}:${bbStat.mtime?.getTime()}`,
  ]);
  const path = `${opts.cacheDir}/initramfs-${opts.kernel.version}-${key}.cpio.gz`;
  if (await exists(path)) return path;

  const entries: CpioEntry[] = [
    { type: "dir", path: "bin" },
    { type: "dir", path: "dev" },
    { type: "chardev", path: "dev/console", major: 5, minor: 1 },
    { type: "dir", path: "lib" },
    { type: "dir", path: "lib/modules" },
    { type: "file", path: "bin/busybox", data: await Deno.readFile(busybox), mode: 0o755 },
    { type: "file", path: "init", data: init, mode: 0o755 },
  ];
  const names: string[] = [];
  for (const m of modules) {
    const name = m.split("/").pop()!.replace(/\.(xz|zst|gz)$/, "");
    names.push(name);
    entries.push({ type: "file", path: `lib/modules/${name}`, data: await readModule(m) });
  }
  entries.push({
    type: "file",
    path: "modules.order",
    data: new TextEncoder().encode(names.join("\n") + "\n"),
  });

  await Deno.mkdir(opts.cacheDir, { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, await gzip(cpioNewc(entries)));
  await Deno.rename(tmp, path); // atomic: a parallel run sees either nothing or a whole image
  // Images for an older init.sh/builder/busybox are never used again.
  for await (const e of Deno.readDir(opts.cacheDir)) {
    if (e.name.startsWith(`initramfs-${opts.kernel.version}-`) && e.name.endsWith(".cpio.gz")) {
      if (`${opts.cacheDir}/${e.name}` !== path) {
        await Deno.remove(`${opts.cacheDir}/${e.name}`).catch(() => {});
      }
    }
  }
  return path;
}
