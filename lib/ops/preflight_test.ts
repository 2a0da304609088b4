import assert from "node:assert/strict";
import {
  describeFetchError,
  endpointCheck,
  ipForwardCheck,
  kernelCheck,
  keyDirCheck,
  keyFileCheck,
  rosenpassCheck,
  tunCheck,
  wireguardGoCheck,
  wireguardNeeds,
} from "./preflight.ts";

const none = { loaded: false, loadable: false };
const loadable = { loaded: false, loadable: true };
const loaded = { loaded: true, loadable: true };

Deno.test("wireguardNeeds follows the mode and the kernel module", () => {
  assert.deepEqual(wireguardNeeds("off", none), { wireguardGo: "no", tun: false, kernel: false });
  assert.deepEqual(wireguardNeeds("kernel", none), { wireguardGo: "no", tun: false, kernel: true });
  assert.deepEqual(wireguardNeeds("userspace", loaded), {
    wireguardGo: "required",
    tun: true,
    kernel: false,
  });
  assert.deepEqual(wireguardNeeds("auto", loaded), {
    wireguardGo: "no",
    tun: false,
    kernel: false,
  });
  assert.deepEqual(wireguardNeeds("auto", loadable), {
    wireguardGo: "fallback",
    tun: false,
    kernel: false,
  });
  assert.deepEqual(wireguardNeeds("auto", none), {
    wireguardGo: "required",
    tun: true,
    kernel: false,
  });
});

Deno.test("keyDirCheck refuses world access with the chmod to run, warns on group", () => {
  const world = keyDirCheck("key dir", "/var/lib/labman/wireguard", 0o40755);
  assert.equal(world.status, "fail");
  assert.match(world.detail!, /mode 0755: other users/);
  assert.equal(world.fix, "run: chmod 700 /var/lib/labman/wireguard");
  assert.equal(keyDirCheck("k", "/d", 0o750).status, "warn");
  assert.equal(keyDirCheck("k", "/d", 0o700).status, "ok");
  assert.equal(keyDirCheck("k", "/d", null).status, "ok");
});

Deno.test("kernel, wireguard-go, tun and rosenpass checks fail only when the mode needs them", () => {
  assert.equal(kernelCheck("kernel", none).status, "fail");
  assert.match(kernelCheck("kernel", none).fix!, /mode = "userspace"/);
  assert.equal(kernelCheck("auto", none).status, "ok");
  assert.equal(kernelCheck("kernel", loadable).status, "warn");
  assert.equal(kernelCheck("auto", loaded).status, "ok");

  const need = wireguardNeeds("userspace", none);
  assert.equal(wireguardGoCheck(need, "wireguard-go", null).status, "fail");
  assert.match(wireguardGoCheck(need, "wireguard-go", null).fix!, /apt-get install wireguard-go/);
  assert.equal(wireguardGoCheck(need, "wireguard-go", "/usr/bin/wireguard-go").status, "ok");
  assert.equal(wireguardGoCheck(wireguardNeeds("auto", loadable), "wg-go", null).status, "warn");
  assert.equal(wireguardGoCheck(wireguardNeeds("kernel", none), "wg-go", null).status, "ok");

  assert.equal(tunCheck(true, "missing").status, "fail");
  assert.match(tunCheck(true, "missing").fix!, /modprobe tun/);
  assert.equal(tunCheck(false, "missing").status, "ok");
  assert.equal(tunCheck(true, "char").status, "ok");

  assert.equal(rosenpassCheck(true, "rosenpass", null).status, "fail");
  assert.match(rosenpassCheck(true, "rosenpass", null).fix!, /rosenpass.enabled = false/);
  assert.equal(rosenpassCheck(false, "rosenpass", null).status, "ok");
});

Deno.test("keyFileCheck: 0600 ok, wider fails with chmod, missing generated key warns", () => {
  assert.equal(keyFileCheck("k", "/k", { kind: "file", mode: 0o100600 }).status, "ok");
  const wide = keyFileCheck("k", "/k", { kind: "file", mode: 0o100640 });
  assert.equal(wide.status, "fail");
  assert.equal(wide.fix, "run: chmod 600 /k");
  assert.equal(keyFileCheck("k", "/k", { kind: "missing" }, "labman keygen").status, "warn");
  assert.equal(keyFileCheck("k", "/k", { kind: "missing" }).status, "fail");
  assert.equal(keyFileCheck("k", "/k", { kind: "other" }).status, "fail");

  assert.equal(ipForwardCheck("0\n", "labman0").status, "ok");
  const fwd = ipForwardCheck("1\n", "labman0");
  assert.equal(fwd.status, "warn");
  assert.match(fwd.fix!, /iifname "labman0" drop/);
  assert.equal(ipForwardCheck(null, "labman0").status, "warn");
});

Deno.test("endpointCheck explains refused connections, auth, bad answers and model counts", () => {
  const url = "http://127.0.0.1:11434/v1";
  const refused = endpointCheck("ollama", url, { kind: "error", message: "connection refused" }, 0);
  assert.equal(refused.status, "fail");
  assert.equal(
    refused.detail,
    `cannot connect to endpoint \`ollama\` at ${url}: connection refused`,
  );
  assert.match(refused.fix!, /endpoints\[0\]\.base_url/);
  assert.match(
    endpointCheck("a", url, { kind: "http", status: 401, body: "" }, 2).fix!,
    /endpoints\[2\]\.api_key_file/,
  );
  assert.equal(endpointCheck("a", url, { kind: "http", status: 404, body: "" }, 0).status, "fail");
  assert.equal(
    endpointCheck("a", url, { kind: "http", status: 200, body: "<html>" }, 0).status,
    "fail",
  );
  const ok = endpointCheck(
    "a",
    url,
    { kind: "http", status: 200, body: '{"data":[{"id":"m"}]}' },
    0,
  );
  assert.equal(ok.status, "ok");
  assert.equal(ok.detail, `1 model at ${url}`);
  assert.equal(
    endpointCheck("a", url, { kind: "http", status: 200, body: '{"data":[]}' }, 0).status,
    "warn",
  );
});

Deno.test("describeFetchError digs the reason out of Deno's fetch errors", () => {
  const refused = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://127.0.0.1:1/): client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  });
  assert.equal(describeFetchError(refused, 100), "connection refused");
  assert.equal(
    describeFetchError(new DOMException("x", "TimeoutError"), 250),
    "no answer within 250 ms",
  );
  assert.equal(
    describeFetchError(
      new TypeError("fetch failed", {
        cause: new Error("error sending request for url (x): boom"),
      }),
      1,
    ),
    "boom",
  );
  assert.equal(describeFetchError(new Error("plain"), 1), "plain");
});
