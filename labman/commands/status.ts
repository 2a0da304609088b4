/**
 * `labman status`: asks the running labmand's loopback admin listener for its `/status` JSON
 * document (schema in lib/admin/status.ts) and prints a compact summary, or JSON with `--json`.
 * Exit: 0 ready, 1 not ready, 3 unreachable, 2 usage error.
 *
 * @module
 */
import { loadConfig } from "../../lib/config/mod.ts";
import {
  type CommandDeps,
  describeFetchError,
  formatStatus,
  resolveDeps,
  summarizeStatus,
} from "../../lib/ops/mod.ts";
import { joinHostPort } from "../../lib/net/mod.ts";
import { type AdminStatus, AdminStatusSchema } from "../../lib/admin/mod.ts";
import { readCappedText } from "../../lib/http/mod.ts";
import { commandArgs, positiveMsFlag } from "./_args.ts";

const DEFAULT_ADMIN = "http://127.0.0.1:9464";

const USAGE = `usage: labman status [--admin URL] [--config PATH] [--json] [--timeout-ms N]

Shows whether labmand is ready, its endpoints (healthy/total, models), request counts, queue,
WireGuard and Rosenpass state, read from the admin listener's /status (${DEFAULT_ADMIN} unless the
config's [admin] says otherwise).

Options:
  --admin URL       admin listener base URL (overrides the config)
  --config PATH     config to read [admin] from (default: /etc/labman/labman.toml, ./labman.toml)
  --json            print JSON for machines
  --timeout-ms N    per-request timeout (default 3000)
  -h, --help        show this help

Exit status: 0 ready, 1 not ready, 3 labmand unreachable.`;

export const EXIT_UNREACHABLE = 3;

/** `http://host:port` for an admin listen address (IPv6 in brackets). */
export function adminUrl(addr: string, port: number): string {
  return `http://${joinHostPort(addr, port)}`;
}

/** The admin URL from `--admin`, else the config, else the default; or why there is none. */
export async function resolveAdminUrl(
  explicit: string | undefined,
  configPath: string | undefined,
): Promise<{ url: string; note?: string } | { disabled: string }> {
  if (explicit !== undefined) return { url: explicit.replace(/\/+$/, "") };
  const loaded = await loadConfig({
    ...(configPath ? { path: configPath } : {}),
    checkKeyFiles: false,
  });
  if (!loaded.ok) {
    return {
      url: DEFAULT_ADMIN,
      note: `config not usable (${loaded.file ?? "none found"}); trying the default`,
    };
  }
  const admin = loaded.config.admin;
  if (!admin.enabled) return { disabled: loaded.file };
  return { url: adminUrl(admin.listen_addr, admin.listen_port) };
}

/** labmand's own answer is small; anything bigger is not labmand. */
const MAX_STATUS_BYTES = 1024 * 1024;

async function get(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  const { text } = await readCappedText(res.body, MAX_STATUS_BYTES);
  return { status: res.status, body: text };
}

/** The parsed `/status` document, or why the answer is not one. */
function parseStatus(answer: { status: number; body: string }): AdminStatus | string {
  if (answer.status === 404) {
    return "this labmand has no /status (older than this labman?) — update labmand";
  }
  if (answer.status !== 200) return `/status answered HTTP ${answer.status}`;
  let json: unknown;
  try {
    json = JSON.parse(answer.body);
  } catch {
    return "/status did not answer JSON — is --admin pointing at labmand's admin listener?";
  }
  const parsed = AdminStatusSchema.safeParse(json);
  return parsed.success
    ? parsed.data
    : `/status answered an unexpected document (${
      parsed.error.issues[0]?.message
    }) — are labman and labmand the same version?`;
}

export async function status(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { out, err } = resolveDeps(deps);
  const parsed = commandArgs("status", args, {
    options: {
      admin: { type: "string" },
      config: { type: "string", short: "c" },
      json: { type: "boolean" },
      "timeout-ms": { type: "string" },
    },
    usage: USAGE,
  }, { out, err });
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const timeoutMs = positiveMsFlag("status", "--timeout-ms", values["timeout-ms"], 3000, {
    out,
    err,
  });
  if (timeoutMs === undefined) return 2;
  if (values.admin !== undefined && !/^https?:\/\//.test(values.admin)) {
    err(`labman status: --admin must be an http URL like ${DEFAULT_ADMIN}, got "${values.admin}"`);
    return 2;
  }
  const target = await resolveAdminUrl(values.admin, values.config);
  if ("disabled" in target) {
    const msg =
      `labmand's admin listener is disabled in ${target.disabled} (admin.enabled = false) — ` +
      "enable it to use labman status";
    if (values.json) out(JSON.stringify({ reachable: false, error: msg }));
    else err(`labman status: ${msg}`);
    return EXIT_UNREACHABLE;
  }
  const base = target.url;
  let answer: { status: number; body: string };
  try {
    answer = await get(`${base}/status`, timeoutMs);
  } catch (e) {
    const msg = `labmand is not running or admin listener disabled (tried ${base})`;
    if (values.json) {
      out(
        JSON.stringify({
          reachable: false,
          admin: base,
          error: msg,
          cause: describeFetchError(e, timeoutMs),
        }),
      );
    } else {
      err(`labman status: ${msg}`);
      if (target.note) err(`  (${target.note})`);
    }
    return EXIT_UNREACHABLE;
  }
  const doc = parseStatus(answer);
  if (typeof doc === "string") {
    const msg = `Cannot read labmand's status at ${base}: ${doc}`;
    if (values.json) out(JSON.stringify({ reachable: true, admin: base, error: msg }));
    else err(`labman status: ${msg}`);
    return EXIT_UNREACHABLE;
  }
  const summary = summarizeStatus({ admin: base, status: doc });
  if (values.json) out(JSON.stringify({ reachable: true, ...summary }, null, 2));
  else out(formatStatus(summary));
  return summary.ready ? 0 : 1;
}
