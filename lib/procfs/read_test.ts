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
