/**
 * Least privilege in the Deno flags (issue 11 item 10), as operators run the programs: under the
 * rendered flags of the `labmand`, `labman` and `dev` tasks an unrelated file can be neither
 * read nor written, and a config naming one is refused with the file, field and fix — by
 * labmand at start and on SIGHUP, by `labman config check` and `labman pre` — without its
 * content ever reaching the output.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { startLabmand, taskFlags } from "./helpers/labmand_process.ts";
import { runLabman } from "./helpers/labman_cli.ts";
import { freePort } from "./helpers/netns.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SECRET = "s3cret-not-for-labman";

/** A file outside every directory the programs (and the tests' stand-in) may use. */
async function unrelatedFile(): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "unrelated-" });
  await Deno.writeTextFile(file, `${SECRET}\n`);
  await Deno.chmod(file, 0o600);
  return file;
}

for (const task of ["labmand", "labman", "dev"] as const) {
  Deno.test(`${task} flags (exactly as rendered): unrelated files are refused, labman's own paths are not`, async () => {
    const unrelated = await unrelatedFile();
    const probe = `
      const r = {};
      const attempt = async (name, fn) => {
        try { r[name] = "allowed:" + String(await fn()).slice(0, 40); }
        catch (e) { r[name] = e instanceof Deno.errors.NotCapable ? "NotCapable" : e.constructor.name; }
      };
      const q = (name, path) => Deno.permissions.querySync({ name, path }).state;
      await attempt("read unrelated", () => Deno.readTextFile(${JSON.stringify(unrelated)}));
      await attempt("stat unrelated", () => Deno.stat(${
      JSON.stringify(unrelated)
    }).then(() => "x"));
      await attempt("write unrelated", () => Deno.writeTextFile(${
      JSON.stringify(`${unrelated}.new`)
    }, "x"));
      await attempt("read /etc/shadow", () => Deno.readTextFile("/etc/shadow"));
      await attempt("read /etc/hostname", () => Deno.readTextFile("/etc/hostname"));
      await attempt("list /root", () => Array.from(Deno.readDirSync("/root")).length);
      await attempt("temp dir", () => Deno.makeTempDir());
      await attempt("worker module", () => Deno.readTextFile(${
      JSON.stringify(`${ROOT}lib/dataplane/worker_main.ts`)
    }).then(() => "read"));
      r["query read /etc/labman/labman.toml"] = q("read", "/etc/labman/labman.toml");
      r["query write /var/lib/labman/wireguard/private.key"] = q("write", "/var/lib/labman/wireguard/private.key");
      r["query write /etc/labman/labman.toml"] = q("write", "/etc/labman/labman.toml");
      r["query write /usr/local/bin/labmand"] = q("write", "/usr/local/bin/labmand");
      console.log(JSON.stringify(r));
    `;
    const file = await Deno.makeTempFile({ suffix: ".js" });
    await Deno.writeTextFile(file, probe);
    try {
      // Launched from / (as systemd does): the source-tree paths must not depend on the cwd.
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...await taskFlags(task, { exact: true }), file],
        cwd: "/",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.ok(!stdout.includes(SECRET));
      const cli = task !== "labmand";
      assert.deepEqual(JSON.parse(stdout), {
        "read unrelated": "NotCapable",
        "stat unrelated": "NotCapable",
        "write unrelated": "NotCapable",
        "read /etc/shadow": "NotCapable",
        "read /etc/hostname": "NotCapable",
        "list /root": "NotCapable",
        "temp dir": "NotCapable",
        "worker module": "allowed:read",
        "query read /etc/labman/labman.toml": "granted",
        "query write /var/lib/labman/wireguard/private.key": "granted",
        // Only the CLI installs and rewrites the config; the daemon cannot.
        "query write /etc/labman/labman.toml": cli ? "granted" : "prompt",
        "query write /usr/local/bin/labmand": cli ? "granted" : "prompt",
      });
      await assert.rejects(Deno.stat(`${unrelated}.new`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(file);
      await Deno.remove(unrelated);
    }
  });
}

function localConfig(dir: string, mockUrl: string, extra: { token?: string } = {}): string {
  return `[wireguard]
mode = "off"
private_key_path = "${dir}/wg/private.key"
public_key_path = "${dir}/wg/public.key"

[proxy]
listen_port = ${freePort()}

[portman]
enabled = false

[logging]
format = "json"

[[endpoints]]
name = "gpu0"
base_url = "${mockUrl}"
${extra.token ? `api_key_file = "${extra.token}"\n` : ""}`;
}

const outside = (file: string) =>
  new RegExp(
    `endpoints\\[0\\]\\.api_key_file: ${file} is outside the directories labmand may read ` +
      `\\(/etc/labman, /var/lib/labman, /run/labman, /run/wireguard, /var/run/wireguard\\) ` +
      `— move it under /etc/labman and set the field to the new path`,
  );

function assertClean(text: string) {
  assert.ok(!text.includes(SECRET), "the unrelated file's content leaked");
  assert.doesNotMatch(text, /NotCapable|--allow-read flag|at file:\/\//);
}

Deno.test("labmand refuses at start a config naming a file outside its directories, and a config outside them", async () => {
  await using mock = await startMockLlm({ hostname: "127.0.0.1", port: 0 });
  const dir = await makeTestDir({ prefix: "labman-lp-" });
  const unrelated = await unrelatedFile();
  try {
    const cfg = `${dir}/labman.toml`;
    await Deno.writeTextFile(cfg, localConfig(dir, mock.url, { token: unrelated }));
    {
      await using d = await startLabmand(cfg, { expectReady: false });
      assert.equal(await d.exited(), 1);
      const text = d.logs.map((l) => String(l.message)).join("\n");
      assertClean(text);
      assert.match(text, new RegExp(`error: ${cfg}:\\d+: ` + outside(unrelated).source));
      assert.match(text, /labmand: not started: 1 config error\(s\)/);
    }
    // The config file itself outside: not read, and said so.
    const stray = await Deno.makeTempFile({ suffix: ".toml" });
    await Deno.writeTextFile(stray, localConfig(dir, mock.url) + `# ${SECRET}\n`);
    try {
      await using d = await startLabmand(stray, { expectReady: false });
      assert.equal(await d.exited(), 1);
      const text = d.logs.map((l) => String(l.message)).join("\n");
      assertClean(text);
      assert.ok(
        text.includes(
          `error: ${stray}: Cannot read config file: ${stray} is outside the directories ` +
            "labmand may read (/etc/labman, /var/lib/labman, /run/labman, /run/wireguard, " +
            "/var/run/wireguard) — move it to /etc/labman/labman.toml",
        ),
        text,
      );
    } finally {
      await Deno.remove(stray);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(unrelated);
  }
});

Deno.test("labmand on SIGHUP rejects a config naming a file outside its directories and keeps serving", async () => {
  await using mock = await startMockLlm({ hostname: "127.0.0.1", port: 0 });
  const dir = await makeTestDir({ prefix: "labman-lp-" });
  const unrelated = await unrelatedFile();
  try {
    const cfg = `${dir}/labman.toml`;
    const good = localConfig(dir, mock.url);
    await Deno.writeTextFile(cfg, good);
    await using d = await startLabmand(cfg);
    await Deno.writeTextFile(
      cfg,
      localConfig(dir, mock.url, { token: unrelated }).replace(
        /listen_port = \d+/,
        `listen_port = ${new URL(d.proxyUrl).port}`,
      ),
    );
    d.signal("SIGHUP");
    const rejected = await d.waitForLog((l) =>
      String(l.message).startsWith("reload rejected; keeping the running config")
    );
    const text = JSON.stringify(rejected);
    assertClean(text);
    assert.match(text, outside(unrelated));
    const r = await fetch(`${d.proxyUrl}/models`);
    assert.equal(r.status, 200);
    assert.ok(((await r.json()).data as unknown[]).length > 0);
    d.signal("SIGTERM");
    assert.equal(await d.exited(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(unrelated);
  }
});

Deno.test("labman config check, pre and doctor report a path labmand could not read, and check labmand's set, not their own", async () => {
  const dir = await makeTestDir({ prefix: "labman-lp-" });
  const unrelated = await unrelatedFile();
  try {
    const cfg = `${dir}/labman.toml`;
    await Deno.writeTextFile(cfg, localConfig(dir, "http://127.0.0.1:9/v1", { token: unrelated }));
    for (const args of [["config", "check", cfg], ["pre", "--root", dir, "--config", cfg]]) {
      const r = await runLabman(args);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assertClean(r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`${cfg}:\\d+: ` + outside(unrelated).source));
    }
    const doctor = await runLabman(["doctor", "--config", cfg]);
    assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
    assertClean(doctor.stdout + doctor.stderr);
    assert.match(
      doctor.stdout,
      new RegExp(
        `✗ config: endpoints\\[0\\]\\.api_key_file: ${unrelated} is outside the directories ` +
          "labmand may read",
      ),
    );
    // The CLI may write /usr/local/bin; labmand may not read there: still an error.
    await Deno.writeTextFile(
      cfg,
      localConfig(dir, "http://127.0.0.1:9/v1", { token: "/usr/local/bin/labman-token" }),
    );
    const r = await runLabman(["config", "check", cfg]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, outside("/usr/local/bin/labman-token"));
    // Inside labmand's directories (here the tests' stand-in for them): no such error.
    await Deno.writeTextFile(`${dir}/key`, "sk-test\n", { mode: 0o600 });
    await Deno.writeTextFile(
      cfg,
      localConfig(dir, "http://127.0.0.1:9/v1", { token: `${dir}/key` }),
    );
    const ok = await runLabman(["config", "check", cfg]);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(unrelated);
  }
});

Deno.test("labman install reads a release only from the directory it runs in, and says so elsewhere", async () => {
  // The release lies outside every directory labman may read (and outside the tests' stand-in).
  const release = await Deno.makeTempDir({ prefix: "labman-release-" });
  const dir = await makeTestDir({ prefix: "labman-lp-" });
  try {
    const labmand = crypto.getRandomValues(new Uint8Array(1024));
    await Deno.writeFile(`${release}/labmand`, labmand);
    await Deno.writeFile(`${release}/labman`, crypto.getRandomValues(new Uint8Array(512)));
    await Deno.copyFile(`${ROOT}systemd/labmand.service`, `${release}/labmand.service`);
    const args = ["install", "--root", `${dir}/root`, "--unit-file", "./labmand.service"];
    const elsewhere = await runLabman([
      ...args,
      "--from",
      `${release}/labmand`,
      "--labman-from",
      `${release}/labman`,
    ], { cwd: dir });
    assert.notEqual(elsewhere.code, 0);
    assert.ok(
      elsewhere.stderr.includes(
        `Cannot find the labmand binary (tried ${release}/labmand): ${release}/labmand is ` +
          "outside the directories labman may read — run labman from the directory that holds " +
          `the release (e.g. cd ${release} && ./labman …) and pass paths like ./labmand`,
      ),
      elsewhere.stderr,
    );
    assert.doesNotMatch(elsewhere.stderr, /NotCapable|--allow-read flag/);
    const here = await runLabman(
      [...args, "--from", "./labmand", "--labman-from", "./labman"],
      { cwd: release },
    );
    assert.equal(here.code, 0, here.stdout + here.stderr);
    assert.deepEqual(await Deno.readFile(`${dir}/root/usr/local/bin/labmand`), labmand);
  } finally {
    await Deno.remove(release, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labman keygen --dir and install/update --root outside labman's writable directories are refused with the fix", async () => {
  const outsideDir = await Deno.makeTempDir({ prefix: "labman-outside-" });
  try {
    const keygen = await runLabman(["keygen", "--dir", outsideDir, "--no-rosenpass"]);
    assert.equal(keygen.code, 1);
    assert.ok(
      keygen.stderr.includes(
        `labman keygen: Cannot write keys to ${outsideDir}: ${outsideDir} is outside the ` +
          "directories labman may write (/var/lib/labman, ",
      ) && keygen.stderr.includes("— use the default (/var/lib/labman) or a --dir below it"),
      keygen.stderr,
    );
    for (const command of ["install", "update"]) {
      const r = await runLabman([command, "--root", outsideDir, "--dry-run"]);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(
        r.stderr.includes(
          `Cannot install under --root ${outsideDir}: ${outsideDir} is outside the directories ` +
            "labman may write",
        ),
        r.stderr,
      );
    }
    assert.doesNotMatch(keygen.stderr, /NotCapable|--allow-write flag/);
    assert.deepEqual(Array.from(Deno.readDirSync(outsideDir)), []);
  } finally {
    await Deno.remove(outsideDir, { recursive: true });
  }
});
