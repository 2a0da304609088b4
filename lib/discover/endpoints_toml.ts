/**
 * Turns found servers into ready-to-paste `[[endpoints]]` tables, and merges them into an
 * existing config by appending text — so every comment and the layout of the file stay as the
 * operator wrote them. Pure.
 *
 * @module
 */
import { parse as parseToml } from "smol-toml";
import { dialectOf } from "../registry/mod.ts";
import type { FoundServer } from "./scan.ts";
import { isLoopbackHost } from "../net/mod.ts";

export interface PlannedEndpoint {
  readonly name: string;
  readonly server: FoundServer;
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

/** Normalised for comparing: no trailing slash, `/v1` appended to an empty path. */
function sameUrlKey(url: string): string {
  try {
    const u = new URL(url);
    let path = u.pathname.replace(/\/+$/, "");
    if (path === "") path = "/v1";
    const host = u.hostname === "localhost" ? "127.0.0.1" : u.hostname;
    return `${u.protocol}//${host}:${u.port || (u.protocol === "https:" ? "443" : "80")}${path}`;
  } catch {
    return url;
  }
}

/** Names unique among themselves and `taken`: the kind, then port and host when needed. */
export function planEndpoints(
  servers: readonly FoundServer[],
  taken: Iterable<string> = [],
): PlannedEndpoint[] {
  const used = new Set(taken);
  const perKind = new Map<string, number>();
  for (const s of servers) perKind.set(s.kind, (perKind.get(s.kind) ?? 0) + 1);
  return servers.map((server) => {
    let name: string = server.kind;
    if (!isLoopbackHost(server.host)) name += `-${server.host.replace(/[^A-Za-z0-9]+/g, "-")}`;
    if ((perKind.get(server.kind) ?? 0) > 1) name += `-${server.port}`;
    name = name.slice(0, 60);
    let unique = name;
    for (let n = 2; used.has(unique); n++) unique = `${name}-${n}`;
    used.add(unique);
    return { name: unique, server };
  });
}

/** One `[[endpoints]]` table with comments saying what was found. */
export function renderEndpoint(p: PlannedEndpoint): string {
  const s = p.server;
  // JSON escapes keep a hostile model id from ending the comment line.
  const shown = s.models.slice(0, 8).map((m) => JSON.stringify(m)).join(", ");
  const more = s.models.length > 8 ? `, … (${s.models.length} in all)` : "";
  const lines = [
    `# ${dialectOf(s.kind).label}${s.version ? ` ${s.version}` : ""} — ${s.evidence}`,
    `# models: ${s.models.length ? shown + more : "none listed yet"}`,
    "[[endpoints]]",
    `name = ${tomlString(p.name)}`,
    `base_url = ${tomlString(s.baseUrl)}`,
    `kind = ${tomlString(s.kind)}`,
  ];
  return lines.join("\n") + "\n";
}

export function renderEndpoints(planned: readonly PlannedEndpoint[]): string {
  return planned.map(renderEndpoint).join("\n");
}

export interface MergeResult {
  /** The new file text (the old text, untouched, plus appended tables). */
  readonly text: string;
  readonly added: PlannedEndpoint[];
  /** Servers already configured (same base_url), by existing endpoint name. */
  readonly skipped: { readonly server: FoundServer; readonly existing: string }[];
}

/**
 * Appends tables for servers not yet in `configText`. Throws a SyntaxError when the existing
 * file is not valid TOML (nothing should be written then).
 */
export function mergeEndpoints(
  configText: string,
  servers: readonly FoundServer[],
  header = "Added by `labman discover`",
): MergeResult {
  let parsed: { endpoints?: unknown };
  try {
    parsed = parseToml(configText) as { endpoints?: unknown };
  } catch (err) {
    throw new SyntaxError(
      `Cannot add endpoints: the config is not valid TOML (${
        (err as Error).message.split("\n")[0]
      }) — fix it first (labman config check)`,
      { cause: err },
    );
  }
  const existing = Array.isArray(parsed.endpoints) ? parsed.endpoints : [];
  const byUrl = new Map<string, string>();
  const names: string[] = [];
  for (const e of existing) {
    if (typeof e !== "object" || e === null) continue;
    const { name, base_url } = e as { name?: unknown; base_url?: unknown };
    if (typeof name === "string") names.push(name);
    if (typeof base_url === "string") byUrl.set(sameUrlKey(base_url), String(name ?? "?"));
  }
  const fresh: FoundServer[] = [];
  const skipped: MergeResult["skipped"][number][] = [];
  for (const s of servers) {
    const had = byUrl.get(sameUrlKey(s.baseUrl));
    if (had !== undefined) skipped.push({ server: s, existing: had });
    else fresh.push(s);
  }
  const added = planEndpoints(fresh, names);
  if (added.length === 0) return { text: configText, added, skipped };
  const sep = configText === "" || configText.endsWith("\n\n")
    ? ""
    : configText.endsWith("\n")
    ? "\n"
    : "\n\n";
  const text = `${configText}${sep}# ${header}\n${renderEndpoints(added)}`;
  return { text, added, skipped };
}
