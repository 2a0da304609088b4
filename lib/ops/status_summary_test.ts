import assert from "node:assert/strict";
import { formatStatus, parseReadyBody, summarizeStatus } from "./status_summary.ts";

const METRICS = `# TYPE labman_endpoint_up gauge
labman_endpoint_up{endpoint="ollama"} 1
labman_endpoint_up{endpoint="vllm"} 0
labman_endpoint_models{endpoint="ollama"} 3
labman_endpoint_models{endpoint="vllm"} 0
labman_endpoint_in_flight_requests{endpoint="ollama"} 2
labman_endpoint_in_flight_requests{endpoint="vllm"} 0
labman_proxy_requests_total{model="m",endpoint="ollama",status="200"} 40
labman_proxy_requests_total{model="m",endpoint="ollama",status="502"} 2
labman_proxy_queue_depth 1
labman_wireguard_backend_info{backend="userspace"} 1
labman_wireguard_last_handshake_age_seconds{peer="cpkey="} 30
labman_wireguard_last_handshake_age_seconds{peer="other="} 95
labman_rosenpass_state{state="exchanging"} 0
labman_rosenpass_state{state="active"} 1
labman_rosenpass_psk_age_seconds 42
`;

Deno.test("summarizeStatus extracts readiness, endpoints, traffic, WireGuard and PQ state", () => {
  const s = summarizeStatus({
    admin: "http://127.0.0.1:9464",
    readyStatus: 200,
    readyBody: "ready\nendpoints: 1/2 healthy\ntunnel: up\n",
    metricsText: METRICS,
  });
  assert.equal(s.ready, true);
  assert.deepEqual(s.checks, { endpoints: "1/2 healthy", tunnel: "up" });
  assert.deepEqual(s.endpoints, [
    { name: "ollama", up: true, models: 3, inFlight: 2 },
    { name: "vllm", up: false, models: 0, inFlight: 0 },
  ]);
  assert.equal(s.endpointsHealthy, 1);
  assert.equal(s.requestsTotal, 42);
  assert.equal(s.inFlight, 2);
  assert.equal(s.queueDepth, 1);
  assert.deepEqual(s.wireguard, { backend: "userspace", lastHandshakeAgeS: 30 });
  assert.deepEqual(s.rosenpass, { state: "active", pskAgeS: 42 });

  const text = formatStatus(s);
  assert.match(text, /labmand: +ready/);
  assert.match(text, /endpoints: +1\/2 healthy/);
  assert.match(text, /✓ ollama: up, 3 models, 2 in flight/);
  assert.match(text, /✗ vllm: DOWN, 0 models/);
  assert.match(text, /requests: +42 total, 2 in flight, 1 queued/);
  assert.match(text, /wireguard: +userspace backend, last handshake 30s ago/);
  assert.match(text, /rosenpass: +active, PSK age 42s/);
});

Deno.test("summarizeStatus leaves out what the metrics do not carry", () => {
  const s = summarizeStatus({
    admin: "http://127.0.0.1:1",
    readyStatus: 503,
    readyBody: "not ready\nendpoints: 0/0 healthy\n",
    metricsText: 'labman_wireguard_backend_info{backend="kernel"} 1\n',
  });
  assert.equal(s.ready, false);
  assert.equal(s.requestsTotal, undefined);
  assert.equal(s.rosenpass, undefined);
  assert.deepEqual(s.wireguard, { backend: "kernel", lastHandshakeAgeS: null });
  const text = formatStatus(s);
  assert.match(text, /NOT READY \(endpoints: 0\/0 healthy\)/);
  assert.match(text, /endpoints: +none reported/);
  assert.match(text, /no handshake yet/);
  assert.doesNotMatch(text, /rosenpass|requests/);
});

Deno.test("parseReadyBody ignores the first line and lines without a colon", () => {
  assert.deepEqual(parseReadyBody("ready\nfoo\na: b: c\n"), { a: "b: c" });
});

Deno.test("status summary shows each endpoint's server kind, condition and server slots", () => {
  const metricsText = `labman_endpoint_up{endpoint="llama"} 1
labman_endpoint_models{endpoint="llama"} 1
labman_endpoint_condition{endpoint="llama",kind="llamacpp",condition="overloaded"} 1
labman_endpoint_server_requests{endpoint="llama",state="slots"} 2
labman_endpoint_server_requests{endpoint="llama",state="running"} 2
labman_endpoint_up{endpoint="vllm"} 0
labman_endpoint_condition{endpoint="vllm",kind="vllm",condition="loading"} 1
`;
  const s = summarizeStatus({
    admin: "http://x",
    readyStatus: 200,
    readyBody: "ready",
    metricsText,
  });
  assert.deepEqual(s.endpoints[0], {
    name: "llama",
    up: true,
    models: 1,
    kind: "llamacpp",
    condition: "overloaded",
    serverSlots: 2,
    serverRunning: 2,
  });
  const text = formatStatus(s);
  assert.match(text, /✓ llama \(llamacpp\): up, overloaded, 1 model, server slots 2\/2 busy/);
  assert.match(text, /✗ vllm \(vllm\): DOWN, loading/);
});
