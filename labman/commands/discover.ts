/**
 * `labman discover`: finds the LLM servers on this machine (and, only when named with
 * `--hosts`, on other hosts), tells which software each one is by its fingerprint, lists its
 * models, and prints ready-to-paste `[[endpoints]]` tables or appends them to the config
 * (`--write`, the file's comments kept).
 *
 * Exit: 0 found at least one server, 1 found none, 2 usage or config error.
 *
 * @module
 */
import { configCandidates, findConfigFile } from "../../lib/config/mod.ts";
import {
  DEFAULT_PORTS,
  expandHosts,
  LOOPBACK_HOSTS,
  mergeEndpoints,
  planEndpoints,
  renderEndpoints,
  scanServers,
  WELL_KNOWN_PORTS,
} from "../../lib/discover/mod.ts";
import { type CommandDeps, fileErrorReason, resolveDeps } from "../../lib/ops/mod.ts";
import { dialectOf } from "../../lib/registry/mod.ts";
import { mayExistSync } from "../../lib/files/mod.ts";
import { commandArgs, positiveMsFlag } from "./_args.ts";

const USAGE =
  `usage: labman discover [--hosts LIST] [--ports LIST] [--json] [--write [--config PATH]]

Probes ${LOOPBACK_HOSTS.join(", ")} on the well-known ports of local LLM servers
(${DEFAULT_PORTS.join(", ")}), identifies each server by its own fingerprint (version endpoints
and body shapes, not the port), lists its models and prints [[endpoints]] tables to paste into
labman.toml.

It never leaves loopback unless you name hosts: probing other machines is a port scan of your
network, which you should decide on (and may need permission for), not a default.

Options:
  --hosts LIST      also probe these hosts: names, addresses or IPv4 ranges up to a /24,
                    comma-separated (e.g. 192.168.1.20,gpu2.lan or 192.168.1.0/24)
  --ports LIST      ports to probe instead of the well-known ones, comma-separated
  --json            print what was found as JSON
  --write           append the new [[endpoints]] to the config (servers already configured
                    with the same base_url are skipped; comments and layout are kept)
  --config PATH     config to add to (--write) or to skip servers already in it (default:
                    /etc/labman/labman.toml, ./labman.toml)
  --timeout-ms N    per-request timeout while fingerprinting (default 2000)
  -h, --help        show this help

Exit status: 0 found at least one server, 1 found none, 2 usage or config error.`;

function parseList(values: string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

function parsePorts(values: string[]): number[] {
  const ports = parseList(values).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new RangeError(`Cannot scan --ports "${p}": not a port number — use 1-65535`);
    }
    return n;
  });
  if (ports.length === 0) {
    throw new RangeError(
      "Cannot scan: --ports lists no port — give at least one, e.g. --ports 8000,11434",
    );
  }
  return [...new Set(ports)];
}

