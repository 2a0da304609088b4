/**
 * The shape of a config error or warning, and its one-line text form.
 *
 * @module
 */

/** One problem found in a config file. `path` uses `endpoints[2].base_url` syntax. */
export interface ConfigIssue {
  /** The config file (empty when no file is involved, e.g. none was found). */
  file: string;
  /** 1-based line of the field in the file, when it appears there. */
  line?: number;
  /** 1-based column; only set for TOML syntax errors. */
  column?: number;
  /** Field path, or `""` for the whole file. */
  path: string;
  /** What is wrong. */
  message: string;
  /** How to fix it, when there is a clear fix. */
  fix?: string;
}

/**
 * One line: `file:line: path: message — fix`. Parts that are absent are left out, e.g.
 * `/etc/labman/labman.toml:14: endpoints[2].base_url: not an http(s) URL — use e.g. "…"`.
 */
export function formatIssue(issue: ConfigIssue): string {
  let where = issue.file;
  if (where !== "" && issue.line !== undefined) {
    where += `:${issue.line}`;
    if (issue.column !== undefined) where += `:${issue.column}`;
  }
  const parts = [where, issue.path].filter((p) => p !== "");
  const head = parts.length > 0 ? parts.join(": ") + ": " : "";
  return head + issue.message + (issue.fix ? ` — ${issue.fix}` : "");
}

/** An issue before it is tied to a file: the path is still in segments. */
export interface FieldIssue {
  path: (string | number)[];
  message: string;
  fix?: string;
}
