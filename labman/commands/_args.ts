/**
 * The flag handling every `labman` command shares: strict `node:util` parseArgs with `-h/--help`
 * added, a bad flag answered with "labman <command>: <why>" and the usage (exit 2), `--help` with
 * the usage (exit 0).
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** The command's flags; `help`/`-h` is added. */
  options: O;
  usage: string;
  /** @default false */
  allowPositionals?: boolean;
}

const HELP = { help: { type: "boolean", short: "h" } } as const;

/**
 * Parses `args` for `labman <command>`: the parsed flags, or the exit code the command returns
 * at once (0 after printing `--help`, 2 after printing a flag error and the usage).
 */
export function commandArgs<const O extends ParseArgsOptionsConfig>(
  command: string,
  args: string[],
  spec: CommandSpec<O>,
  io: CommandIo,
) {
  const options = { ...spec.options, ...HELP };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: spec.allowPositionals ?? false,
    });
  } catch (e) {
    return usageError(command, (e as Error).message, spec.usage, io);
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.out(spec.usage);
    return 0;
  }
  return parsed;
}

/**
 * Answers a flag value the parser accepted but the command cannot use ("labman <command>: <why>"
 * and the usage, exit 2) — the same shape as a bad flag.
 */
export function usageError(command: string, why: string, usage: string, io: CommandIo): 2 {
  io.err(`labman ${command}: ${why}\n${usage}`);
  return 2;
}

/**
 * A `--timeout-ms`-style flag: the whole positive number of milliseconds in `raw` (`fallback`
 * when absent), or undefined after saying what is wrong with it (the command then exits 2).
 */
export function positiveMsFlag(
  command: string,
  flag: string,
  raw: string | undefined,
  fallback: number,
  io: CommandIo,
): number | undefined {
  const ms = Number(raw ?? fallback);
  if (Number.isInteger(ms) && ms > 0) return ms;
  io.err(`labman ${command}: ${flag} must be a positive integer, got "${raw}"`);
  return undefined;
}
