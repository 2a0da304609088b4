import assert from "node:assert/strict";
import {
  type Desired,
  formatAction,
  type Observed,
  planChanges,
  planInstall,
} from "./install_plan.ts";

const desired: Desired[] = [
  { kind: "dir", path: "/etc/labman", mode: 0o755 },
  { kind: "dir", path: "/var/lib/labman", mode: 0o700 },
  { kind: "file", path: "/usr/local/bin/labmand", mode: 0o755, sha256: "b".repeat(64) },
  {
    kind: "file",
    path: "/etc/labman/labman.toml",
    mode: 0o600,
    sha256: "c".repeat(64),
    onlyIfAbsent: true,
  },
];

Deno.test("planInstall creates what is missing", () => {
  const plan = planInstall(desired, () => ({ exists: false }));
  assert.deepEqual(plan.map((a) => a.action), ["create", "create", "create", "create"]);
  assert.ok(planChanges(plan));
  assert.equal(formatAction(plan[1]), "created      /var/lib/labman/ (0700)");
  assert.equal(formatAction(plan[2], true), "would create /usr/local/bin/labmand (0755)");
});

Deno.test("planInstall: unchanged, tighten-only dirs, update, chmod, keep, conflict", () => {
  const disk: Record<string, Observed> = {
    "/etc/labman": { exists: true, kind: "dir", mode: 0o40750 }, // stricter: respected
    "/var/lib/labman": { exists: true, kind: "dir", mode: 0o40755 }, // looser: tightened
    "/usr/local/bin/labmand": {
      exists: true,
      kind: "file",
      mode: 0o100755,
      sha256: "a".repeat(64),
    },
    "/etc/labman/labman.toml": { exists: true, kind: "file", mode: 0o100644, sha256: "x" },
  };
  const plan = planInstall(desired, (p) => disk[p]);
  assert.deepEqual(plan.map((a) => a.action), ["unchanged", "chmod", "update", "keep"]);
  assert.equal(formatAction(plan[1]), "chmod        /var/lib/labman/ (0755 → 0700)");
  assert.equal(
    formatAction(plan[2]),
    "updated      /usr/local/bin/labmand (sha256 aaaaaaaaaaaa… → bbbbbbbbbbbb…)",
  );
  assert.match(formatAction(plan[3]), /^kept .*not overwritten/);

  const same = planInstall([desired[2]], () => ({
    exists: true,
    kind: "file",
    mode: 0o100700,
    sha256: "b".repeat(64),
  }));
  assert.equal(same[0].action, "chmod");
  const shared = planInstall(
    [{ kind: "dir", path: "/usr/local/bin", mode: 0o755, onlyIfAbsent: true }],
    () => ({ exists: true, kind: "dir", mode: 0o42775 }),
  );
  assert.equal(shared[0].action, "unchanged", "a dir labman does not own is never chmod-ed");
  const conflict = planInstall([desired[0]], () => ({ exists: true, kind: "file", mode: 0o644 }));
  assert.equal(conflict[0].action, "conflict");
  assert.match(formatAction(conflict[0]), /CONFLICT .*expected a dir/);
});

Deno.test("planChanges is false when everything is unchanged or kept", () => {
  const plan = planInstall(
    desired,
    (p): Observed =>
      p.endsWith("labmand")
        ? { exists: true, kind: "file", mode: 0o755, sha256: "b".repeat(64) }
        : p.endsWith(".toml")
        ? { exists: true, kind: "file", mode: 0o600, sha256: "z" }
        : { exists: true, kind: "dir", mode: p === "/etc/labman" ? 0o755 : 0o700 },
  );
  assert.deepEqual(plan.map((a) => a.action), ["unchanged", "unchanged", "unchanged", "keep"]);
  assert.equal(planChanges(plan), false);
});
