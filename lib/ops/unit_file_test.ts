import assert from "node:assert/strict";
import { rewriteUnitPaths } from "./unit_file.ts";

const UNIT = `[Service]
ExecStartPre=/usr/local/bin/labman pre
ExecStart=/usr/local/bin/labmand --config /etc/labman/labman.toml
ExecReload=/bin/kill -HUP $MAINPID
ExecStopPost=-/usr/local/bin/labman post
# ExecStart=/usr/local/bin/labmand in a comment stays
Description=/usr/local/bin/labmand`;

Deno.test("rewriteUnitPaths moves only labman binaries in Exec lines to the bin dir", () => {
  const out = rewriteUnitPaths(UNIT, "/opt/labman/bin/");
  assert.equal(
    out,
    `[Service]
ExecStartPre=/opt/labman/bin/labman pre
ExecStart=/opt/labman/bin/labmand --config /etc/labman/labman.toml
ExecReload=/bin/kill -HUP $MAINPID
ExecStopPost=-/opt/labman/bin/labman post
# ExecStart=/usr/local/bin/labmand in a comment stays
Description=/usr/local/bin/labmand`,
  );
});

Deno.test("rewriteUnitPaths is a no-op for the default dir and rejects relative dirs", () => {
  assert.equal(rewriteUnitPaths(UNIT, "/usr/local/bin"), UNIT);
  assert.throws(() => rewriteUnitPaths(UNIT, "bin"), /must be absolute/);
});
