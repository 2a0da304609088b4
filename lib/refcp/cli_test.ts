import assert from "node:assert/strict";
import { optionsFromArgs } from "./cli.ts";

Deno.test("refcp cli: parses options and token files; rejects missing tokens and bad ports", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "# tokens\ntok-1\n\ntok-2\n");
    const o = await optionsFromArgs([
      "--token-file",
      file,
      "--token",
      "tok-0",
      "--port",
      "0",
      "--allowed-ips",
      "10.90.0.1/32, 10.91.0.0/16",
      "--heartbeat-interval",
      "0.5",
    ]);
    assert.ok(o !== "help");
    assert.deepEqual(o.tokens, ["tok-0", "tok-1", "tok-2"]);
    assert.deepEqual(o.wireguard.allowedIps, ["10.90.0.1/32", "10.91.0.0/16"]);
    assert.equal(o.heartbeatIntervalS, 0.5);
    assert.equal(o.wireguard.publicKey.length, 44);
  } finally {
    await Deno.remove(file);
  }
  await assert.rejects(optionsFromArgs([]), /no token — pass --token or --token-file/);
  await assert.rejects(optionsFromArgs(["--token", "t", "--port", "70000"]), /--port/);
  await assert.rejects(optionsFromArgs(["--bogus"]), /bogus/);
  assert.equal(await optionsFromArgs(["-h"]), "help");
});
