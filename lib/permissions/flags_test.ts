import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  allowedPaths,
  denoRunArgs,
  isWithin,
  PERMISSIONS,
  renderFlags,
  renderTask,
  taskFlags,
} from "./flags.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The drift check: deno.json's tasks are what lib/permissions/flags.ts renders, so the flags the
 * binaries are compiled with, the ones `deno task` runs and the ones tests spawn are one list.
 */
for (const task of ["labmand", "labman", "dev", "compile"] as const) {
  Deno.test(`deno.json task "${task}" equals lib/permissions/flags.ts's rendering`, async () => {
    const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
    assert.equal(
      tasks[task],
      renderTask(task),
      `deno.json's "${task}" task drifted from lib/permissions/flags.ts — set it to:\n` +
        JSON.stringify(renderTask(task)),
    );
  });
}

Deno.test("every flag names a list: only --allow-net is unrestricted (its hosts come from the config)", () => {
  for (const task of ["labmand", "labman", "dev"] as const) {
    const flags = taskFlags(task);
    const allows = flags.filter((f) => f.startsWith("--allow-"));
    assert.deepEqual(allows.filter((f) => !f.includes("=")), ["--allow-net"], task);
    assert.ok(!flags.includes("--allow-all") && !flags.includes("-A"), task);
    for (const kind of ["read", "write", "run", "env", "sys", "ffi"]) {
      assert.equal(allows.filter((f) => f.startsWith(`--allow-${kind}=`)).length, 1, kind);
    }
  }
});

Deno.test("labman may do what labmand does (labman dev runs it in-process), write implies read", () => {
  const set = (p: "labmand" | "labman", k: "read" | "write" | "run" | "env" | "sys" | "ffi") =>
    new Set(PERMISSIONS[p][k].map((e) => typeof e === "string" ? e : e.path));
  for (const k of ["read", "write", "run", "env", "sys", "ffi"] as const) {
    for (const item of set("labmand", k)) assert.ok(set("labman", k).has(item), `${k} ${item}`);
  }
  for (const p of ["labmand", "labman"] as const) {
    for (const dir of allowedPaths(p, "write", "/")) {
      assert.ok(allowedPaths(p, "read", "/").some((r) => isWithin(dir, r)), `${p}: ${dir}`);
    }
  }
});

Deno.test("labmand reads only labman's own places, never /etc, /root, /home or all of /tmp", () => {
  const read = allowedPaths("labmand", "read", "/srv/node");
  assert.deepEqual(read, [
    "/etc/labman",
    "/var/lib/labman",
    "/run/labman",
    "/run/wireguard",
    "/var/run/wireguard",
    "/srv/node/labman.toml",
  ]);
  for (const secret of ["/etc/shadow", "/root/.ssh/id_ed25519", "/home/u/x", "/tmp/x"]) {
    assert.ok(!read.some((d) => isWithin(secret, d)), secret);
    assert.ok(!allowedPaths("labman", "read", "/").some((d) => isWithin(secret, d)), secret);
  }
});

Deno.test("renderFlags: source-tree entries become absolute for a checkout; extra dirs are appended once", () => {
  const flags = renderFlags(PERMISSIONS.labmand, {
    checkout: "/lmrepo",
    extraDirs: ["/tmp/t", "/etc/labman"],
  });
  const read = flags.find((f) => f.startsWith("--allow-read="))!.slice("--allow-read=".length);
  assert.deepEqual(read.split(","), [
    "/etc/labman",
    "/var/lib/labman",
    "/run/labman",
    "/run/wireguard",
    "/var/run/wireguard",
    "./labman.toml",
    "/lmrepo/lib",
    "/tmp/t",
  ]);
  assert.deepEqual(denoRunArgs("labman", "/lmrepo").slice(-1), ["/lmrepo/labman/main.ts"]);
  assert.ok(
    denoRunArgs("labman", "/lmrepo").includes(
      renderFlags(PERMISSIONS.labman, {
        checkout: "/lmrepo",
      }).find((f) => f.startsWith("--allow-write="))!,
    ),
  );
});

Deno.test("isWithin compares whole path segments", () => {
  assert.ok(isWithin("/etc/labman", "/etc/labman"));
  assert.ok(isWithin("/etc/labman/a/b", "/etc/labman"));
  assert.ok(!isWithin("/etc/labmanx/a", "/etc/labman"));
  assert.ok(!isWithin("/etc", "/etc/labman"));
  assert.ok(isWithin("/anything", "/"));
});
