import assert from "node:assert/strict";
import { parsePromText, samplesOf, sumOf } from "./prom_text.ts";

const TEXT = `# HELP labman_proxy_requests_total Proxied requests.
# TYPE labman_proxy_requests_total counter
labman_proxy_requests_total{model="m1",endpoint="a",status="200"} 12
labman_proxy_requests_total{model="m2",endpoint="b",status="502"} 3 1700000000000
labman_proxy_queue_depth 0
weird_label{msg="say \\"hi\\"\\nbye",path="C:\\\\x"} 1.5e3
inf_metric +Inf
nan_metric NaN
not a sample line
broken{a="x" 1
`;

Deno.test("parsePromText reads names, labels with escapes, values and skips junk", () => {
  const samples = parsePromText(TEXT);
  assert.equal(samples.length, 6);
  assert.deepEqual(samples[0], {
    name: "labman_proxy_requests_total",
    labels: { model: "m1", endpoint: "a", status: "200" },
    value: 12,
  });
  assert.equal(samples[1].value, 3, "timestamp must not be taken as the value");
  assert.deepEqual(samples[3].labels, { msg: 'say "hi"\nbye', path: "C:\\x" });
  assert.equal(samples[3].value, 1500);
  assert.equal(samples[4].value, Infinity);
  assert.ok(Number.isNaN(samples[5].value));
});

Deno.test("sumOf and samplesOf select by name and labels", () => {
  const samples = parsePromText(TEXT);
  assert.equal(sumOf(samples, "labman_proxy_requests_total"), 15);
  assert.equal(sumOf(samples, "labman_proxy_queue_depth"), 0);
  assert.equal(sumOf(samples, "absent_metric"), undefined);
  assert.equal(samplesOf(samples, "labman_proxy_requests_total", { endpoint: "b" }).length, 1);
});
