/**
 * labman — the operator CLI.
 *
 * @module
 */
import { configCheck } from "./commands/config_check.ts";
import { dev } from "./commands/dev.ts";
import { discover } from "./commands/discover.ts";
import { doctor } from "./commands/doctor.ts";
import { install } from "./commands/install.ts";
import { keygen } from "./commands/keygen.ts";
import { post } from "./commands/post.ts";
import { pre } from "./commands/pre.ts";
import { status } from "./commands/status.ts";
import { update } from "./commands/update.ts";

const USAGE = `usage: labman <command> [options]

Commands:
  dev               run labmand in local mode with a bundled mock model server
  status            summary from the running labmand (--json)
  discover          find local LLM servers and print [[endpoints]] for them (--write)
  doctor            check the node, with a fix for each problem
  config check      validate a config file and print it normalised (secrets redacted)
  keygen            create the node's WireGuard and Rosenpass key pairs
  install           install labmand, labman and the systemd unit
  update            update labmand and the unit, show what changed (--restart)
  pre               pre-start checks (systemd ExecStartPre)
  post              post-stop cleanup (systemd ExecStopPost)
  help              show this help

Run "labman <command> --help" for a command's options.`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  dev,
  discover,
  status,
  doctor,
  keygen,
  install,
  update,
  pre,
  post,
};

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "config") {
    if (rest[0] === "check") return await configCheck(rest.slice(1));
    console.error(
      `labman config: unknown subcommand ${
        JSON.stringify(rest[0] ?? "")
      }; try "labman config check"`,
    );
    return 2;
  }
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    console.error(`labman: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  return await run(rest);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
