/**
 * labmand's permission flags (deno.json `labmand` task, also baked into the binary) scope FFI to
 * libmnl and libc by absolute path. These checks make sure netlink and sd_notify still work under
 * exactly those flags — otherwise the userspace backend would quietly fall back to `ip`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { taskFlags } from "./helpers/labmand_process.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("labmand flags: --allow-ffi is path-scoped, and libmnl and libc load under it", async () => {
  const flags = await taskFlags("labmand");
  const ffi = flags.find((f) => f.startsWith("--allow-ffi"));
  assert.ok(ffi?.startsWith("--allow-ffi="), `FFI must be scoped to library paths, got ${ffi}`);
  const probe = `
    import { ffiAvailable } from "${ROOT}lib/wireguard/netlink_socket.ts";
    import { sdNotify } from "${ROOT}lib/systemd/mod.ts";
    const dir = Deno.makeTempDirSync();
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
