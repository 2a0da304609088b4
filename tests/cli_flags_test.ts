/**
 * Every `labman` command parses its flags the same way (`labman/commands/_args.ts`), checked
 * through `labman/main.ts` processes under the `labman` task's flags: an unknown flag exits 2
 * with "labman <command>: <why>" and the command's usage on stderr, `--help`/`-h` exit 0 with
 * the usage on stdout, and a value the parser accepts but the command cannot use exits 2 the
 * same way.
 */
import assert from "node:assert/strict";
import { runLabman } from "./helpers/labman_cli.ts";

const COMMANDS = [
  ["dev"],
  ["status"],
  ["discover"],
  ["doctor"],
  ["config", "check"],
  ["keygen"],
  ["install"],
  ["update"],
  ["pre"],
  ["post"],
];

/** stderr without Deno's own notice about an `--allow-run` program missing on this machine. */
async function labman(args: string[]) {
  const r = await runLabman(args);
  return { ...r, stderr: r.stderr.replace(/^Info Failed to resolve .* for allow-run: .*\n/gm, "") };
}

const usageOf = (name: string) => new RegExp(`^usage: labman ${name}\\b`, "im");

for (const command of COMMANDS) {
  const name = command.join(" ");
  Deno.test(`labman ${name}: an unknown flag exits 2 with the why and the usage`, async () => {
    const r = await labman([...command, "--no-such-flag"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^labman ${name}: .*--no-such-flag`));
    assert.match(r.stderr, usageOf(name));
    assert.equal(r.stdout, "");
  });
  Deno.test(`labman ${name}: --help and -h exit 0 with the usage on stdout`, async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await labman([...command, flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, usageOf(name));
      assert.equal(r.stderr, "");
    }
  });
}

Deno.test("labman install/update: a flag value they cannot use exits 2 with the usage", async () => {
  for (
    const [command, args, why] of [
      ["install", ["--bin-dir", "relative"], /--bin-dir must be an absolute path, got "relative"/],
      ["update", ["--unit-dir", "x"], /--unit-dir must be an absolute path, got "x"/],
      ["update", ["--ready-timeout", "0"], /--ready-timeout must be a whole number of seconds/],
    ] as const
  ) {
    const r = await labman([command, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^labman ${command}: `));
    assert.match(r.stderr, why);
    assert.match(r.stderr, usageOf(command));
  }
});

Deno.test("labman install: --restart belongs to update only", async () => {
  const r = await labman(["install", "--restart"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^labman install: .*--restart/);
});

Deno.test("labman status/doctor/discover: --timeout-ms must be a positive integer (exit 2)", async () => {
  for (const command of ["status", "doctor", "discover"]) {
    for (const bad of ["0", "1.5", "soon"]) {
      const r = await labman([command, "--timeout-ms", bad]);
      assert.equal(r.code, 2, `${command} ${bad}: ${r.stderr}`);
      assert.equal(
        r.stderr.trim(),
        `labman ${command}: --timeout-ms must be a positive integer, got "${bad}"`,
      );
    }
  }
});
