import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { findProcessesByName, readProcFile } from "./read.ts";

Deno.test("readProcFile reads /proc files and returns null for missing ones", async () => {
  const text = await readProcFile("/proc/sys/kernel/ostype");
  assert.equal(text?.trim(), "Linux");
  assert.equal(await readProcFile("/proc/999999999/cmdline"), null);
});

Deno.test("readProcFile works under labmand's permissions (no --allow-all)", async () => {
  const script = fileURLToPath(new URL("./read.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--allow-read",
      "--allow-run",
      `const { readProcFile } = await import(${
        JSON.stringify(script)
      }); console.log(await readProcFile("/proc/sys/kernel/ostype"));`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(out.stdout).trim(),
    "Linux",
    new TextDecoder().decode(out.stderr),
  );
});

Deno.test("findProcessesByName finds a running process by exact name", async () => {
  const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
  try {
    assert.ok((await findProcessesByName("sleep")).includes(child.pid));
    assert.deepEqual(await findProcessesByName("no-such-process-name"), []);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("signalProcess stops a process under labmand's --allow-run list (Deno.kill refused)", async () => {
  const victim = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const script = fileURLToPath(new URL("./read.ts", import.meta.url));
    const flags = JSON.parse(
      await Deno.readTextFile(fileURLToPath(new URL("../../deno.json", import.meta.url))),
    ).tasks.labmand.split(/\s+/).filter((w: string) => w.startsWith("--allow-run"));
    // `deno eval` would grant everything: run a file under exactly those flags.
    const file = await Deno.makeTempFile({ suffix: ".ts" });
    await Deno.writeTextFile(
      file,
      `const { signalProcess } = await import(${JSON.stringify(script)});
         let direct = "allowed";
         try { Deno.kill(${victim.pid}, "SIGCONT"); } catch (e) { direct = e.name; }
         await signalProcess(${victim.pid}, "SIGTERM");
         let gone = "sent";
         try { await signalProcess(2147483646, "SIGTERM"); } catch { gone = "error"; }
         console.log(direct, gone);`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(file);
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      "NotCapable error",
      new TextDecoder().decode(out.stderr),
    );
    assert.equal((await victim.status).signal, "SIGTERM");
  } finally {
    try {
      victim.kill("SIGKILL");
    } catch { /* exited */ }
    await victim.status;
  }
});
