import assert from "node:assert/strict";
import { join } from "node:path";
import { parseRosenpassKey, readRosenpassKey } from "./read_key.ts";

const GOOD = "t5yNRAek1BRrQJ+yGzm3lmthFi0mr1XA5/IfdtYhruo="; // real rosenpass 0.2.3 output

Deno.test("accepts 44 chars of padded base64 and one trailing newline", () => {
  assert.deepEqual(parseRosenpassKey(GOOD), { ok: true, psk: GOOD });
  assert.deepEqual(parseRosenpassKey(GOOD + "\n"), { ok: true, psk: GOOD });
});

Deno.test("rejects wrong lengths, non-base64, empty and extra whitespace", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["\n", /empty/],
    [GOOD.slice(0, 43), /43 chars/],
    [GOOD + "A", /45 chars/],
    [GOOD + "\n\n", /45 chars/],
    [GOOD + "\r\n", /45 chars/],
    [" " + GOOD.slice(1), /base64/],
    [GOOD.slice(0, 42) + "!=", /base64/],
    [GOOD.slice(0, 43) + "A", /base64/], // no padding
    ["-".repeat(43) + "=", /base64/], // url-safe alphabet
    [GOOD.slice(0, 42) + "p=", /base64/], // non-canonical last symbol
    ["A".repeat(42) + "==", /base64/], // 31 bytes
  ];
  for (const [text, why] of cases) {
    const r = parseRosenpassKey(text);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(text)}`);
    assert.match(!r.ok ? r.error : "", why);
  }
});

Deno.test("readRosenpassKey reads files and reports bad ones without throwing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = join(dir, "k");
    await Deno.writeTextFile(f, GOOD);
    assert.deepEqual(await readRosenpassKey(f), { ok: true, psk: GOOD });
    await Deno.writeTextFile(f, GOOD.slice(0, 20)); // torn write
    assert.equal((await readRosenpassKey(f)).ok, false);
    await Deno.writeFile(f, new Uint8Array(44).fill(0xff));
    assert.match(JSON.stringify(await readRosenpassKey(f)), /not text/);
    await Deno.writeTextFile(f, "x".repeat(5000));
    assert.match(JSON.stringify(await readRosenpassKey(f)), /longer than/);
    assert.match(JSON.stringify(await readRosenpassKey(join(dir, "missing"))), /cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
