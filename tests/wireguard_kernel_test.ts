/**
 * The kernel WireGuard backend end to end against a real `wireguard.ko`: this host's kernel may
 * have none, so a Debian kernel from /boot that ships the module is booted under QEMU/TCG with
 * the host's `/` shared read-only, and tests/qemu/kernel_guest.ts runs the real KernelBackend
 * inside it (see docs/wireguard.md, "Testing the kernel backend under QEMU").
 *
 * Needs root, `qemu-system-x86_64` (qemu-system-x86), a static `/bin/busybox` (busybox-static),
 * kmod + xz-utils, and a `/boot/vmlinuz-*` whose `/lib/modules/<version>` has wireguard.ko. The
 * guest uses the host's `ip`, `wg` and `curl`, and Deno's npm cache (`deno install` first).
 */
import assert from "node:assert/strict";
import { CHECKS, type GuestResult } from "./qemu/kernel_guest.ts";
import { findWireGuardKernel, type GuestKernel, isStaticElf } from "./qemu/initramfs.ts";
import { defaultCacheDir, parseGuestResult, runKernelGuest } from "./qemu/qemu.ts";
import { whichOnPath } from "../lib/ops/host.ts";

/** The whole QEMU run, boot to power-off; it takes about 40 s on 2 cores. */
const GUEST_TIMEOUT_MS = 180_000;

/** The one PATH lookup (lib/ops/host.ts), as labman itself resolves programs. */
const onPath = (cmd: string) => whichOnPath(cmd, Deno.env.get("PATH") ?? "") !== null;

/** Why this host cannot run the test, or undefined when it can. */
async function skipReason(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "needs root";
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return "needs x86_64 Linux";
  if (!onPath("qemu-system-x86_64")) {
    return "no qemu-system-x86_64 (apt-get install qemu-system-x86)";
  }
  if (!onPath("modprobe") || !onPath("xz")) {
    return "no modprobe or xz (apt-get install kmod xz-utils)";
  }
  if (!await isStaticElf("/bin/busybox")) {
    return "no static /bin/busybox (apt-get install busybox-static)";
  }
  if (!await findWireGuardKernel()) {
    return "no /boot/vmlinuz-* with wireguard.ko (apt-get install linux-image-amd64)";
  }
  return undefined;
}

const skip = await skipReason();

async function cacheDir(): Promise<{ dir: string; temporary: boolean }> {
  try {
    await Deno.mkdir(defaultCacheDir(), { recursive: true });
    return { dir: defaultCacheDir(), temporary: false };
  } catch {
    return { dir: await Deno.makeTempDir({ prefix: "labman-qemu-" }), temporary: true };
  }
}

Deno.test({
  name: `kernel backend end to end on a real wireguard.ko under QEMU${
    skip ? ` (skipped: ${skip})` : ""
  }`,
  ignore: skip !== undefined,
  async fn() {
    const kernel = (await findWireGuardKernel()) as GuestKernel;
    const cache = await cacheDir();
    try {
      const run = await runKernelGuest(kernel, {
        cacheDir: cache.dir,
        timeoutMs: GUEST_TIMEOUT_MS,
      });
      const tail = run.console.split("\n").slice(-40).join("\n");
      assert.ok(!run.timedOut, `QEMU killed after ${GUEST_TIMEOUT_MS} ms; console tail:\n${tail}`);
      const result = parseGuestResult<GuestResult>(run.console);
      assert.ok(
        result,
        `the guest printed no result (QEMU exit ${run.code}); console tail:\n${tail}`,
      );
      const failed = result.checks.filter((c) => !c.ok);
      assert.deepEqual(
        failed.map((c) => `${c.name}: ${c.error}`),
        [],
        `guest checks failed (kernel ${kernel.version})`,
      );
      assert.deepEqual(result.checks.map((c) => c.name), [...CHECKS], "every check ran");
      assert.match(String(result.info.selectReason), /kernel WireGuard present/);
      assert.ok(Number(result.info.setMessages) > 1, "the large SET was not split");
      assert.ok(Number(result.info.dumpMessages) > 1, "the large GET was not multi-part");
      assert.equal(result.info.allowedIpsRead, 2500);
      assert.match(run.console, /LABMAN-INIT exit 0/, "the guest script exited non-zero");
      assert.equal(run.code, 0, "QEMU did not power off cleanly");
    } finally {
      if (cache.temporary) await Deno.remove(cache.dir, { recursive: true });
    }
  },
});
