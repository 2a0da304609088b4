import assert from "node:assert/strict";
import { formatIssue } from "./issue.ts";
import { parseConfigText } from "./load.ts";

const endpoint = (kind: string) =>
  `[wireguard]\nmode = "off"\n[[endpoints]]\nname = "a"\nbase_url = "http://127.0.0.1:1"\nkind = ${kind}\n`;

Deno.test("endpoints[].kind: known kinds load, absent means auto", () => {
  const r = parseConfigText(endpoint(`"llamacpp"`), "f");
  assert.ok(r.ok);
  assert.equal(r.config.endpoints[0]!.kind, "llamacpp");
  const none = parseConfigText(
    `[wireguard]\nmode = "off"\n[[endpoints]]\nname = "a"\nbase_url = "http://127.0.0.1:1"\n`,
    "f",
  );
  assert.ok(none.ok);
  assert.equal(none.config.endpoints[0]!.kind, undefined);
});

Deno.test("endpoints[].kind: a typo names the line, the choices and the closest kind", () => {
  const r = parseConfigText(endpoint(`"olama"`), "/etc/labman/labman.toml");
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 1);
  assert.match(
    formatIssue(r.errors[0]!),
    /^\/etc\/labman\/labman\.toml:6: endpoints\[0\]\.kind: must be one of "auto", "openai", "ollama".* — did you mean "ollama"\?$/,
  );
});
