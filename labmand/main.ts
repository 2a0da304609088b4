/**
 * labmand — the labman node daemon.
 *
 * Usage: labmand [--config PATH]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatIssue, loadConfig } from "../lib/config/mod.ts";
import { labmandPathAccess } from "../lib/permissions/mod.ts";
import { EXIT, runDaemon } from "./daemon.ts";

const USAGE = `usage: labmand [--config PATH]

Runs the labman node daemon. The config is read from --config, else /etc/labman/labman.toml,
else ./labman.toml. See labman.example.toml for every field.`;

export async function main(args: string[]): Promise<number> {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (err) {
    console.error(`labmand: ${(err as Error).message}\n${USAGE}`);
    return EXIT.startFailed;
  }
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const result = await loadConfig({
    path: values.config,
    checkKeyFiles: true,
    pathAccess: labmandPathAccess(),
  });
  for (const w of result.warnings) console.error(`warning: ${formatIssue(w)}`);
  if (!result.ok) {
    for (const e of result.errors) console.error(`error: ${formatIssue(e)}`);
    console.error(`labmand: not started: ${result.errors.length} config error(s)`);
    return EXIT.startFailed;
  }
  return await runDaemon({ config: result.config, configPath: result.file });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
