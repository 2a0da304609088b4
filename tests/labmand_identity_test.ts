/**
 * Stable node identity (issue 9 item 7): labmand generates its WireGuard key once into the state
 * directory and registers with the same public key after a restart, in local mode too.
 */
import assert from "node:assert/strict";
import { startMockLlm } from "../lib/mockllm/mod.ts";
import { startReferenceControlPlane } from "../lib/refcp/mod.ts";
import { encodeKey, publicKeyFromPrivate } from "../lib/wireguard/mod.ts";
import { freePort, until } from "./helpers/netns.ts";
import { startLabmand, testControlPlanePeer } from "./helpers/labmand_process.ts";
import { makeTestDir } from "./helpers/test_dirs.ts";

Deno.test("labmand: the node key is generated once (0600 in 0700) and kept across restarts", async () => {
  await using mock = await startMockLlm({ models: ["m"] });
  await using cp = await startReferenceControlPlane({
    hostname: "127.0.0.1",
    port: 0,
    tokens: ["tok"],
    wireguard: await testControlPlanePeer(),
    heartbeatIntervalS: 0.2,
  });
  const dir = await makeTestDir({ prefix: "labman-id-" });
  try {
    const path = `${dir}/labman.toml`;
    await Deno.writeTextFile(
      path,
      `[control_plane]
base_url = "${cp.url}"
node_token = "tok"

[wireguard]
mode = "off"
private_key_path = "${dir}/state/wireguard/private.key"
public_key_path = "${dir}/state/wireguard/public.key"

[proxy]
listen_port = ${freePort()}

[admin]
enabled = false

[logging]
format = "json"

[[endpoints]]
name = "gpu0"
base_url = "${mock.url}"
`,
    );
    await Deno.chmod(path, 0o600);
    const keys: string[] = [];
    for (let run = 0; run < 2; run++) {
      await using labmand = await startLabmand(path);
      await until(() => cp.nodes().length === 1, `registration ${run}`);
      keys.push(cp.nodes()[0].wireguardPublicKey);
      labmand.signal("SIGTERM");
      assert.equal(await labmand.exited(), 0);
      await until(() => cp.nodes().length === 0, `deregistration ${run}`);
    }
    assert.equal(keys[0], keys[1], "the control plane sees the same node after a restart");
    const priv = (await Deno.readTextFile(`${dir}/state/wireguard/private.key`)).trim();
    assert.equal(encodeKey(await publicKeyFromPrivate(priv)), keys[0]);
    assert.equal((await Deno.stat(`${dir}/state/wireguard/private.key`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state/wireguard`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.readTextFile(`${dir}/state/wireguard/public.key`)).trim(), keys[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
