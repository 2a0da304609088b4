import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { configToToml, redactConfig } from "./redact.ts";
import { LabmanConfigSchema } from "./schema.ts";

const config = LabmanConfigSchema.parse({
  control_plane: { base_url: "https://cp.example.net", node_token: "s3cret-token" },
  endpoints: [{ name: "a", base_url: "http://user:pw@127.0.0.1:1/v1" }],
});

Deno.test("redactConfig hides the node token and URL credentials, not the input", () => {
  const r = redactConfig(config);
  assert.equal(r.control_plane?.node_token, "***");
  assert.ok(!JSON.stringify(r).includes("s3cret-token"));
  assert.ok(!JSON.stringify(r).includes("pw@"));
  assert.equal(config.control_plane?.node_token, "s3cret-token");
});

Deno.test("configToToml round-trips through the schema", () => {
  const text = configToToml(redactConfig(config));
  assert.ok(!text.includes("s3cret-token"));
  const back = LabmanConfigSchema.parse(parse(text));
  assert.equal(back.control_plane?.node_token, "***");
  assert.equal(back.proxy.listen_port, 8080);
  assert.equal(back.wireguard.peer, undefined);
});
