import assert from "node:assert/strict";
import { LabmanConfigSchema } from "../config/schema.ts";
import { portmanChecks } from "./portman_check.ts";

const cfg = (portman: Record<string, unknown>) =>
  LabmanConfigSchema.parse({ wireguard: { mode: "off" }, portman });

Deno.test("doctor: Portman secret mode and the credential-less opt-in", () => {
  const missing = portmanChecks(cfg({ secret_file: "/x/s" }), () => ({ kind: "missing" }));
  assert.deepEqual(missing.map((c) => c.status), ["ok"]);
  assert.match(missing[0]!.detail!, /labmand creates it/);

  const open = portmanChecks(cfg({ secret_file: "/x/s" }), () => ({ kind: "file", mode: 0o644 }));
  assert.equal(open[0]!.status, "fail");
  assert.equal(open[0]!.fix, "run: chmod 600 /x/s");

  const legacy = portmanChecks(
    cfg({ secret_file: "/x/s", allow_unauthenticated: true }),
    () => ({ kind: "file", mode: 0o600 }),
  );
  assert.deepEqual(legacy.map((c) => [c.label, c.status]), [
    ["Portman secret", "ok"],
    ["Portman authentication", "warn"],
  ]);
  assert.match(legacy[1]!.detail!, /forge usage reports/);

  assert.deepEqual(portmanChecks(cfg({ enabled: false }), () => ({ kind: "missing" })).length, 1);
});
