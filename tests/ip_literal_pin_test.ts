// Pins the behaviour where the config parser and the WireGuard codec used to disagree:
// leading-zero IPv4 octets (`010.0.0.1`, octal to inet_aton, decimal to others) are refused by
// every user of the one parser, each with an error that names the problem.
import assert from "node:assert/strict";
import { parseConfigText } from "../lib/config/mod.ts";
import { parseCidr, parseEndpoint } from "../lib/wireguard/cidr.ts";
import { isLoopbackHost, parseIp } from "../lib/net/mod.ts";

const LOCAL =
  `[wireguard]\nmode = "off"\n\n[[endpoints]]\nname = "a"\nurl = "http://127.0.0.1:8000/v1"\n`;

Deno.test("010.0.0.1 is refused by the parser, the WireGuard codec and config, with a reason", () => {
  assert.equal(parseIp("010.0.0.1"), undefined);
  assert.throws(() => parseCidr("010.0.0.1/32", "wireguard.address"), (e: unknown) => {
    assert.ok(e instanceof SyntaxError);
    assert.match(
      e.message,
      /^Cannot parse wireguard\.address "010\.0\.0\.1\/32": .*leading zeros.* — /,
    );
    return true;
  });
  assert.throws(() => parseEndpoint("010.0.0.1:51820"), SyntaxError);
  assert.equal(isLoopbackHost("0127.0.0.1"), false);
  const result = parseConfigText(
    LOCAL + `\n[proxy]\nlisten_addr = "127.000.0.1"\n`,
    "/etc/labman/labman.toml",
  );
  assert.equal(result.ok, false);
  if (result.ok) return;
  const issue = result.errors.find((i) => i.path === "proxy.listen_addr");
  assert.ok(issue, JSON.stringify(result.errors));
  assert.match(issue.message, /leading zeros/);
});
