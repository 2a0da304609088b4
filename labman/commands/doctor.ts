/**
 * `labman doctor`: a ✓/✗/! checklist of everything labmand depends on, each failure with its
 * fix. Read-only: it changes nothing. Exit 0 when nothing is ✗ (warnings allowed).
 *
 * @module
 */
import {
  checkPathAccess,
  formatIssue,
  type LabmanConfig,
  LabmanConfigSchema,
  loadConfig,
  normaliseEndpointUrl,
} from "../../lib/config/mod.ts";
import {
  type Check,
  check,
  checklistExitCode,
  cliPathAccess,
  type CommandDeps,
  describeFetchError,
  endpointCheck,
  formatChecklist,
  ipForwardCheck,
  isCompiledBinary,
  keyDirChecks,
  keyFileCheck,
  modeOf,
  PATHS,
  portmanChecks,
  type ProbeOutcome,
  resolveDeps,
  rootPath,
  type SecretStat,
  toolChecks,
} from "../../lib/ops/mod.ts";
import { adminUrl } from "./status.ts";
import { readProcFile } from "../../lib/procfs/mod.ts";
import { commandArgs, positiveMsFlag } from "./_args.ts";

const USAGE = `usage: labman doctor [--config PATH] [--bin-dir DIR] [--root DIR] [--timeout-ms N]

Checks the node: runtime, installed binaries and unit, config, key file and directory modes,
/dev/net/tun, wireguard-go, wg, rosenpass, the kernel WireGuard module, ip_forward (reported
only: labman never changes it), the admin listener, and every endpoint (GET base_url/models).
Prints ✓ ok, ! warning, ✗ failure with a fix. Changes nothing.

Options:
  --config PATH    config file (default ${PATHS.config})
  --bin-dir DIR    where labmand is installed (default ${PATHS.binDir})
  --root DIR       prefix for fixed system paths; for tests
  --timeout-ms N   timeout of each network probe (default 3000)
  -h, --help       show this help

Exit status: 0 when nothing failed (warnings allowed), 1 otherwise.`;

function runtimeCheck(execPath: string): Check {
  const how = isCompiledBinary(execPath) ? `compiled binary ${execPath}` : `deno run (${execPath})`;
  return check("ok", "labman runtime", `deno ${Deno.version.deno}, v8 ${Deno.version.v8}; ${how}`);
}

function installedChecks(root: string, binDir: string): Check[] {
  const out: Check[] = [];
  for (const name of ["labmand", "labman"]) {
    const path = rootPath(root, `${binDir}/${name}`);
    const mode = modeOf(path);
    out.push(
      mode === null
        ? check("warn", `${name} binary`, `${path} not installed`, "run: labman install")
        : (mode & 0o111) === 0
        ? check("fail", `${name} binary`, `${path} is not executable`, `run: chmod 755 ${path}`)
        : check("ok", `${name} binary`, path),
    );
  }
  const unit = rootPath(root, `${PATHS.unitDir}/${PATHS.unitName}`);
  out.push(
    modeOf(unit) === null
      ? check("warn", "systemd unit", `${unit} not installed`, "run: labman install")
      : check("ok", "systemd unit", unit),
  );
  return out;
}

function secretStat(path: string): SecretStat {
  try {
    const st = Deno.statSync(path);
    return st.isFile ? { kind: "file", mode: st.mode ?? 0 } : { kind: "other" };
  } catch {
    return { kind: "missing" };
  }
}

function keyFileChecks(config: LabmanConfig): Check[] {
  const out: Check[] = [];
  if (config.wireguard.mode !== "off") {
    out.push(
      keyFileCheck(
        "WireGuard private key",
        config.wireguard.private_key_path,
        secretStat(config.wireguard.private_key_path),
        "labman keygen",
      ),
    );
    if (config.rosenpass.enabled) {
      const sk = config.rosenpass.secret_key_path;
      out.push(
        keyFileCheck(
          "Rosenpass secret key",
          sk,
          secretStat(sk),
          `rosenpass gen-keys --secret-key ${sk} --public-key ${config.rosenpass.public_key_path}`,
        ),
      );
    }
  }
  const token = config.control_plane?.node_token_file;
  if (token !== undefined) out.push(keyFileCheck("node token", token, secretStat(token)));
  for (const ep of config.endpoints) {
    if (ep.api_key_file !== undefined) {
      out.push(
        keyFileCheck(`endpoint ${ep.name} API key`, ep.api_key_file, secretStat(ep.api_key_file)),
      );
    }
  }
  return out;
}

async function probe(
  url: string,
  timeoutMs: number,
  headers: HeadersInit = {},
): Promise<ProbeOutcome> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers,
      redirect: "manual",
    });
    return { kind: "http", status: res.status, body: await res.text() };
  } catch (err) {
    return { kind: "error", message: describeFetchError(err, timeoutMs) };
  }
}

