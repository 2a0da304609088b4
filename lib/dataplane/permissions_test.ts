import assert from "node:assert/strict";
import { dataPlanePermissions, endpointNetEntry } from "./permissions.ts";

Deno.test("endpointNetEntry fills default ports and keeps IPv6 brackets", () => {
  assert.equal(endpointNetEntry("http://127.0.0.1:11434/v1"), "127.0.0.1:11434");
  assert.equal(endpointNetEntry("http://gpu.lan/v1"), "gpu.lan:80");
  assert.equal(endpointNetEntry("https://gpu.lan/v1"), "gpu.lan:443");
  assert.equal(endpointNetEntry("http://[fd00::5]:8000/v1"), "[fd00::5]:8000");
});

Deno.test("dataPlanePermissions grants bind + endpoints only, deduplicated", () => {
  const p = dataPlanePermissions({ hostname: "10.90.0.7", port: 8080 }, [
    "http://127.0.0.1:11434/v1",
    "http://127.0.0.1:11434/v1",
    "http://192.168.1.20:8000/v1",
  ]);
  assert.deepEqual(p.net, ["10.90.0.7:8080", "127.0.0.1:11434", "192.168.1.20:8000"]);
  for (const name of ["read", "write", "run", "env", "ffi", "sys", "import"] as const) {
    assert.equal(p[name], false, name);
  }
});
