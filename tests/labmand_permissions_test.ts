/**
 * labmand's permission flags (deno.json `labmand` task, also baked into the binary) scope FFI to
 * libmnl and libc by absolute path. These checks make sure netlink and sd_notify still work under
 * exactly those flags — otherwise the userspace backend would quietly fall back to `ip`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { taskFlags } from "./helpers/labmand_process.ts";
import { ensureTestRoot, TEST_ROOT } from "./helpers/test_dirs.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("labmand flags: --allow-ffi is path-scoped, and libmnl and libc load under it", async () => {
  const flags = await taskFlags("labmand");
  const ffi = flags.find((f) => f.startsWith("--allow-ffi"));
  assert.ok(ffi?.startsWith("--allow-ffi="), `FFI must be scoped to library paths, got ${ffi}`);
  const probe = `
    import { ffiAvailable } from "${ROOT}lib/wireguard/netlink_socket.ts";
    import { sdNotify } from "${ROOT}lib/systemd/mod.ts";
    const dir = Deno.makeTempDirSync({ dir: ${JSON.stringify(TEST_ROOT)} });
    const sock = Deno.listenDatagram({ transport: "unixpacket", path: dir + "/n.sock" });
    const got = sock.receive();
    const sent = sdNotify({ READY: "1" }, dir + "/n.sock");
    const text = new TextDecoder().decode((await got)[0]);
    sock.close();
    Deno.removeSync(dir, { recursive: true });
    let other = "allowed";
    try { Deno.dlopen("/lib/" + Deno.build.arch + "-linux-gnu/libm.so.6", { cos: { parameters: ["f64"], result: "f64" } }); }
    catch (e) { other = e instanceof Deno.errors.NotCapable ? "NotCapable" : String(e); }
    console.log(JSON.stringify({ libmnl: ffiAvailable(), sent, text, other }));
  `;
  await ensureTestRoot(); // the probe's socket goes there
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, probe);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(result, { libmnl: true, sent: true, text: "READY=1\n", other: "NotCapable" });
  } finally {
    await Deno.remove(file);
  }
});

/**
 * What the flags name is what the binaries get: the programs they start, the environment
 * variables they read and the hostname. Anything else is refused even though the code asking is
 * ours (a compromised dependency would be refused the same way).
 */
for (const task of ["labmand", "labman", "dev"] as const) {
  Deno.test(`${task} flags: run, env and sys are limited to what ${task} uses`, async () => {
    const flags = await taskFlags(task);
    for (const kind of ["run", "env", "sys"]) {
      const flag = flags.find((f) => f.startsWith(`--allow-${kind}`));
      assert.ok(flag?.startsWith(`--allow-${kind}=`), `--allow-${kind} must list names: ${flag}`);
    }
    const probe = `
      const r = {};
      const attempt = async (name, fn) => {
        try { await fn(); r[name] = "allowed"; }
        catch (e) { r[name] = e instanceof Deno.errors.NotCapable ? "NotCapable" : String(e); }
      };
      await attempt("run ip", () => new Deno.Command("ip", { args: ["-V"], stdout: "null" }).output());
      await attempt("run cat", () => new Deno.Command("cat", { args: ["/dev/null"] }).output());
      await attempt("run curl", () => new Deno.Command("curl", { args: ["--version"] }).output());
      await attempt("run sh -c", () => new Deno.Command("sh", { args: ["-c", "true"] }).output());
      await attempt("env PATH", () => Deno.env.get("PATH"));
      await attempt("env NOTIFY_SOCKET", () => Deno.env.get("NOTIFY_SOCKET"));
      await attempt("env SECRET", () => Deno.env.get("AWS_SECRET_ACCESS_KEY"));
      await attempt("env all", () => Deno.env.toObject());
      await attempt("sys hostname", () => Deno.hostname());
      await attempt("sys interfaces", () => Deno.networkInterfaces());
      await attempt("sys osRelease", () => Deno.osRelease());
      console.log(JSON.stringify(r));
    `;
    const file = await Deno.makeTempFile({ suffix: ".js" });
    await Deno.writeTextFile(file, probe);
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, file],
        stdout: "piped",
        stderr: "piped",
        env: { AWS_SECRET_ACCESS_KEY: "not-for-labman" },
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.deepEqual(JSON.parse(stdout), {
        // `deno task dev` runs local mode only: no tunnel, so no ip/wireguard-go/rosenpass.
        "run ip": task === "dev" ? "NotCapable" : "allowed",
        "run cat": "allowed",
        "run curl": "NotCapable",
        "run sh -c": "NotCapable",
        "env PATH": "allowed",
        "env NOTIFY_SOCKET": "allowed",
        "env SECRET": "NotCapable",
        "env all": "NotCapable",
        "sys hostname": "allowed",
        "sys interfaces": "NotCapable",
        "sys osRelease": "NotCapable",
      });
    } finally {
      await Deno.remove(file);
    }
  });
}
