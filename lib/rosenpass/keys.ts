/**
 * Rosenpass static keys (Classic McEliece 460896, raw binary): generation through
 * `rosenpass gen-keys` and validation of sizes and modes (invariant 7: secrets are 0600).
 *
 * @module
 */
import { dirname } from "node:path";
import { resolveRosenpassBinary } from "./resolve_binary.ts";
import { pathExists } from "../files/mod.ts";

/** Size of a Rosenpass public key file in bytes. */
export const ROSENPASS_PUBLIC_KEY_BYTES = 524_160;
/**
 * Accepted secret key sizes: 13,568 B is what rosenpass 0.2.x (liboqs via oqs-sys 0.8) writes
 * (verified with 0.2.3); 13,608 B is the current McEliece 460896 secret key size (main).
 */
export const ROSENPASS_SECRET_KEY_BYTES: readonly number[] = [13_568, 13_608];

export interface RosenpassKeyPaths {
  secretKeyPath: string;
  publicKeyPath: string;
}

export interface GenerateRosenpassKeysOptions extends RosenpassKeyPaths {
  /** Name or path of the rosenpass executable. @default "rosenpass" */
  binary?: string;
  /** Replace existing key files. @default false */
  force?: boolean;
}

export interface GenerateRosenpassKeysResult extends RosenpassKeyPaths {
  /** False when valid keys already existed and `force` was not set. */
  created: boolean;
}

/**
 * Generates a key pair with `rosenpass gen-keys`, the secret 0600 in a 0700 directory. rosenpass
 * 0.2.x writes with the process umask, so the child runs under umask 077 and modes are fixed
 * afterwards too. Existing valid keys are kept unless `force`.
 */
export async function generateRosenpassKeys(
  options: GenerateRosenpassKeysOptions,
): Promise<GenerateRosenpassKeysResult> {
  const { secretKeyPath, publicKeyPath } = options;
  const paths = { secretKeyPath, publicKeyPath };
  const exist = [await pathExists(secretKeyPath), await pathExists(publicKeyPath)];
  if (!options.force && exist[0] && exist[1]) {
    await checkRosenpassKeyFiles(paths);
    return { ...paths, created: false };
  }
  if (!options.force && (exist[0] || exist[1])) {
    throw new Error(
      `Cannot generate Rosenpass keys: ${
        exist[0] ? secretKeyPath : publicKeyPath
      } exists but its pair does not — remove it or pass --force`,
    );
  }
  const binary = resolveRosenpassBinary(options.binary ?? "rosenpass");
  const secretDir = dirname(secretKeyPath);
  await Deno.mkdir(secretDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(secretDir, 0o700);
  await Deno.mkdir(dirname(publicKeyPath), { recursive: true, mode: 0o755 });
  const args = [
    "-c",
    'umask 077; exec "$0" "$@"',
    binary,
    "gen-keys",
    "--secret-key",
    secretKeyPath,
    "--public-key",
    publicKeyPath,
    ...(options.force ? ["--force"] : []),
  ];
  const out = await new Deno.Command("/bin/sh", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim() || `exit code ${out.code}`;
    throw new Error(`Cannot generate Rosenpass keys with ${binary}: ${why}`);
  }
  await Deno.chmod(secretKeyPath, 0o600);
  await Deno.chmod(publicKeyPath, 0o644);
  await checkRosenpassKeyFiles(paths);
  return { ...paths, created: true };
}

/**
 * Checks that both key files exist with the right sizes and that the secret key (and its
 * directory) are private. Throws one Error listing every problem with the command that fixes it.
 */
export async function checkRosenpassKeyFiles(paths: RosenpassKeyPaths): Promise<void> {
  const problems: string[] = [];
  const pk = await statOrProblem(paths.publicKeyPath, "public key", problems);
  if (pk && pk.size !== ROSENPASS_PUBLIC_KEY_BYTES) {
    problems.push(
      `Rosenpass public key ${paths.publicKeyPath} is ${pk.size} bytes, expected ${ROSENPASS_PUBLIC_KEY_BYTES}; run: labman keygen --force`,
    );
  }
  const sk = await statOrProblem(paths.secretKeyPath, "secret key", problems);
  if (sk) {
    if (!ROSENPASS_SECRET_KEY_BYTES.includes(sk.size)) {
      problems.push(
        `Rosenpass secret key ${paths.secretKeyPath} is ${sk.size} bytes, expected ${
          ROSENPASS_SECRET_KEY_BYTES.join(" or ")
        }; run: labman keygen --force`,
      );
    }
    const mode = (sk.mode ?? 0) & 0o777;
    if (mode & 0o077) {
      problems.push(
        `Rosenpass secret key ${paths.secretKeyPath} is mode ${octal(mode)}; run: chmod 600 ${
          shellQuote(paths.secretKeyPath)
        }`,
      );
    }
    const dir = dirname(paths.secretKeyPath);
    const dst = await Deno.stat(dir);
    const dmode = (dst.mode ?? 0) & 0o777;
    if (dmode & 0o077) {
      problems.push(
        `Rosenpass secret key directory ${dir} is mode ${octal(dmode)}; run: chmod 700 ${
          shellQuote(dir)
        }`,
      );
    }
  }
  if (problems.length) throw new Error(problems.join("\n"));
}

async function statOrProblem(
  path: string,
  what: string,
  problems: string[],
): Promise<Deno.FileInfo | null> {
  try {
    const st = await Deno.stat(path);
    if (!st.isFile) {
      problems.push(`Rosenpass ${what} ${path} is not a regular file; run: labman keygen --force`);
      return null;
    }
    return st;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      problems.push(`Rosenpass ${what} ${path} does not exist; run: labman keygen`);
    } else {
      problems.push(`Cannot read Rosenpass ${what} ${path}: ${(err as Error).message}`);
    }
    return null;
  }
}

function octal(mode: number): string {
  return "0" + mode.toString(8).padStart(3, "0");
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
