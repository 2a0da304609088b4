/**
 * Pure log-line rendering: message templates, JSON lines and text lines. The lines are the ones
 * LogTape 2.4 writes with `jsonLinesFormatter` and `getTextFormatter` / `getAnsiColorFormatter`
 * (`timestamp: "date-time-tz"`, properties appended as `key=value`), byte for byte, so the
 * journal format did not change when labman stopped loading LogTape (it cost each isolate
 * `node:util` and ~9 MB of RSS in the data-plane Worker). `_log_format_test.ts` checks the
 * equivalence against LogTape itself over generated records.
 *
 * @module
 */

export type LogLevel = "trace" | "debug" | "info" | "warning" | "error" | "fatal";

export const LOG_LEVELS: readonly LogLevel[] = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
];

export interface LogRecord {
  readonly category: readonly string[];
  readonly level: LogLevel;
  /** Template text and values, alternating: text at even indexes, values at odd ones. */
  readonly message: readonly unknown[];
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly properties: Readonly<Record<string, unknown>>;
}

/**
 * Splits `"endpoint {name} is {state}"` into text and values. `{{` and `}}` are literal braces;
 * a placeholder names a top-level property (surrounding spaces are ignored); `{*}` is all of
 * them; an unclosed `{` is text.
 */
export function parseMessageTemplate(
  template: string,
  properties: Readonly<Record<string, unknown>>,
): unknown[] {
  if (template.length === 0) return [""];
  if (!template.includes("{")) return [template];
  const out: unknown[] = [];
  let start = 0;
  for (let i = 0; i < template.length; i++) {
    const ch = template[i];
    if (ch === "{") {
      if (template[i + 1] === "{") {
        i++;
        continue;
      }
      const close = template.indexOf("}", i + 1);
      if (close === -1) continue;
      out.push(unescapeBraces(template.slice(start, i)));
      const key = template.slice(i + 1, close);
      const trimmed = key.trim();
      if (trimmed === "*") {
        out.push(
          key in properties ? properties[key] : "*" in properties ? properties["*"] : properties,
        );
      } else if (key !== trimmed) {
        out.push(key in properties ? properties[key] : properties[trimmed]);
      } else out.push(properties[key]);
      i = close;
      start = i + 1;
    } else if (ch === "}" && template[i + 1] === "}") i++;
  }
  out.push(unescapeBraces(template.slice(start)));
  return out;
}

function unescapeBraces(text: string): string {
  return text.replace(/{{/g, "{").replace(/}}/g, "}");
}

// ---- JSON lines ---------------------------------------------------------------------------

function errorAware(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (!(value instanceof Error)) return value;
  const out: Record<string, unknown> = { name: value.name, message: value.message };
  if (typeof value.stack === "string") out.stack = value.stack;
  if (value.cause !== undefined) out.cause = value.cause;
  if (value instanceof AggregateError) out.errors = value.errors;
  for (const key of Object.keys(value)) {
    if (!(key in out)) out[key] = (value as unknown as Record<string, unknown>)[key];
  }
  return out;
}

/** A replacer that writes `"[Circular]"` for a value that contains itself, instead of throwing. */
function circularSafe(inner?: (key: string, value: unknown) => unknown) {
  const sources: unknown[] = [];
  const results: unknown[] = [];
  return function (this: unknown, key: string, value: unknown): unknown {
    const result = inner === undefined ? value : inner(key, value);
    if (typeof result !== "object" || result === null) return result;
    while (results.length > 0 && results[results.length - 1] !== this) {
      results.pop();
      sources.pop();
    }
    for (let i = 0; i < results.length; i++) {
      if (results[i] === result || sources[i] === value) return "[Circular]";
    }
    sources.push(value);
    results.push(result);
    return result;
  };
}

function stringifyNoCycles(
  value: unknown,
  replacer?: (key: string, value: unknown) => unknown,
): string | undefined {
  try {
    return JSON.stringify(value, replacer);
  } catch {
    return JSON.stringify(value, circularSafe(replacer));
  }
}

function bigintsAsText(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function jsonMessageValue(value: unknown): string | undefined {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return JSON.stringify(value);
  }
  return stringifyNoCycles(value, bigintsAsText);
}

function jsonField(key: string, value: unknown): string | undefined {
  if (
    value != null &&
    (typeof value === "object" || typeof value === "function" || typeof value === "bigint")
  ) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") value = toJSON.call(value, key);
  }
  return JSON.stringify(errorAware(key, value), circularSafe(errorAware));
}

/** DEL and C1 controls survive JSON.stringify raw, and a terminal would act on them. */
const JSON_CONTROL = /[\u007f-\u009f]/g;

