/**
 * Parses rosenpass stdout (pure). Each new key is announced as
 * `output-key peer <b64 peer id> key-file "<Rust Debug-quoted path>" exchanged|stale`;
 * anything else is reported as unexpected so the caller logs it and applies nothing.
 *
 * @module
 */

export type RosenpassOutput =
  | { kind: "key"; peerId: string; keyFile: string; status: "exchanged" | "stale" }
  | { kind: "unexpected"; line: string; reason: string };

const LINE =
  /^output-key peer ([A-Za-z0-9+/]+={0,2}) key-file "((?:[^"\\]|\\.)*)" (exchanged|stale)$/;

/** Parses one stdout line (without its newline; a trailing `\r` is tolerated). */
export function parseRosenpassOutputLine(line: string): RosenpassOutput {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  const m = LINE.exec(text);
  if (!m) {
    return { kind: "unexpected", line, reason: "not an `output-key peer … key-file … ` line" };
  }
  const keyFile = unescapeRustDebugString(m[2]!);
  if (keyFile === null) {
    return { kind: "unexpected", line, reason: "key-file path has an unsupported escape" };
  }
  return { kind: "key", peerId: m[1]!, keyFile, status: m[3] as "exchanged" | "stale" };
}

/**
 * Undoes Rust's `Debug` escaping of a string/path body (without the surrounding quotes):
 * `\\ \" \' \n \r \t \0 \u{…}`. Returns null for anything else — including `\xNN`, which Rust
 * emits for non-UTF-8 path bytes that a JS string cannot name.
 */
export function unescapeRustDebugString(body: string): string | null {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case "\\":
      case '"':
      case "'":
        out += e;
        break;
      case "n":
        out += "\n";
        break;
      case "r":
        out += "\r";
        break;
      case "t":
        out += "\t";
        break;
      case "0":
        out += "\0";
        break;
      case "u": {
        const m = /^\{([0-9a-fA-F]{1,6})\}/.exec(body.slice(i + 1));
        if (!m) return null;
        const cp = parseInt(m[1]!, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
        out += String.fromCodePoint(cp);
        i += m[0].length;
        break;
      }
      default:
        return null;
    }
  }
  return out;
}
