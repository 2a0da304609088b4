/**
 * Boots a kernel + initramfs under QEMU/TCG (KVM is not assumed) with the host's `/` shared
 * read-only over virtio-9p, collects the serial console and always kills QEMU by the deadline.
 *
 * Run directly to boot the kernel WireGuard guest once and print its console:
 * `deno run -A tests/qemu/qemu.ts`
 *
 * @module
 */
import { buildInitramfs, findWireGuardKernel, type GuestKernel } from "./initramfs.ts";

export const RESULT_MARKER = "LABMAN-KERNEL-RESULT ";

export interface GuestRun {
  /** Everything QEMU wrote to the serial console (stdout) and stderr. */
  console: string;
  /** QEMU's exit code; null when it had to be killed. */
  code: number | null;
  timedOut: boolean;
  wallMs: number;
}

export interface RunGuestOptions {
  kernel: GuestKernel;
  initrd: string;
  /** Extra `key=value` words for the kernel command line (read by init.sh). */
  params: Record<string, string>;
  timeoutMs: number;
  /** @default 1024 */
  memoryMb?: number;
}

/** The QEMU argv for one guest run (2 vCPUs under multi-threaded TCG, no NIC, no display). */
export function qemuArgs(o: RunGuestOptions): string[] {
  for (const [k, v] of Object.entries(o.params)) {
    if (/\s|'/.test(v)) {
      throw new RangeError(`Cannot pass ${k}="${v}" to the guest: no spaces or quotes`);
    }
  }
  const append = [
    "console=ttyS0",
    "quiet",
    "loglevel=1",
    "panic=-1",
    "oops=panic",
    "rcupdate.rcu_expedited=1",
    ...Object.entries(o.params).map(([k, v]) => `${k}=${v}`),
  ].join(" ");
  return [
    "-accel",
    "tcg,thread=multi",
    "-cpu",
    "max",
    "-smp",
    "2",
    "-m",
    String(o.memoryMb ?? 1024),
    "-nodefaults",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-no-reboot",
    "-kernel",
    o.kernel.image,
    "-initrd",
    o.initrd,
    "-append",
    append,
    "-fsdev",
    "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
    "-device",
    "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
    // The repo again on its own: the guest's tmpfs /tmp and /run would hide a checkout there.
    "-fsdev",
    `local,id=lmrepo,path=${
      o.params.lmrepo ?? "/"
    },security_model=none,readonly=on,multidevs=remap`,
    "-device",
    "virtio-9p-pci,fsdev=lmrepo,mount_tag=lmrepo",
  ];
}

/** Runs the guest to completion or to `timeoutMs`, after which QEMU is SIGKILLed. */
export async function runGuest(o: RunGuestOptions): Promise<GuestRun> {
  const started = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args: qemuArgs(o),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, o.timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      console: dec.decode(out.stdout) + dec.decode(out.stderr),
      code: timedOut ? null : out.code,
      timedOut,
      wallMs: Math.round(performance.now() - started),
    };
  } finally {
    clearTimeout(timer);
    kill();
  }
}

/** The guest's JSON result line, or undefined if it never printed one. */
export function parseGuestResult<T>(consoleText: string): T | undefined {
  const lines = consoleText.split(/\r?\n/).filter((l) => l.startsWith(RESULT_MARKER));
  const last = lines.at(-1);
  return last === undefined ? undefined : JSON.parse(last.slice(RESULT_MARKER.length)) as T;
}

/** `${LABMAN_CI_CACHE:-/var/cache/labman-ci}/qemu`, shared with CI's cache. */
export function defaultCacheDir(): string {
  return `${Deno.env.get("LABMAN_CI_CACHE") ?? "/var/cache/labman-ci"}/qemu`;
}

/** Where the host's Deno keeps npm packages (the guest links it into its own DENO_DIR). */
export async function hostNpmCache(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { npmCache?: string };
  if (!info.npmCache) {
    throw new Error("Cannot find Deno's npm cache: `deno info --json` has no npmCache");
  }
  return info.npmCache;
}

/** Repository root (this file is tests/qemu/qemu.ts). */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** Builds the initramfs and boots the guest running tests/qemu/kernel_guest.ts. */
export async function runKernelGuest(
  kernel: GuestKernel,
  opts: { cacheDir?: string; timeoutMs?: number; script?: string } = {},
): Promise<GuestRun & { initrd: string }> {
  const initrd = await buildInitramfs({ kernel, cacheDir: opts.cacheDir ?? defaultCacheDir() });
  const run = await runGuest({
    kernel,
    initrd,
    timeoutMs: opts.timeoutMs ?? 180_000,
    params: {
      lmrepo: REPO_ROOT,
      lmscript: opts.script ?? "tests/qemu/kernel_guest.ts",
      lmdeno: Deno.execPath(),
      lmnpm: await hostNpmCache(),
    },
  });
  return { ...run, initrd };
}

if (import.meta.main) {
  const kernel = await findWireGuardKernel();
  if (!kernel) throw new Error("Cannot find a /boot/vmlinuz-* with wireguard.ko");
  const run = await runKernelGuest(kernel, { script: Deno.args[0] });
  console.log(run.console);
  console.log(`qemu exit ${run.code}, timed out ${run.timedOut}, ${run.wallMs} ms, ${run.initrd}`);
}
