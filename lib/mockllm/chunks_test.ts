import assert from "node:assert/strict";
import { chatStreamPlan, makeReply, SSE_DONE, sseFrame, textStreamPlan } from "./chunks.ts";

const meta = { id: "x-1", created: 7, model: "m" };

Deno.test("makeReply limits by max_tokens and reports length", () => {
  const full = makeReply(["a"], 3, null, 2);
  assert.equal(full.count, 3);
  assert.equal(full.finishReason, "stop");
  assert.deepEqual(full.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  const cut = makeReply(["a"], 3, 1, 2);
  assert.equal(cut.count, 1);
  assert.equal(cut.finishReason, "length");
  assert.equal(makeReply(["a"], 3, 9, 0).finishReason, "stop");
});

Deno.test("chat stream plan: role, tokens, finish, optional usage", () => {
  const reply = makeReply(["a", "b"], 2, null, 1);
  const plan = chatStreamPlan(meta, reply, true);
  assert.equal(plan.length, 5);
  const events = Array.from({ length: plan.length }, (_, i) => plan.event(i));
  const deltas = events.map((e) => (e.choices as { delta: unknown }[])[0]?.delta);
  assert.deepEqual(deltas, [
    { role: "assistant", content: "" },
    { content: "a" },
    { content: " b" },
    {},
    undefined,
  ]);
  assert.deepEqual(events.map((e) => e.usage), [null, null, null, null, reply.usage]);
  assert.equal(chatStreamPlan(meta, reply, false).length, 4);
  assert.equal("usage" in chatStreamPlan(meta, reply, false).event(0), false);
});

Deno.test("text stream plan: tokens then an empty finishing choice", () => {
  const plan = textStreamPlan(meta, makeReply(["a"], 2, null, 1), false);
  assert.equal(plan.length, 3);
  const choices = Array.from(
    { length: 3 },
    (_, i) => (plan.event(i).choices as Record<string, unknown>[])[0],
  );
  assert.deepEqual(choices.map((c) => c.text), ["a", " a", ""]);
  assert.deepEqual(choices.map((c) => c.finish_reason), [null, null, "stop"]);
});

Deno.test("SSE framing is data: <json> and a blank line", () => {
  assert.equal(sseFrame({ a: 1 }), 'data: {"a":1}\n\n');
  assert.equal(SSE_DONE, "data: [DONE]\n\n");
});
