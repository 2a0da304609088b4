/**
 * labman's own log lines against LogTape's (test-only import): the same calls, the same frozen
 * clock, byte-identical JSON, text and coloured text lines over generated records.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  configureSync,
  getAnsiColorFormatter,
  getLogger as logtapeLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";
import { getLogger, type LogLevel, resetLogging, setupLogging } from "./log.ts";

/** The formatter options labman used with LogTape (lib/telemetry/log.ts before it went). */
function textWithProps(values: {
  timestamp: string | null;
  level: string;
  category: string;
  message: string;
  record: LogRecord;
}): string {
  const props = Object.entries(values.record.properties)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  const head = `${values.timestamp ?? ""} ${values.level} ${values.category}: ${values.message}`;
  return props ? `${head} ${props}` : head;
}

type Format = "json" | "text" | "color";

function logtapeFormatter(format: Format) {
  if (format === "json") return jsonLinesFormatter;
  const options = { timestamp: "date-time-tz" as const, format: textWithProps };
  return format === "text" ? getTextFormatter(options) : getAnsiColorFormatter(options);
}

const METHODS = ["trace", "debug", "info", "warn", "warning", "error", "fatal"] as const;
type Method = typeof METHODS[number];

interface Call {
  method: Method;
  category: string[];
  template: string;
  props: Record<string, unknown>;
  /** Properties bound with `with()` first (the proxy binds `request_id` so). */
  context?: Record<string, unknown>;
  at: number;
}

/** Runs `calls` through LogTape and through labman's logger with Date frozen per call. */
function both(calls: Call[], format: Format, level: LogLevel): [string[], string[]] {
  const realNow = Date.now;
  let now = 0;
  Date.now = () => now;
  try {
    const theirs: string[] = [];
    const formatter = logtapeFormatter(format);
    configureSync({
      reset: true,
      sinks: { main: (r: LogRecord) => void theirs.push(formatter(r)) },
      loggers: [
        { category: ["labman"], lowestLevel: level, sinks: ["main"] },
        { category: ["logtape", "meta"], lowestLevel: "fatal", sinks: [] },
      ],
    });
    for (const c of calls) {
      now = c.at;
      const l = logtapeLogger(["labman", ...c.category]);
      (c.context ? l.with(c.context) : l)[c.method](c.template, c.props);
    }
    resetSync();
    const ours: string[] = [];
    // "text" with NO_COLOR unset is the coloured form; the plain one needs NO_COLOR.
    const prevNoColor = Deno.env.get("NO_COLOR");
    if (format === "text") Deno.env.set("NO_COLOR", "1");
    else Deno.env.delete("NO_COLOR");
    try {
      setupLogging({
        level,
        format: format === "json" ? "json" : "text",
        write: (l) => void ours.push(l),
      });
    } finally {
      if (prevNoColor === undefined) Deno.env.delete("NO_COLOR");
      else Deno.env.set("NO_COLOR", prevNoColor);
    }
    for (const c of calls) {
      now = c.at;
      const l = getLogger(...c.category);
      (c.context ? l.with(c.context) : l)[c.method](c.template, c.props);
    }
    resetLogging();
    return [theirs, ours];
  } finally {
    Date.now = realNow;
    resetSync();
    resetLogging();
  }
}

// Text a peer may put into a line: braces, quotes, escapes, ESC/SGR, C0/C1 controls, newlines,
// non-ASCII. No `.`/`[`/`?` (LogTape reads `{a.b}` as a property path; labman's templates name
// top-level properties only).
const textChar = fc.constantFrom(
  ..."ab Z9_-:/{}\"'\\=%é中🦙\t\n\r\x00\x07\x1b\x7f\u0085\u009b".split(""),
  "\x1b[31m",
  "\x1b[0m",
  "\x1b[2J",
);
const text = fc.array(textChar, { maxLength: 12 }).map((a) => a.join(""));
const key = fc.constantFrom("endpoint", "error", "n", "request_id", "model", " n ", "*", "x y");
const templatePart = fc.oneof(
  text,
  key.map((k) => `{${k}}`),
  fc.constantFrom("{{", "}}", "{", "}"),
);
const template = fc.array(templatePart, { maxLength: 6 }).map((a) => a.join(""));
const value = fc.oneof(
  text,
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.oneof(text, fc.integer()), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom("a", "b", "c d"), fc.oneof(text, fc.integer()), { maxKeys: 3 }),
  fc.constant(new Error("upstream \x1b[31mboom\x1b[0m")),
);
const props = fc.dictionary(key, value, { maxKeys: 4 });
const call: fc.Arbitrary<Call> = fc.record({
  method: fc.constantFrom(...METHODS),
  category: fc.array(fc.constantFrom("proxy", "registry", "a\x1bb", "da·ta"), {
    minLength: 1,
    maxLength: 2,
  }),
  template,
  props,
  context: fc.option(props, { nil: undefined }),
  at: fc.integer({ min: 0, max: 4_102_444_800_000 }),
});

for (const format of ["json", "text", "color"] as const) {
  Deno.test(`log lines (${format}) are LogTape's, byte for byte, over generated records`, () => {
    fc.assert(
      fc.property(
        fc.array(call, { minLength: 1, maxLength: 5 }),
        fc.constantFrom<LogLevel>("trace", "debug", "info", "warning", "error", "fatal"),
        (calls, level) => {
          const [theirs, ours] = both(calls, format, level);
          assert.deepEqual(ours, theirs);
        },
      ),
      { numRuns: 300 },
    );
  });
}

Deno.test("log lines: a fixed record in each format (so a LogTape change cannot hide a drift)", () => {
  const calls: Call[] = [{
    method: "warn",
    category: ["proxy"],
    template: "endpoint {endpoint} is unhealthy: {error}",
    props: { endpoint: "gpu-1", error: "timeout", request_id: "r1" },
    at: Date.UTC(2026, 10, 29, 3, 4, 5, 67),
  }];
  const [, json] = both(calls, "json", "info");
  assert.deepEqual(json, [
    '{"@timestamp":"2026-11-29T03:04:05.067Z","level":"WARN",' +
    '"message":"endpoint \\"gpu-1\\" is unhealthy: \\"timeout\\"","logger":"labman.proxy",' +
    '"properties":{"endpoint":"gpu-1","error":"timeout","request_id":"r1"}}\n',
  ]);
  const [, text] = both(calls, "text", "info");
  assert.deepEqual(text, [
    '2026-11-29 03:04:05.067 +00 WRN labman·proxy: endpoint "gpu-1" is unhealthy: "timeout" ' +
    "endpoint=gpu-1 error=timeout request_id=r1\n",
  ]);
  const [, below] = both([{ ...calls[0], method: "debug" }], "json", "info");
  assert.deepEqual(below, [], "below the configured level nothing is written");
});

Deno.test("log: nothing is written before setupLogging or after resetLogging; a throwing sink is contained", () => {
  resetLogging();
  const log = getLogger("t");
  log.error("unconfigured"); // must not throw or print
  assert.equal(log.isEnabledFor("fatal"), false);
  const lines: string[] = [];
  setupLogging({ level: "warning", format: "json", write: (l) => void lines.push(l) });
  try {
    assert.equal(log.isEnabledFor("info"), false);
    assert.equal(log.isEnabledFor("warning"), true);
    log.warning("once");
    setupLogging({
      level: "warning",
      format: "json",
      write: () => {
        throw new Error("EPIPE");
      },
    });
    log.error("dropped, not thrown");
  } finally {
    resetLogging();
  }
  log.error("after reset");
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).message, "once");
});
