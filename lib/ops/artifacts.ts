/**
 * The artifacts `labman install`/`update` put on a node, where they come from, and where they
 * go (optionally under a `--root` prefix, so tests never touch the real system).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Desired } from "./install_plan.ts";
import { rewriteUnitPaths } from "./unit_file.ts";
import { sha256Hex } from "./fs_ops.ts";

/** Fixed locations on a node (before any `--root` prefix). */
export const PATHS = {
  binDir: "/usr/local/bin",
  unitDir: "/etc/systemd/system",
  etcDir: "/etc/labman",
  config: "/etc/labman/labman.toml",
  stateDir: "/var/lib/labman",
  wireguardKeyDir: "/var/lib/labman/wireguard",
  rosenpassKeyDir: "/var/lib/labman/rosenpass",
  runtimeDir: "/run/labman",
  uapiDir: "/var/run/wireguard",
  tun: "/dev/net/tun",
  wireguardModule: "/sys/module/wireguard",
  ipForward: "/proc/sys/net/ipv4/ip_forward",
  unitName: "labmand.service",
} as const;

/** `path` under `root` (`/` means the real system). */
export function rootPath(root: string, path: string): string {
  return root === "/" || root === "" ? path : join(root, path);
}

/** True when this process is a `deno compile` binary rather than `deno run`. */
export function isCompiledBinary(execPath: string = Deno.execPath()): boolean {
  return !/^deno(\.exe)?$/.test(basename(execPath));
}

export interface SourceOptions {
  /** The labmand binary to install (`--from`). */
  from?: string;
  /** The labman binary to install (`--labman-from`). */
  labmanFrom?: string;
  /** The unit template (`--unit-file`). */
  unitFile?: string;
  /** The example config (`--example-config`). */
  exampleConfig?: string;
  /** @default Deno.execPath() */
  execPath?: string;
}

export interface Sources {
  labmand: { path: string; data: Uint8Array };
  labman: { path: string; data: Uint8Array };
  unitTemplate: { path: string; text: string };
  example?: { path: string; data: Uint8Array };
}

/** The file's bytes; undefined when it is not a readable regular file; "refused" by the flags. */
async function readIfFile(path: string): Promise<Uint8Array | undefined | "refused"> {
  try {
    if (!(await Deno.stat(path)).isFile) return undefined;
    return await Deno.readFile(path);
  } catch (err) {
    return err instanceof Deno.errors.NotCapable ? "refused" : undefined;
  }
}

/**
 * Why no candidate could be used: labman's flags let it read a release's files only in the
 * directory it is started from (and the checkout's dist/), as no other place is known when the
 * binary is built.
 */
function notFound(what: string, candidates: string[], refused: string[]): string {
  const tried = `Cannot find ${what} (tried ${candidates.join(", ")})`;
  if (refused.length === 0) return tried;
  return `${tried}: ${refused.join(", ")} ${refused.length === 1 ? "is" : "are"} outside the ` +
    "directories labman may read — run labman from the directory that holds the release " +
    `(e.g. cd ${dirname(refused[0])} && ./labman …) and pass paths like ./labmand`;
}

/** The first candidate that is a readable regular file, and the candidates the flags refused. */
async function firstFile(
  candidates: string[],
): Promise<{ path: string; data: Uint8Array } | { refused: string[] }> {
  const refused: string[] = [];
  for (const path of candidates) {
    const data = await readIfFile(path);
    if (data === "refused") refused.push(path);
    else if (data) return { path, data };
  }
  return { refused };
}

const repoFile = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));

/**
 * Finds and reads every source. Defaults: binaries next to the running (compiled) labman, else
 * `dist/` of the source tree; unit and example config embedded with `deno compile --include`
 * (same relative path as in the repo), else next to the binary.
 */