/**
 * One JSON line: `{"@timestamp","level","message","logger","properties"}` in that order, values
 * in the message rendered as JSON (so a string value shows its quotes), ending in `\n`.
 */
export function formatJsonLine(record: LogRecord): string {
  const level = record.level === "warning" ? "WARN" : record.level.toUpperCase();
  let message = String(record.message[0]);
  for (let i = 1; i < record.message.length; i++) {
    message += i & 1 ? jsonMessageValue(record.message[i]) : record.message[i];
  }
  const messageJson = jsonField("message", message);
  const propertiesJson = jsonField("properties", record.properties);
  let line = `{"@timestamp":${JSON.stringify(new Date(record.timestamp).toISOString())},` +
    `"level":${JSON.stringify(level)}`;
  if (messageJson !== undefined) line += `,"message":${messageJson}`;
  line += `,"logger":${JSON.stringify(record.category.join("."))}`;
  if (propertiesJson !== undefined) line += `,"properties":${propertiesJson}`;
  return `${line}}`.replace(
    JSON_CONTROL,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  ) + "\n";
}

// ---- text lines ---------------------------------------------------------------------------

const ABBR: Record<LogLevel, string> = {
  trace: "TRC",
  debug: "DBG",
  info: "INF",
  warning: "WRN",
  error: "ERR",
  fatal: "FTL",
};

const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
const BOLD = "\x1b[1m";
const LEVEL_COLOR: Record<LogLevel, string> = {
  trace: "",
  debug: "\x1b[34m",
  info: "\x1b[32m",
  warning: "\x1b[33m",
  error: "\x1b[31m",
  fatal: "\x1b[35m",
};

function escapeControl(code: number): string {
  if (code === 10) return "\\n";
  if (code === 13) return "\\r";
  if (code === 27) return "\\x1b";
  return `\\x${code.toString(16).padStart(2, "0")}`;
}

function dangerous(code: number, escapeNewlines: boolean): boolean {
  if (code === 9) return false;
  if (code === 10 || code === 13) return escapeNewlines;
  if (code < 32 || code === 127) return true;
  return code >= 128 && code <= 159;
}

// deno-lint-ignore no-control-regex -- ESC opens the colour sequences kept here on purpose
const SGR = /^\x1b\[([0-9;:]*)m/;

/**
 * Neutralises terminal control codes in text a peer may have chosen (an upstream's error text, a
 * model id): colour (SGR) sequences are kept unless `escapeSgr` (and closed if left open), every
 * other ESC and control character is written as `\xNN`; newlines stay.
 */
function sanitize(text: string, escapeSgr: boolean): string {
  let work = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 27 || dangerous(c, false)) {
      work = true;
      break;
    }
  }
  if (!work) return text;
  let out = "";
  let sgrOpen = false;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === 27) {
      const sgr = escapeSgr ? null : SGR.exec(text.slice(i));
      if (sgr) {
        out += sgr[0];
        sgrOpen = !/^0*$/.test(sgr[1].replace(/[;:]/g, ""));
        i += sgr[0].length;
        continue;
      }
      out += escapeControl(27);
    } else if (dangerous(c, false)) out += escapeControl(c);
    else out += text[i];
    i++;
  }
  return sgrOpen ? out + RESET : out;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** `2026-11-29 03:01:02.345 +00`: UTC, as LogTape's `date-time-tz`. */
function textTimestamp(ts: number): string {
  const d = new Date(ts);
  const ms = d.getUTCMilliseconds();
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.` +
    `${ms < 10 ? `00${ms}` : ms < 100 ? `0${ms}` : ms} +00`;
}

function inspect(value: unknown, colors: boolean): string {
  const opts = { strAbbreviateSize: Infinity, iterableLimit: Infinity };
  return String(Deno.inspect(value, colors ? { ...opts, colors: true } : opts));
}

/**
 * One text line: `<timestamp> <LVL> labman·<area>: <message> key=value …`, values in the message
 * rendered by `Deno.inspect`; with `colors`, timestamp and category dim and the level bold in
 * its colour.
 */
export function formatTextLine(record: LogRecord, options: { colors: boolean }): string {
  const { colors } = options;
  let message = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    message += i % 2 === 0 ? sanitize(part as string, false) : inspect(part, colors);
  }
  const category = record.category.map((c) => sanitize(c, true)).join("·");
  const abbr = ABBR[record.level];
  const head = colors
    ? `${DIM}${textTimestamp(record.timestamp)}${RESET} ${BOLD}${
      LEVEL_COLOR[record.level]
    }${abbr}` +
      `${RESET} ${DIM}${category}${RESET}: ${message}`
    : `${textTimestamp(record.timestamp)} ${abbr} ${category}: ${message}`;
  const props = Object.entries(record.properties)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return (props ? `${head} ${props}` : head) + "\n";
}
