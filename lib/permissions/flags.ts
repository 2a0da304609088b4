/**
 * The Deno permission flags of labmand and labman: one definition, rendered into the `deno.json`
 * tasks (`labmand`, `labman`, `dev`, `compile`; a drift test keeps them equal), into the
 * `deno run` wrappers a checkout install uses (absolute paths), and into the directory list the
 * CLI checks a config against. Pure data and rendering; nothing here touches the system.
 *
 * What is known when the program is built is named: the programs it starts, the variables it
 * reads, its own directories. What only the config knows (the control-plane host, the endpoints,
 * the WireGuard address the proxy binds) is not, so `--allow-net` stays unrestricted for both
 * programs; the data-plane Worker gets the config-derived net list (lib/dataplane/permissions.ts).
 *
 * @module
 */
import { join } from "node:path";

/** The programs this module describes. */
export type Program = "labmand" | "labman";

/** A `deno.json` task whose permission flags come from here. */
export type PermissionTask = "labmand" | "labman" | "dev" | "compile";

/**
 * A path in an allow-list. `abs`: as written. `checkout`: relative to the source tree (the
 * directory of deno.json, which is `deno task`'s working directory). `cwd`: relative to the
 * working directory the program is started in, as `./labman.toml` in the config search order.
 */
export interface PathEntry {
  path: string;
  base: "abs" | "checkout" | "cwd";
  /** Why the program needs it (the docs' table says the same). */
  why: string;
}

/** One program's permission set. `net` is always unrestricted (see the module doc). */
export interface PermissionSet {
  read: readonly PathEntry[];
  write: readonly PathEntry[];
  run: readonly string[];
  env: readonly string[];
  sys: readonly string[];
  ffi: readonly string[];
}

/** `--unstable-*` flags every entry point needs (Worker permissions, abort, reusePort). */
export const UNSTABLE_FLAGS = [
  "--unstable-worker-options",
  "--unstable-no-legacy-abort",
  "--unstable-net",
] as const;

/** Where the data-plane Worker's module lies in the source tree (`new Worker` reads it). */
export const WORKER_ENTRY = "lib/dataplane/worker_main.ts";

/**
 * Directory `labman dev` keeps its throwaway key and relay secret in (one private,
 * random-named directory per run below it): a fixed name, since the flags cannot name `$TMPDIR`.
 */
export const DEV_TEMP_DIR = "/tmp/labman-dev";

const abs = (path: string, why: string): PathEntry => ({ path, base: "abs", why });
const checkout = (path: string, why: string): PathEntry => ({ path, base: "checkout", why });

/** Readable by labmand: the config and secrets, keys, runtime state, wireguard-go's sockets. */
const LABMAND_READ: readonly PathEntry[] = [
  abs("/etc/labman", "the config, node token and endpoint API key files"),
  abs("/var/lib/labman", "WireGuard and Rosenpass keys, the Portman secret"),
  abs("/run/labman", "rosenpass.state_dir (its config, PSK output, pid file)"),
  abs("/run/wireguard", "wireguard-go's UAPI socket (connecting needs read and write)"),
  abs("/var/run/wireguard", "the same through /var/run (Deno compares path text)"),
  { path: "./labman.toml", base: "cwd", why: "the second default config location" },
  checkout("lib", "the data-plane Worker's module and its static imports (new Worker reads them)"),
];

/** Writable by labmand: keys it generates, runtime state, stale UAPI sockets it removes. */
const LABMAND_WRITE: readonly PathEntry[] = [
  abs("/var/lib/labman", "the node key on first start, the Portman secret, public key files"),
  abs("/run/labman", "rosenpass.state_dir"),
  abs("/run/wireguard", "wireguard-go's UAPI socket"),
  abs("/var/run/wireguard", "the same through /var/run"),
];

/** What the CLI needs beyond labmand's directories. */
const LABMAN_READ_EXTRA: readonly PathEntry[] = [
  abs("/etc/systemd/system", "the installed unit (install, update, doctor)"),
  abs("/usr/local/bin", "the installed programs (update keeps the previous ones)"),
  abs("/etc/passwd", "whether the labman service user exists (install)"),
  ...["/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map((dir) =>
    abs(dir, "finding programs on the default PATH (doctor, pre), as which(1) does")
  ),
  abs("/run/systemd/system", "whether systemd is the init system (sd_booted)"),
  abs(DEV_TEMP_DIR, "labman dev's throwaway key and relay secret"),
  ...["labmand", "labman", "labmand.service", "labman.example.toml"].map((file): PathEntry => ({
    path: `./${file}`,
    base: "cwd",
    why: "a release's files, read by install/update run from the directory that holds them",
  })),
  checkout("dist", "`deno task compile` output, what install/update copy"),
  checkout("systemd/labmand.service", "the unit template install/update copy"),
  checkout("labman.example.toml", "the example config install copies"),
];

const LABMAN_WRITE_EXTRA: readonly PathEntry[] = [
  abs("/etc/labman", "install creates it and the config; discover --write rewrites the config"),
  abs("/etc/systemd/system", "install/update write the unit"),
  abs("/usr/local/bin", "install/update write the programs"),
  abs(DEV_TEMP_DIR, "labman dev's throwaway key and relay secret"),
];

const COMMON_ENV = ["PATH", "HOME", "CARGO_HOME", "NOTIFY_SOCKET", "NO_COLOR"] as const;
const FFI = [
  "/usr/lib/x86_64-linux-gnu/libmnl.so.0",
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libmnl.so.0",
  "/lib/aarch64-linux-gnu/libc.so.6",
] as const;

