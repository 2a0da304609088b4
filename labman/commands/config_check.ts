/**
 * `labman config check [--config PATH] [--json]`: load and validate the config the daemon would
 * use, print it normalised with secrets redacted (stdout) and every warning (stderr); or print
 * every error (stderr) and exit 1.
 *
 * @module
 */
import {
  configToToml,
  formatIssue,
  loadConfig,
  type LoadResult,
  redactConfig,
} from "../../lib/config/mod.ts";
import { cliPathAccess } from "../../lib/ops/mod.ts";
import { commandArgs } from "./_args.ts";

/** Where the command writes; replaced in tests. */
export interface CommandOutput {
  /** One line (or block) of standard output. */
  out(text: string): void;
  /** One line of standard error. */
  err(text: string): void;
}

const consoleOutput: CommandOutput = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

const USAGE = `Usage: labman config check [--config PATH | PATH] [--json]

Validates the labman config and prints it normalised, with secrets redacted.

Options:
  -c, --config PATH  config file (default: /etc/labman/labman.toml, then ./labman.toml);
                     may also be given as the only argument: labman config check PATH
      --json         print the result as JSON on stdout
  -h, --help         show this help

Exit status: 0 valid (warnings may be printed), 1 invalid, 2 usage error.`;

function toJson(result: LoadResult): string {
  const body = result.ok
    ? {
      ok: true,
      file: result.file,
      config: redactConfig(result.config),
      warnings: result.warnings,
    }
    : { ok: false, file: result.file, errors: result.errors, warnings: result.warnings };
  return JSON.stringify(body, null, 2);
}

/**
 * Runs `labman config check` with the arguments after `check`. Returns the exit code; never
 * throws and never prints a stack trace.
 */
export async function configCheck(
  args: string[],
  output: CommandOutput = consoleOutput,
): Promise<number> {
  const parsed = commandArgs("config check", args, {
    options: { config: { type: "string", short: "c" }, json: { type: "boolean" } },
    usage: USAGE,
    // `labman config check FILE`, as `nginx -t -c` / `promtool check config FILE` users type.
    allowPositionals: true,
  }, output);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) {
    output.err(
      `labman config check: Cannot check ${
        [...(values.config !== undefined ? [values.config] : []), ...positionals].join(" and ")
      }: one config file at a time — pass a single PATH (or --config PATH)`,
    );
    output.err(USAGE);
    return 2;
  }
  if (positionals.length === 1) values.config = positionals[0];
  try {
    const result = await loadConfig({
      ...(values.config !== undefined ? { path: values.config } : {}),
      pathAccess: cliPathAccess(),
    });
    for (const w of result.warnings) output.err(`warning: ${formatIssue(w)}`);
    if (!result.ok) {
      for (const e of result.errors) output.err(`error: ${formatIssue(e)}`);
      const n = result.errors.length;
      output.err(`${result.file ?? "config"}: ${n} error${n === 1 ? "" : "s"}`);
      if (values.json) output.out(toJson(result));
      return 1;
    }
    output.out(
      values.json
        ? toJson(result)
        : `# ${result.file}\n${configToToml(redactConfig(result.config))}`,
    );
    return 0;
  } catch (e) {
    output.err(`labman config check: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await configCheck(Deno.args));
}