export async function discover(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { out, err } = resolveDeps(deps);
  const parsed = commandArgs("discover", args, {
    options: {
      hosts: { type: "string", multiple: true },
      ports: { type: "string", multiple: true },
      json: { type: "boolean" },
      write: { type: "boolean" },
      config: { type: "string", short: "c" },
      "timeout-ms": { type: "string" },
    },
    usage: USAGE,
  }, { out, err });
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const timeoutMs = positiveMsFlag("discover", "--timeout-ms", values["timeout-ms"], 2000, {
    out,
    err,
  });
  if (timeoutMs === undefined) return 2;
  let hosts: string[];
  let ports: number[];
  try {
    hosts = [...LOOPBACK_HOSTS, ...expandHosts(parseList(values.hosts ?? []))];
    ports = values.ports ? parsePorts(values.ports) : [...DEFAULT_PORTS];
  } catch (e) {
    err(`labman discover: ${(e as Error).message}`);
    return 2;
  }
  hosts = [...new Set(hosts)];

  let configPath: string | undefined;
  let configText = "";
  if (values.write) {
    configPath = findConfigFile(configCandidates(values.config), mayExistSync);
    if (configPath === undefined) {
      err(
        `labman discover: Cannot write endpoints: no config file at ${
          configCandidates(values.config).join(" or ")
        } — pass --config PATH, or copy labman.example.toml there first`,
      );
      return 2;
    }
    try {
      configText = await Deno.readTextFile(configPath);
    } catch (e) {
      err(
        `labman discover: Cannot read ${configPath}: ${
          fileErrorReason(e, configPath, "read")
        } — pass --config PATH of a config under /etc/labman`,
      );
      return 2;
    }
  } else {
    // Printing only: skip servers the config already has, when there is a readable config.
    configPath = findConfigFile(configCandidates(values.config), mayExistSync);
    if (values.config !== undefined && configPath === undefined) {
      err(`labman discover: Cannot read ${values.config}: no such file — check --config`);
      return 2;
    }
    if (configPath !== undefined) {
      try {
        configText = await Deno.readTextFile(configPath);
      } catch (e) {
        if (values.config !== undefined && e instanceof Deno.errors.NotCapable) {
          err(
            `labman discover: Cannot read ${configPath}: ${
              fileErrorReason(e, configPath, "read")
            } — pass --config PATH of a config under /etc/labman`,
          );
          return 2;
        }
        configPath = undefined; // e.g. /etc/labman/labman.toml readable by root only
      }
    }
  }

  let scan;
  try {
    scan = await scanServers({ hosts, ports, requestTimeoutMs: timeoutMs });
  } catch (e) {
    err(`labman discover: ${(e as Error).message}`);
    return 2;
  }
  const { servers, unknown } = scan;

  if (values.json) {
    out(JSON.stringify(
      {
        hosts,
        ports,
        servers: servers.map((s) => ({
          kind: s.kind,
          server: dialectOf(s.kind).label,
          version: s.version ?? null,
          host: s.host,
          port: s.port,
          base_url: s.baseUrl,
          models: s.models,
          evidence: s.evidence,
        })),
        unidentified: unknown,
      },
      null,
      2,
    ));
  } else {
    err(
      `Probed ${scan.probed} host:port pairs (${hosts.join(", ")}; ports ${ports.join(", ")}).`,
    );
    for (const s of servers) {
      const models = s.models.length ? printable(s.models.join(", ")) : "no models listed";
      err(
        `  found ${dialectOf(s.kind).label}${s.version ? ` ${s.version}` : ""} at ${s.baseUrl}` +
          ` — ${models}`,
      );
    }
    for (const u of unknown) {
      const port = Number(u.slice(u.lastIndexOf(":") + 1));
      const guess = WELL_KNOWN_PORTS[port]?.map((k) => dialectOf(k).label).join(" / ");
      err(
        `  ${u} accepts connections but is no OpenAI-compatible server we recognise` +
          (guess ? ` (the usual port of ${guess})` : ""),
      );
    }
    if (servers.length === 0) err("No LLM server found.");
  }

  if (values.write && configPath !== undefined) {
    let merged;
    try {
      merged = mergeEndpoints(configText, servers);
    } catch (e) {
      err(`labman discover: ${configPath}: ${(e as Error).message}`);
      return 2;
    }
    for (const s of merged.skipped) {
      err(`  ${s.server.baseUrl} is already configured as endpoint "${s.existing}"`);
    }
    if (merged.added.length > 0) {
      try {
        await writeKeepingMode(configPath, merged.text);
      } catch (e) {
        err(`labman discover: Cannot write ${configPath}: ${(e as Error).message}`);
        return 2;
      }
      err(
        `Added ${merged.added.length} endpoint(s) to ${configPath}: ${
          merged.added.map((a) => a.name).join(", ")
        }. Check it with "labman config check", then reload labmand.`,
      );
    } else {
      err(`Nothing to add to ${configPath}.`);
    }
  } else if (!values.json && servers.length > 0) {
    let planned = planEndpoints(servers);
    if (configPath !== undefined) {
      try {
        const merged = mergeEndpoints(configText, servers);
        for (const s of merged.skipped) {
          err(
            `  ${s.server.baseUrl} is already configured as endpoint "${s.existing}" (${configPath})`,
          );
        }
        planned = merged.added;
      } catch {
        // Not valid TOML: print everything; `labman config check` tells what is wrong.
      }
    }
    if (planned.length > 0) out(renderEndpoints(planned).trimEnd());
    else err("Every server found is already configured.");
  }
  return servers.length > 0 ? 0 : 1;
}

/** Model ids come from the servers: no terminal escapes or line breaks reach the screen. */
function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
}

/** Replaces the file atomically (temp file + rename in the same directory), same mode. */
async function writeKeepingMode(path: string, text: string): Promise<void> {
  const mode = (await Deno.stat(path)).mode ?? 0o600;
  const tmp = `${path}.labman-discover.tmp`;
  await Deno.writeTextFile(tmp, text, { mode: mode & 0o7777 });
  try {
    await Deno.chmod(tmp, mode & 0o7777);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