async function adminCheck(config: LabmanConfig, timeoutMs: number): Promise<Check> {
  if (!config.admin.enabled) return check("ok", "admin listener", "disabled in config");
  const url = adminUrl(config.admin.listen_addr, config.admin.listen_port);
  const r = await probe(`${url}/healthz`, timeoutMs);
  if (r.kind === "http" && r.status === 200) {
    return check("ok", "admin listener", `labmand answers at ${url}`);
  }
  return check(
    "warn",
    "admin listener",
    r.kind === "error"
      ? `no answer at ${url} (${r.message}): labmand is not running`
      : `${url}/healthz answered ${r.status}`,
    "systemctl start labmand; see why it stopped: journalctl -u labmand -n 50",
  );
}

async function endpointChecks(config: LabmanConfig, timeoutMs: number): Promise<Check[]> {
  if (config.endpoints.length === 0) {
    return [
      check(
        "warn",
        "endpoints",
        "none configured",
        "add an [[endpoints]] table (see labman.example.toml)",
      ),
    ];
  }
  return await Promise.all(config.endpoints.map(async (ep, i) => {
    const norm = normaliseEndpointUrl(ep.base_url);
    const base = norm.ok ? norm.url : ep.base_url.replace(/\/+$/, "");
    const headers: Record<string, string> = {};
    if (ep.api_key_file !== undefined) {
      try {
        headers.authorization = `Bearer ${(await Deno.readTextFile(ep.api_key_file)).trim()}`;
      } catch {
        // Reported by the key file check.
      }
    }
    return endpointCheck(ep.name, base, await probe(`${base}/models`, timeoutMs, headers), i);
  }));
}

export async function doctor(args: string[], deps: CommandDeps = {}): Promise<number> {
  const { host, out, err, execPath } = resolveDeps(deps);
  const parsed = commandArgs("doctor", args, {
    options: {
      config: { type: "string", short: "c" },
      "bin-dir": { type: "string" },
      root: { type: "string" },
      "timeout-ms": { type: "string" },
    },
    usage: USAGE,
  }, { out, err });
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const root = values.root ?? "/";
  const timeoutMs = positiveMsFlag("doctor", "--timeout-ms", values["timeout-ms"], 3000, {
    out,
    err,
  });
  if (timeoutMs === undefined) return 2;
  const configPath = values.config ?? rootPath(root, PATHS.config);
  const checks: Check[] = [
    runtimeCheck(execPath ?? Deno.execPath()),
    ...installedChecks(root, values["bin-dir"] ?? PATHS.binDir),
  ];

  const loaded = await loadConfig({ path: configPath, checkKeyFiles: false });
  let config: LabmanConfig;
  if (loaded.ok) {
    config = loaded.config;
    checks.push(
      check("ok", "config", `${loaded.file} is valid (wireguard mode ${config.wireguard.mode})`),
    );
    for (const w of loaded.warnings) checks.push(check("warn", "config", formatIssue(w)));
    // Paths labmand's flags would refuse (its start would stop on them, as `pre` does).
    for (const issue of checkPathAccess(config, cliPathAccess(), Deno.cwd())) {
      const field = issue.path.map((seg, i) =>
        typeof seg === "number" ? `[${seg}]` : `${i > 0 ? "." : ""}${seg}`
      ).join("");
      checks.push(check("fail", "config", `${field}: ${issue.message}`, issue.fix ?? ""));
    }
  } else {
    for (const e of loaded.errors) {
      checks.push(
        check(
          "fail",
          "config",
          formatIssue(e),
          `check the whole file with: labman config check --config ${configPath}`,
        ),
      );
    }
    // The host checks still help, judged against the defaults.
    config = LabmanConfigSchema.parse({});
    checks.push(
      check("warn", "config", "the checks below use the defaults (mode auto, rosenpass on)"),
    );
  }
  checks.push(...keyFileChecks(config), ...keyDirChecks(config));
  checks.push(...portmanChecks(config, secretStat));
  checks.push(...await toolChecks(config, { root, host }));
  const wg = host.which("wg");
  checks.push(
    wg ? check("ok", "wg", wg) : check(
      "warn",
      "wg",
      "not found (optional: `wg show` inspects the tunnel)",
      "apt-get install wireguard-tools",
    ),
  );
  // null is reported as unreadable.
  const forward = await readProcFile(rootPath(root, PATHS.ipForward));
  checks.push(ipForwardCheck(forward, config.wireguard.interface_name));
  if (loaded.ok) {
    const [admin, endpoints] = await Promise.all([
      adminCheck(config, timeoutMs),
      endpointChecks(config, timeoutMs),
    ]);
    checks.push(admin, ...endpoints);
  }
  out(formatChecklist(checks));
  return checklistExitCode(checks);
}
