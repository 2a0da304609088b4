/**
 * `.ci/run`'s Rust decision, run as CI runs it (bash, as root) with only its rosenpass step
 * (`LABMAN_CI_ONLY`) and stand-ins for the toolchain and dpkg on `PATH`, so nothing is built or
 * installed: a new enough machine Rust is used (with its own rustc), and an old Debian `cargo`
 * package stops the run with an actionable message instead of being replaced. The Debian
 * `cargo-web` path is proven on a fresh Debian 12 by `.ci/fresh_debian.sh` (docs/ci.md).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const CI_RUN = fileURLToPath(new URL("../.ci/run", import.meta.url));
const skip = Deno.uid() !== 0 ? "needs root (.ci/run re-runs itself with sudo otherwise)" : "";
if (skip) console.log(`ci_run_test: skipped — ${skip}`);

interface Fakes {
  /** What the stand-in `rustc --version` prints after "rustc ". */
  rustc: string;
  /** Packages the stand-in `dpkg -s` reports as installed. */
  installed: string[];
}

/** Runs `.ci/run`'s rosenpass step with stand-ins; returns its output and what they recorded. */
async function runRosenpassStep(fakes: Fakes) {
  const dir = await Deno.makeTempDir({ prefix: "lmtest-cirun-" });
  try {
    const bin = `${dir}/bin`;
    const calls = `${dir}/calls`;
    await Deno.mkdir(bin);
    const script = async (name: string, body: string) => {
      await Deno.writeTextFile(`${bin}/${name}`, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    };
    await script("rustc", `echo "rustc ${fakes.rustc} (fake)"`);
    // cargo install … --root DIR: records how it was called and "installs" a rosenpass.
    await script(
      "cargo",
      `echo "cargo $* RUSTC=$RUSTC" >>${calls}
root=$(sed -E 's/.*--root ([^ ]+).*/\\1/' <<<"$*")
mkdir -p "$root/bin" && printf '#!/bin/sh\\necho "rosenpass 0.2.3 (fake)"\\n' >"$root/bin/rosenpass"
chmod +x "$root/bin/rosenpass"`,
    );
    await script(
      "dpkg",
      `for p in ${fakes.installed.join(" ")}; do [[ "$2" == "$p" ]] && exit 0; done; exit 1`,
    );
    await script("apt-get", `echo "apt-get $*" >>${calls}`);
    const out = await new Deno.Command("bash", {
      args: [CI_RUN],
      clearEnv: true,
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        HOME: dir,
        LABMAN_CI_CACHE: `${dir}/cache`,
        LABMAN_CI_ONLY: "^rosenpass",
        LABMAN_CI_HEARTBEAT_S: "600",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      calls: await Deno.readTextFile(calls).catch(() => ""),
      cache: `${dir}/cache`,
      bin,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: ".ci/run: a machine Rust of 1.88+ builds rosenpass with that cargo and its own rustc",
  ignore: !!skip,
  async fn() {
    const r = await runRosenpassStep({ rustc: "1.95.0", installed: [] });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /using the machine's Rust 1\.95\.0/);
    assert.match(
      r.calls,
      new RegExp(
        `^cargo install rosenpass --locked --root ${r.cache}/cargo RUSTC=${r.bin}/rustc$`,
        "m",
      ),
    );
    assert.doesNotMatch(r.calls, /apt-get/);
    assert.match(r.stdout, /rosenpass 0\.2\.3 \(fake\)/);
    assert.match(r.stdout, /rosenpass \(cargo install.*\): done in \d+s/);
  },
});

Deno.test({
  name: ".ci/run: an old Rust from Debian's cargo package stops the run and says how to fix it",
  ignore: !!skip,
  async fn() {
    const r = await runRosenpassStep({ rustc: "1.63.0", installed: ["cargo", "rustc"] });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /the machine's Rust 1\.63\.0 .* is older than 1\.88/);
    assert.match(
      r.stderr,
      /Cannot build rosenpass: Debian's cargo package is installed and too old — apt-get install cargo-web rustc-web/,
    );
    assert.match(r.stdout, /^0 passed, 1 failed$/m);
    // Nothing was installed, replaced or built.
    assert.equal(r.calls, "");
  },
});
