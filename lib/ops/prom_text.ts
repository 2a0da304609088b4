/**
 * A tiny reader for the Prometheus text exposition format (0.0.4), enough for `labman status`
 * to summarise labmand's own `/metrics` without a client library.
 *
 * @module
 */

/** One sample line: `name{label="value",…} value [timestamp]`. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses exposition text into samples. `# HELP`/`# TYPE` and other comments are skipped, and a
 * line that cannot be read is skipped too: a summary from the readable lines beats no summary.
 */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const sample = parseSampleLine(line);
    if (sample) out.push(sample);
  }
  return out;
}

function parseSampleLine(line: string): PromSample | undefined {
  const nameMatch = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line);
  if (!nameMatch) return undefined;
  const name = nameMatch[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === "{") {
    pos++;
    for (let guard = 0; guard < 1000; guard++) {
      while (line[pos] === " " || line[pos] === ",") pos++;
      if (line[pos] === "}") {
        pos++;
        break;
      }
      const key = /^[A-Za-z_][A-Za-z0-9_]*/.exec(line.slice(pos));
      if (!key) return undefined;
      pos += key[0].length;
      while (line[pos] === " ") pos++;
      if (line[pos] !== "=") return undefined;
      pos++;
      while (line[pos] === " ") pos++;
      if (line[pos] !== '"') return undefined;
      pos++;
      let value = "";
      for (; pos < line.length && line[pos] !== '"'; pos++) {
        if (line[pos] === "\\" && pos + 1 < line.length) {
          pos++;
          value += line[pos] === "n" ? "\n" : line[pos];
        } else {
          value += line[pos];
        }
      }
      if (line[pos] !== '"') return undefined;
      pos++;
      labels[key[0]] = value;
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  const value = parseValue(rest[0] ?? "");
  if (value === undefined) return undefined;
  return { name, labels, value };
}

function parseValue(text: string): number | undefined {
  switch (text) {
    case "+Inf":
    case "Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
    case "NaN":
      return NaN;
  }
  if (text === "" || !/^[-+0-9.eE]+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isNaN(n) ? undefined : n;
}

/** Samples of one metric, optionally only those whose labels include `match`. */
export function samplesOf(
  samples: readonly PromSample[],
  name: string,
  match: Record<string, string> = {},
): PromSample[] {
  return samples.filter((s) =>
    s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)
  );
}

/** Sum over every sample of a metric, or `undefined` when the metric is absent. */
export function sumOf(samples: readonly PromSample[], name: string): number | undefined {
  const found = samplesOf(samples, name);
  if (found.length === 0) return undefined;
  return found.reduce((acc, s) => acc + s.value, 0);
}
