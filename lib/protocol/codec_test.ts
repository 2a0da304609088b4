import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  ERROR_CODES,
  errorEnvelope,
  KINDS,
  makeEnvelope,
  MESSAGE_KINDS,
  ProtocolError,
} from "./mod.ts";

const VECTORS = new URL("../../tests/vectors/protocol/", import.meta.url);

async function vectorFiles(dir: URL): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".json")) out.push(e.name);
  }
  return out.sort();
}

Deno.test("every kind has an example vector that decodes, validates and re-encodes unchanged", async () => {
  const files = await vectorFiles(VECTORS);
  for (const kind of MESSAGE_KINDS) assert.ok(files.includes(`${kind}.json`), `vector for ${kind}`);
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, VECTORS));
    const env = decodeEnvelope(text);
    const original = JSON.parse(text);
    const again = JSON.parse(encodeEnvelope(env));
    // Aliases normalize; everything else, unknown fields included, survives the round trip.
    original.direction = original.direction === "upstream"
      ? "up"
      : original.direction === "downstream"
      ? "down"
      : original.direction;
    assert.deepEqual(again, original, file);
    assert.deepEqual(decodeEnvelope(JSON.stringify(again)), env, file);
  }
});

Deno.test("invalid vectors are refused with the documented error code", async () => {
  const dir = new URL("invalid/", VECTORS);
  const files = await vectorFiles(dir);
  assert.ok(files.length >= 8);
  for (const file of files) {
    const { frame, code } = JSON.parse(await Deno.readTextFile(new URL(file, dir)));
    assert.throws(() => decodeEnvelope(frame), (err) => {
      assert.ok(err instanceof ProtocolError, file);
      assert.equal(err.code, code, `${file}: ${err.message}`);
      return true;
    });
  }
});

Deno.test("errors name the failing field and carry the readable msg_id", () => {
  const frame = JSON.stringify({
    msg_id: "m-1",
    direction: "up",
    kind: "offer_capacity",
    payload: { slots: [{ model: "x", free: -1 }] },
  });
  assert.throws(() => decodeEnvelope(frame), (err: ProtocolError) => {
    assert.equal(err.code, "INVALID_PAYLOAD");
    assert.equal(err.correlationId, "m-1");
    assert.match(err.message, /^payload\.slots\[0\]\.free: /);
    return true;
  });
  assert.throws(
    () => decodeEnvelope(JSON.stringify({ msg_id: "has space", direction: "up", kind: "x" })),
    (err: ProtocolError) => {
      assert.equal(err.code, "INVALID_ENVELOPE");
      assert.equal(err.correlationId, undefined);
      assert.match(err.message, /msg_id: must be/);
      return true;
    },
  );
});

Deno.test("direction aliases, the per-link expectation and frame size are enforced", () => {
  const hb = {
    msg_id: "a",
    direction: "upstream",
    kind: "heartbeat",
    payload: { status: "ready" },
  };
  assert.equal(decodeEnvelope(JSON.stringify(hb)).direction, "up");
  assert.throws(
    () =>
      decodeEnvelope(JSON.stringify({ ...hb, kind: "ack", correlation_id: "z" }), {
        expect: "down",
      }),
    (e: ProtocolError) => e.code === "WRONG_DIRECTION",
  );
  assert.throws(
    () => decodeEnvelope(JSON.stringify(hb), { maxFrameBytes: 20 }),
    (e: ProtocolError) => e.code === "FRAME_TOO_LARGE",
  );
});

Deno.test("makeEnvelope and errorEnvelope build frames that decode", () => {
  for (const code of ERROR_CODES) {
    const e = errorEnvelope("down", code, "why", { correlationId: "c-1", agentId: "a" });
    assert.equal(decodeEnvelope(encodeEnvelope(e)).payload.code, code);
  }
  const p = makeEnvelope("preload_model", { model: "m" });
  assert.equal(p.direction, "down");
  assert.throws(() => encodeEnvelope({ ...p, payload: { model: 5 } }), TypeError);
});

// --- fuzzing ---------------------------------------------------------------------------------

const id = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/);

Deno.test("fuzz: arbitrary text never escapes as anything but a ProtocolError", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))),
      (text) => {
        try {
          decodeEnvelope(text);
        } catch (err) {
          assert.ok(err instanceof ProtocolError, String(err));
        }
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("fuzz: mutated valid envelopes either decode to a valid envelope or name a code", () => {
  const kinds = fc.constantFrom(...MESSAGE_KINDS);
  fc.assert(
    fc.property(
      kinds,
      id,
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      fc.constantFrom("up", "down", "upstream", "downstream", "x"),
      (kind, msgId, payload, direction) => {
        const text = JSON.stringify({
          msg_id: msgId,
          direction,
          kind,
          correlation_id: "c",
          directive_id: "d",
          payload,
        });
        let env: Envelope;
        try {
          env = decodeEnvelope(text);
        } catch (err) {
          assert.ok(err instanceof ProtocolError);
          assert.ok((ERROR_CODES as readonly string[]).includes(err.code));
          return;
        }
        // Accepted: the direction matches the table and the payload satisfies its schema.
        const spec = KINDS[kind];
        assert.ok(spec.direction === "both" || spec.direction === env.direction);
        assert.ok(spec.schema.safeParse(env.payload).success);
        assert.deepEqual(decodeEnvelope(encodeEnvelope(env)), env);
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("fuzz: heartbeat and usage_report envelopes round-trip", () => {
  const usage = fc.record({
    model: fc.string({ minLength: 1, maxLength: 20 }),
    requests: fc.nat(),
    prompt_tokens: fc.nat(),
    completion_tokens: fc.nat(),
    total_tokens: fc.nat(),
  });
  fc.assert(
    fc.property(id, fc.array(usage, { maxLength: 5 }), (agent, entries) => {
      const env = makeEnvelope("usage_report", {
        period_start: "2026-01-01T00:00:00Z",
        period_end: "2026-01-01T00:00:30Z",
        entries,
      }, { agent_id: agent });
      const back = decodeEnvelope(encodeEnvelope(env), { expect: "up" });
      assert.deepEqual(back, JSON.parse(JSON.stringify(env)));
    }),
    { numRuns: 500 },
  );
});