/** The permission set of each program. `labman dev` runs labmand in-process, so labman ⊇ labmand. */
export const PERMISSIONS: Readonly<Record<Program, PermissionSet>> = {
  labmand: {
    read: LABMAND_READ,
    write: LABMAND_WRITE,
    run: ["wireguard-go", "rosenpass", "ip", "cat", "pgrep", "kill", "/bin/sh"],
    env: COMMON_ENV,
    sys: ["hostname"],
    ffi: FFI,
  },
  labman: {
    read: [...LABMAND_READ, ...LABMAN_READ_EXTRA],
    write: [...LABMAND_WRITE, ...LABMAN_WRITE_EXTRA],
    run: [
      "systemctl",
      "useradd",
      "ip",
      "modprobe",
      "stat",
      "cat",
      "pgrep",
      "kill",
      "wireguard-go",
      "rosenpass",
      "/bin/sh",
    ],
    env: COMMON_ENV,
    sys: ["hostname"],
    ffi: FFI,
  },
};

/**
 * `deno task dev` (local mode, no tunnel) starts only what every machine has, so a newcomer's
 * first command prints no "Failed to resolve … for allow-run" line.
 */
const DEV_SET: PermissionSet = { ...PERMISSIONS.labman, run: ["cat", "pgrep", "kill"] };

/** Options of {@link renderFlags}. */
export interface RenderOptions {
  /**
   * Absolute path of the source tree for `checkout` entries; omitted, they stay relative (as in
   * `deno.json`, whose tasks run in that directory).
   */
  checkout?: string;
  /** More directories for read and write, e.g. a test's stand-in for /etc/labman. */
  extraDirs?: readonly string[];
}

/** The path as it appears in a flag. */
export function renderPath(entry: PathEntry, checkoutDir?: string): string {
  if (entry.base === "checkout" && checkoutDir !== undefined) return join(checkoutDir, entry.path);
  return entry.path;
}

/** The flags, in the order the tasks have always listed them: unstable, net, read, write, …. */
export function renderFlags(set: PermissionSet, options: RenderOptions = {}): string[] {
  const extra = options.extraDirs ?? [];
  const paths = (entries: readonly PathEntry[]) => [
    ...new Set([...entries.map((e) => renderPath(e, options.checkout)), ...extra]),
  ];
  return [
    ...UNSTABLE_FLAGS,
    "--allow-net",
    `--allow-read=${paths(set.read).join(",")}`,
    `--allow-write=${paths(set.write).join(",")}`,
    `--allow-run=${set.run.join(",")}`,
    `--allow-env=${set.env.join(",")}`,
    `--allow-sys=${set.sys.join(",")}`,
    `--allow-ffi=${set.ffi.join(",")}`,
  ];
}

/** The permission set behind a task (`compile` bakes both programs' sets). */
export function taskPermissionSet(task: Exclude<PermissionTask, "compile">): PermissionSet {
  return task === "dev" ? DEV_SET : PERMISSIONS[task];
}

/** The permission flags of a task (for `compile`: labmand's, then labman's, concatenated). */
export function taskFlags(task: PermissionTask, options: RenderOptions = {}): string[] {
  if (task === "compile") {
    return [
      ...renderFlags(PERMISSIONS.labmand, options),
      ...renderFlags(PERMISSIONS.labman, options),
    ];
  }
  return renderFlags(taskPermissionSet(task), options);
}

/** The exact command line of a `deno.json` task, as the drift test compares it. */
export function renderTask(task: PermissionTask): string {
  const flags = (set: PermissionSet) => renderFlags(set).join(" ");
  switch (task) {
    case "labmand":
      return `deno run ${flags(PERMISSIONS.labmand)} labmand/main.ts`;
    case "labman":
      return `deno run ${flags(PERMISSIONS.labman)} labman/main.ts`;
    case "dev":
      return `deno run ${flags(DEV_SET)} labman/main.ts dev`;
    case "compile":
      return `deno compile ${flags(PERMISSIONS.labmand)} --include ${WORKER_ENTRY} ` +
        `-o dist/labmand labmand/main.ts && deno compile ${flags(PERMISSIONS.labman)} ` +
        `--include ${WORKER_ENTRY} --include systemd/labmand.service ` +
        `--include labman.example.toml -o dist/labman labman/main.ts`;
  }
}

/**
 * The `deno run` argv (without the deno executable) of a program from a checkout at
 * `checkoutDir` (absolute), as a wrapper script or a unit's ExecStart runs it.
 */
export function denoRunArgs(program: Program, checkoutDir: string): string[] {
  return [
    "run",
    ...renderFlags(PERMISSIONS[program], { checkout: checkoutDir }),
    join(
      checkoutDir,
      `${program}/main.ts`,
    ),
  ];
}

/**
 * The directories (and single files) `program` may read or write, with `checkout` entries left
 * out: the places config paths must lie in. `cwd` entries resolve against `cwd`.
 */
export function allowedPaths(
  program: Program,
  access: "read" | "write",
  cwd: string,
): string[] {
  return PERMISSIONS[program][access].filter((e) => e.base !== "checkout").map((e) =>
    e.base === "cwd" ? join(cwd, e.path) : e.path
  );
}

/** True when `path` (absolute, normalised) is `dir` or lies below it. */
export function isWithin(path: string, dir: string): boolean {
  if (dir === "/") return true;
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}
