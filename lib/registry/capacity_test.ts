import assert from "node:assert/strict";
import {
  capacityFromLlamaMetrics,
  capacityFromLlamaSlots,
  capacityFromMetrics,
  slotsFromTgiInfo,
  sumPrometheus,
} from "./capacity.ts";

Deno.test("capacity: Prometheus gauges are summed over label sets, comments and junk ignored", () => {
  const text = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="a"} 2.0
vllm:num_requests_running{engine="1",model_name="b"} 1.0
vllm:num_requests_waiting{engine="0",model_name="a"} 0.0
vllm:num_requests_waiting_other 9
garbage line
vllm:num_requests_waiting{engine="1",model_name="b"} NaN
`;
  assert.deepEqual(
    [...sumPrometheus(text, ["vllm:num_requests_running", "vllm:num_requests_waiting"])],
    [["vllm:num_requests_running", 3], ["vllm:num_requests_waiting", 0]],
  );
  assert.deepEqual(
    capacityFromMetrics(text, "vllm:num_requests_running", "vllm:num_requests_waiting"),
    { running: 3, waiting: 0, full: false, source: "/metrics" },
  );
  assert.equal(capacityFromMetrics("up 1\n", "a", "b"), undefined);
});

Deno.test("capacity: llama.cpp /slots and /metrics", () => {
  const slots = [
    { id: 0, n_ctx: 256, speculative: false, is_processing: true },
    { id: 1, n_ctx: 256, speculative: false, is_processing: false },
  ];
  assert.deepEqual(capacityFromLlamaSlots(slots), {
    slots: 2,
    running: 1,
    full: false,
    source: "/slots",
  });
  slots[1]!.is_processing = true;
  assert.equal(capacityFromLlamaSlots(slots)?.full, true);
  assert.equal(capacityFromLlamaSlots([{ id: 0 }]), undefined, "no is_processing: unknown shape");
  assert.equal(capacityFromLlamaSlots({ error: "x" }), undefined);
  assert.equal(capacityFromLlamaSlots([]), undefined);
  assert.deepEqual(
    capacityFromLlamaMetrics("llamacpp:requests_processing 2\nllamacpp:requests_deferred 4\n"),
    { running: 2, waiting: 4, full: true, source: "/metrics" },
  );
});

Deno.test("capacity: TGI /info max_concurrent_requests, bounded", () => {
  assert.equal(slotsFromTgiInfo({ model_id: "x", max_concurrent_requests: 128 }), 128);
  assert.equal(slotsFromTgiInfo({ max_concurrent_requests: -1 }), undefined);
  assert.equal(slotsFromTgiInfo({ max_concurrent_requests: 1e12 }), undefined);
  assert.equal(slotsFromTgiInfo(null), undefined);
});