export async function loadSources(
  options: SourceOptions,
): Promise<{ ok: true; sources: Sources } | { ok: false; error: string }> {
  const execPath = options.execPath ?? Deno.execPath();
  const compiled = isCompiledBinary(execPath);
  const exeDir = dirname(execPath);
  const binDirCandidates = (name: string) =>
    compiled ? [join(exeDir, name)] : [repoFile(`dist/${name}`)];

  const labmandCandidates = options.from ? [options.from] : binDirCandidates("labmand");
  const labmand = await firstFile(labmandCandidates);
  if ("refused" in labmand) {
    return {
      ok: false,
      error: labmand.refused.length > 0
        ? notFound("the labmand binary", labmandCandidates, labmand.refused)
        : `Cannot find the labmand binary (tried ${labmandCandidates.join(", ")}) — ` +
          "pass --from PATH, or build it with `deno task compile`",
    };
  }
  const labmanCandidates = options.labmanFrom
    ? [options.labmanFrom]
    : [join(dirname(labmand.path), "labman"), ...(compiled ? [execPath] : [])];
  const labman = await firstFile(labmanCandidates);
  if ("refused" in labman) {
    return {
      ok: false,
      error: labman.refused.length > 0
        ? notFound("the labman binary", labmanCandidates, labman.refused)
        : `Cannot find the labman binary (tried ${labmanCandidates.join(", ")}) — ` +
          "pass --labman-from PATH; the unit runs it as ExecStartPre/ExecStopPost",
    };
  }
  const unitCandidates = options.unitFile
    ? [options.unitFile]
    : [repoFile(`systemd/${PATHS.unitName}`), join(exeDir, PATHS.unitName)];
  const unit = await firstFile(unitCandidates);
  if ("refused" in unit) {
    return {
      ok: false,
      error: unit.refused.length > 0
        ? notFound("the unit template", unitCandidates, unit.refused)
        : `Cannot find the unit template (tried ${unitCandidates.join(", ")}) — ` +
          "pass --unit-file PATH (systemd/labmand.service from the release)",
    };
  }
  const sources: Sources = {
    labmand,
    labman,
    unitTemplate: { path: unit.path, text: new TextDecoder().decode(unit.data) },
  };
  const exampleCandidates = options.exampleConfig
    ? [options.exampleConfig]
    : [repoFile("labman.example.toml"), join(exeDir, "labman.example.toml")];
  const example = await firstFile(exampleCandidates);
  if (!("refused" in example)) sources.example = example;
  else if (options.exampleConfig) {
    return { ok: false, error: `Cannot read --example-config ${options.exampleConfig}` };
  }
  return { ok: true, sources };
}

export interface Layout {
  root: string;
  binDir: string;
  unitDir: string;
}

/** One artifact to install: where it goes and its bytes. */
export interface Artifact {
  desired: Desired;
  content?: Uint8Array;
  /** Shown in messages: the path on the target system (without `--root`). */
  target: string;
}

/** The binaries and unit (what `update` manages). */
export async function programArtifacts(sources: Sources, layout: Layout): Promise<Artifact[]> {
  const unitText = rewriteUnitPaths(sources.unitTemplate.text, layout.binDir);
  const unitData = new TextEncoder().encode(unitText);
  const files: [string, Uint8Array, number][] = [
    [join(layout.binDir, "labmand"), sources.labmand.data, 0o755],
    [join(layout.binDir, "labman"), sources.labman.data, 0o755],
    [join(layout.unitDir, PATHS.unitName), unitData, 0o644],
  ];
  const out: Artifact[] = [];
  for (const [target, data, mode] of files) {
    out.push({
      target,
      content: data,
      desired: {
        kind: "file",
        path: rootPath(layout.root, target),
        mode,
        sha256: await sha256Hex(data),
      },
    });
  }
  return out;
}

/** Everything `install` manages: directories, the programs, and the config if absent. */
export async function installArtifacts(sources: Sources, layout: Layout): Promise<Artifact[]> {
  const dir = (target: string, mode: number, onlyIfAbsent = false): Artifact => ({
    target,
    desired: { kind: "dir", path: rootPath(layout.root, target), mode, onlyIfAbsent },
  });
  const out: Artifact[] = [
    dir(layout.binDir, 0o755, true),
    dir(layout.unitDir, 0o755, true),
    dir(PATHS.etcDir, 0o755),
    dir(PATHS.stateDir, 0o700),
    dir(PATHS.wireguardKeyDir, 0o700),
    dir(PATHS.rosenpassKeyDir, 0o700),
    ...await programArtifacts(sources, layout),
  ];
  if (sources.example) {
    out.push({
      target: PATHS.config,
      content: sources.example.data,
      desired: {
        kind: "file",
        path: rootPath(layout.root, PATHS.config),
        // It may hold the node token inline.
        mode: 0o600,
        sha256: await sha256Hex(sources.example.data),
        onlyIfAbsent: true,
      },
    });
  }
  return out;
}
