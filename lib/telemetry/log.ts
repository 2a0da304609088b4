/**
 * Structured logging through LogTape: human text on a terminal, JSON lines otherwise
 * (journald, containers). Every module takes its logger from {@linkcode getLogger} with a
 * category under `labman`; request-scoped lines carry a `request_id` property.
 *
 * @module
 */
import {
  configureSync,
  getAnsiColorFormatter,
  getLogger as logtapeLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

export type { Logger, LogLevel };
export type LogFormat = "auto" | "text" | "json";

export interface LoggingOptions {
  /** @default "info" */
  level?: LogLevel;
  /** @default "auto" */
  format?: LogFormat;
  /** Where lines go. @default stderr */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line));
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

/**
 * (Re)configures logging for this thread. Safe to call again on reload: the previous
 * configuration is replaced as a whole.
 */
export function setupLogging(options: LoggingOptions = {}): void {
  const format = resolveLogFormat(options.format ?? "auto");
  const write = options.write ?? writeStderr;
  const formatter = format === "json"
    ? jsonLinesFormatter
    : noColor()
    ? getTextFormatter({ timestamp: "date-time-tz", format: textWithProps })
    : getAnsiColorFormatter({ timestamp: "date-time-tz", format: textWithProps });
  const sink = (record: LogRecord) => write(formatter(record));
  resetSync();
  configureSync({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: ["labman"], lowestLevel: options.level ?? "info", sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** NO_COLOR (https://no-color.org): set and non-empty means plain text. */
function noColor(): boolean {
  try {
    return (Deno.env.get("NO_COLOR") ?? "") !== "";
  } catch {
    return false; // no env permission: the terminal default
  }
}

/** Text lines keep the structured properties visible as `key=value` pairs. */
function textWithProps(
  values: {
    timestamp: string | null;
    level: string;
    category: string;
    message: string;
    record: LogRecord;
  },
): string {
  const props = Object.entries(values.record.properties)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  const head = `${values.timestamp ?? ""} ${values.level} ${values.category}: ${values.message}`;
  return props ? `${head} ${props}` : head;
}

/** A logger under the `labman` category, e.g. `getLogger("proxy")`. */
export function getLogger(...category: string[]): Logger {
  return logtapeLogger(["labman", ...category]);
}
