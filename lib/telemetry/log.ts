/**
 * Structured logging: human text on a terminal, JSON lines otherwise (journald, containers).
 * Every module takes its logger from {@linkcode getLogger} with a category under `labman`;
 * request-scoped lines carry a `request_id` property. Both isolates (supervisor and data-plane
 * Worker) use this module, so their lines have one format; the line shapes are LogTape's (see
 * `_log_format.ts`), without loading LogTape and the `node:util` it pulls into each isolate.
 *
 * @module
 */
import {
  formatJsonLine,
  formatTextLine,
  LOG_LEVELS,
  type LogLevel,
  type LogRecord,
  parseMessageTemplate,
} from "./_log_format.ts";

export type { LogLevel };
export type LogFormat = "auto" | "text" | "json";

/** What a log call takes: a message template with `{name}` placeholders and its properties. */
export type LogMethod = (message: string, properties?: Record<string, unknown>) => void;

/** A logger for one category. `warn` and `warning` are the same level. */
export interface Logger {
  readonly category: readonly string[];
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  warning: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
  /** Whether a line of `level` would be written now (to skip building costly properties). */
  isEnabledFor(level: LogLevel): boolean;
  /** The same category with `properties` on every line (a call's own properties win). */
  with(properties: Record<string, unknown>): Logger;
}

export interface LoggingOptions {
  /** @default "info" */
  level?: LogLevel;
  /** @default "auto" */
  format?: LogFormat;
  /** Where lines go. @default stderr */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

/** Writes the whole line (a pipe may take a large line in parts). */
function writeStderr(line: string): void {
  const bytes = encoder.encode(line);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/** Resolves `auto` to `text` on a terminal and `json` otherwise. */
export function resolveLogFormat(format: LogFormat): "text" | "json" {
  if (format !== "auto") return format;
  try {
    return Deno.stderr.isTerminal() ? "text" : "json";
  } catch {
    return "json";
  }
}

interface Sink {
  /** Index into LOG_LEVELS of the lowest level written. */
  lowest: number;
  format: (record: LogRecord) => string;
  write: (line: string) => void;
}

/** Unconfigured, nothing is written (as before: a library import never prints). */
let sink: Sink | undefined;

/**
 * (Re)configures logging for this thread. Safe to call again on reload: the previous
 * configuration is replaced as a whole.
 */
export function setupLogging(options: LoggingOptions = {}): void {
  const format = resolveLogFormat(options.format ?? "auto");
  const colors = format === "text" && !noColor();
  sink = {
    lowest: LOG_LEVELS.indexOf(options.level ?? "info"),
    format: format === "json" ? formatJsonLine : (r) => formatTextLine(r, { colors }),
    write: options.write ?? writeStderr,
  };
}

/** Drops the configuration: nothing is written until {@linkcode setupLogging} runs again. */
export function resetLogging(): void {
  sink = undefined;
}

/** NO_COLOR (https://no-color.org): set and non-empty means plain text. */
function noColor(): boolean {
  try {
    return (Deno.env.get("NO_COLOR") ?? "") !== "";
  } catch {
    return false; // no env permission (the data-plane Worker): the terminal default
  }
}

function emit(
  category: readonly string[],
  context: Readonly<Record<string, unknown>> | undefined,
  level: LogLevel,
  message: string,
  properties: Record<string, unknown> | undefined,
): void {
  const s = sink;
  if (s === undefined || LOG_LEVELS.indexOf(level) < s.lowest) return;
  // A copy, as LogTape made: the caller's object may be mutated later or have no prototype.
  const props = { ...context, ...properties };
  const record: LogRecord = {
    category,
    level,
    message: parseMessageTemplate(message, props),
    timestamp: Date.now(),
    properties: props,
  };
  try {
    s.write(s.format(record));
  } catch {
    // A closed stderr or an unrenderable value must not take the caller (or the daemon) down.
  }
}

function makeLogger(
  category: readonly string[],
  context?: Readonly<Record<string, unknown>>,
): Logger {
  const at = (level: LogLevel): LogMethod => (message, properties) =>
    emit(category, context, level, message, properties);
  return {
    category,
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warning"),
    warning: at("warning"),
    error: at("error"),
    fatal: at("fatal"),
    isEnabledFor: (level) => sink !== undefined && LOG_LEVELS.indexOf(level) >= sink.lowest,
    with: (properties) => makeLogger(category, { ...context, ...properties }),
  };
}

/** A logger under the `labman` category, e.g. `getLogger("proxy")`. */
export function getLogger(...category: string[]): Logger {
  return makeLogger(["labman", ...category]);
}
