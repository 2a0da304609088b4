import assert from "node:assert/strict";
import { cpioNewc, gzip } from "./cpio.ts";

Deno.test("cpio newc: headers, 4-byte padding and trailer as the kernel expects", async () => {
  const data = new TextEncoder().encode("hello");
  const img = cpioNewc([
    { type: "dir", path: "/bin" },
    { type: "file", path: "bin/x", data, mode: 0o755 },
    { type: "symlink", path: "sh", target: "bin/x" },
    { type: "chardev", path: "console", major: 5, minor: 1 },
  ]);
  const text = new TextDecoder("latin1").decode(img);
  assert.equal(img.length % 4, 0);
  assert.equal(text.split("070701").length - 1, 5, "4 entries + trailer");
  // dir: no leading slash, mode 040755; the header is 110 bytes, then "bin\0" pads to 116.
  assert.equal(text.slice(0, 6 + 16), "070701" + "00000001" + "000041ed");
  assert.equal(text.slice(110, 114), "bin\0");
  const file = text.indexOf("070701", 6);
  assert.equal(file % 4, 0);
  assert.equal(text.slice(file + 14, file + 22), "000081ed");
  assert.equal(text.slice(file + 54, file + 62), "00000005", "filesize");
  assert.ok(text.includes("console\0"));
  assert.match(text, /TRAILER!!!\0/);
  const gz = await gzip(img);
  assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b]);
  const back = new Uint8Array(
    await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")))
      .arrayBuffer(),
  );
  assert.deepEqual(back, img);
});

Deno.test("cpio newc: rejects an empty path", () => {
  assert.throws(() => cpioNewc([{ type: "dir", path: "/" }]), /empty path/);
});
