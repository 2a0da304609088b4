/**
 * Finds the rosenpass executable: an explicit path (`rosenpass.binary`) is used as is, a bare
 * name is looked up on PATH and then where `cargo install` puts binaries ($CARGO_HOME/bin,
 * ~/.cargo/bin). Nothing else: test and CI locations are the test runner's business (the
 * `test` task puts CI's cargo cache on PATH).
 *
 * @module
 */
import { join } from "node:path";

export interface ResolveBinaryOptions {
  /** @default Deno.env PATH */
  path?: string;
  /** Searched after PATH. @default $CARGO_HOME/bin, ~/.cargo/bin */
  extraDirs?: readonly string[];
}

/** Returns the absolute path of an executable `binary`; throws an actionable Error otherwise. */
export function resolveRosenpassBinary(binary: string, options: ResolveBinaryOptions = {}): string {
  if (binary.includes("/")) {
    if (isExecutable(binary)) return binary;
    throw new Error(
      `Cannot find rosenpass: ${binary} is not an executable file — fix rosenpass.binary`,
    );
  }
  const dirs = [
    ...(options.path ?? env("PATH") ?? "").split(":").filter(Boolean),
    ...(options.extraDirs ?? defaultExtraDirs()),
  ];
  for (const dir of dirs) {
    const candidate = join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(
    `Cannot find rosenpass: "${binary}" is not on PATH or in ${
      dirs.slice(-3).join(", ")
    } — install rosenpass 0.2.x (cargo install rosenpass) or set rosenpass.binary to its path`,
  );
}

function defaultExtraDirs(): string[] {
  const dirs: string[] = [];
  const cargoHome = env("CARGO_HOME");
  if (cargoHome) dirs.push(join(cargoHome, "bin"));
  const home = env("HOME");
  if (home) dirs.push(join(home, ".cargo", "bin"));
  return dirs;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && st.mode !== null && (st.mode & 0o111) !== 0;
  } catch (err) {
    // labmand may not read program directories, but Deno resolved `--allow-run=rosenpass` on
    // PATH at start: a path it granted is the program found there.
    return err instanceof Deno.errors.NotCapable && runGranted(path);
  }
}

function runGranted(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: path }).state === "granted";
  } catch {
    return false;
  }
}
