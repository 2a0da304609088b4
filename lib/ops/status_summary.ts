/**
 * Turns labmand's `/readyz` answer and `/metrics` text into the compact summary that
 * `labman status` prints (or emits as JSON). Pure: the command does the HTTP.
 *
 * Metrics read (absent ones are simply left out of the summary):
 * - `labman_endpoint_up{endpoint}`, `labman_endpoint_models{endpoint}`,
 *   `labman_endpoint_in_flight_requests{endpoint}`, `labman_proxy_requests_total`,
 *   `labman_proxy_queue_depth` (lib/telemetry/metrics.ts);
 * - `labman_wireguard_backend_info{backend}` (value 1) and
 *   `labman_wireguard_last_handshake_age_seconds{peer}` (absent until a handshake) from
 *   lib/wireguard;
 * - `labman_rosenpass_state{state}` (the sample with value 1 is the current state), or an
 *   unlabelled `labman_rosenpass_state` whose value is shown as is, plus
 *   `labman_rosenpass_psk_age_seconds`.
 *
 * @module
 */
import { parsePromText, type PromSample, samplesOf, sumOf } from "./prom_text.ts";

export const STATUS_METRICS = {
  endpointUp: "labman_endpoint_up",
  endpointModels: "labman_endpoint_models",
  inFlight: "labman_endpoint_in_flight_requests",
  endpointCondition: "labman_endpoint_condition",
  endpointServerLoad: "labman_endpoint_server_requests",
  requests: "labman_proxy_requests_total",
  queueDepth: "labman_proxy_queue_depth",
  wireguardInfo: "labman_wireguard_backend_info",
  wireguardHandshakeAge: "labman_wireguard_last_handshake_age_seconds",
  rosenpassState: "labman_rosenpass_state",
  rosenpassPskAge: "labman_rosenpass_psk_age_seconds",
} as const;

export interface EndpointStatus {
  name: string;
  up: boolean;
  models?: number;
  inFlight?: number;
  /** Server kind (configured or detected), e.g. "llamacpp". */
  kind?: string;
  /** ready, overloaded, loading or down (docs/endpoints.md). */
  condition?: string;
  /** The server's own slot count and running requests, when it tells. */
  serverSlots?: number;
  serverRunning?: number;
}

export interface StatusSummary {
  admin: string;
  ready: boolean;
  /** `name: reason` lines from the `/readyz` body. */
  checks: Record<string, string>;
  endpoints: EndpointStatus[];
  endpointsHealthy: number;
  requestsTotal?: number;
  inFlight?: number;
  queueDepth?: number;
  wireguard?: { backend?: string; lastHandshakeAgeS?: number | null };
  rosenpass?: { state: string; pskAgeS?: number };
}

export interface SummarizeInput {
  admin: string;
  readyStatus: number;
  readyBody: string;
  metricsText: string;
}

/** Reads `/readyz` body lines `name: reason` after the first `ready`/`not ready` line. */
export function parseReadyBody(body: string): Record<string, string> {
  const checks: Record<string, string> = {};
  const lines = body.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) checks[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return checks;
}

export function summarizeStatus(input: SummarizeInput): StatusSummary {
  const samples = parsePromText(input.metricsText);
  const endpoints = endpointStatuses(samples);
  const summary: StatusSummary = {
    admin: input.admin,
    ready: input.readyStatus === 200,
    checks: parseReadyBody(input.readyBody),
    endpoints,
    endpointsHealthy: endpoints.filter((e) => e.up).length,
  };
  const requests = sumOf(samples, STATUS_METRICS.requests);
  if (requests !== undefined) summary.requestsTotal = requests;
  const inFlight = sumOf(samples, STATUS_METRICS.inFlight);
  if (inFlight !== undefined) summary.inFlight = inFlight;
  const queue = sumOf(samples, STATUS_METRICS.queueDepth);
  if (queue !== undefined) summary.queueDepth = queue;
  const wg = wireguardStatus(samples);
  if (wg) summary.wireguard = wg;
  const rp = rosenpassStatus(samples);
  if (rp) summary.rosenpass = rp;
  return summary;
}

function endpointStatuses(samples: PromSample[]): EndpointStatus[] {
  const byName = new Map<string, EndpointStatus>();
  const get = (name: string) => {
    let e = byName.get(name);
    if (!e) byName.set(name, e = { name, up: false });
    return e;
  };
  for (const s of samplesOf(samples, STATUS_METRICS.endpointUp)) {
    if (s.labels.endpoint !== undefined) get(s.labels.endpoint).up = s.value === 1;
  }
  for (const s of samplesOf(samples, STATUS_METRICS.endpointModels)) {
    if (s.labels.endpoint !== undefined) get(s.labels.endpoint).models = s.value;
  }
  for (const s of samplesOf(samples, STATUS_METRICS.inFlight)) {
    if (s.labels.endpoint !== undefined) get(s.labels.endpoint).inFlight = s.value;
  }
  for (const s of samplesOf(samples, STATUS_METRICS.endpointCondition)) {
    if (s.labels.endpoint === undefined || s.value !== 1) continue;
    const e = get(s.labels.endpoint);
    if (s.labels.kind) e.kind = s.labels.kind;
    if (s.labels.condition) e.condition = s.labels.condition;
  }
  for (const s of samplesOf(samples, STATUS_METRICS.endpointServerLoad)) {
    if (s.labels.endpoint === undefined) continue;
    if (s.labels.state === "slots") get(s.labels.endpoint).serverSlots = s.value;
    if (s.labels.state === "running") get(s.labels.endpoint).serverRunning = s.value;
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function wireguardStatus(samples: PromSample[]): StatusSummary["wireguard"] | undefined {
  const info = samplesOf(samples, STATUS_METRICS.wireguardInfo).find((s) => s.value === 1);
  const ages = samplesOf(samples, STATUS_METRICS.wireguardHandshakeAge);
  if (!info && ages.length === 0) return undefined;
  const out: NonNullable<StatusSummary["wireguard"]> = {};
  if (info?.labels.backend) out.backend = info.labels.backend;
  // The gauge is absent until the first handshake: a backend without it has had none.
  out.lastHandshakeAgeS = ages.length > 0
    ? Math.round(Math.min(...ages.map((s) => s.value)))
    : null;
  return out;
}

function rosenpassStatus(samples: PromSample[]): StatusSummary["rosenpass"] | undefined {
  const states = samplesOf(samples, STATUS_METRICS.rosenpassState);
  if (states.length === 0) return undefined;
  const labelled = states.filter((s) => s.labels.state !== undefined);
  const state = labelled.length > 0
    ? labelled.find((s) => s.value === 1)?.labels.state ?? "unknown"
    : String(states[0].value);
  const out: NonNullable<StatusSummary["rosenpass"]> = { state };
  const age = sumOf(samples, STATUS_METRICS.rosenpassPskAge);
  if (age !== undefined) out.pskAgeS = age;
  return out;
}

function formatAge(s: number): string {
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** The human form: a handful of aligned lines. */
export function formatStatus(s: StatusSummary): string {
  const lines: string[] = [];
  const notReady = Object.entries(s.checks).map(([k, v]) => `${k}: ${v}`).join("; ");
  lines.push(
    `labmand:    ${s.ready ? "ready" : "NOT READY"}${!s.ready && notReady ? ` (${notReady})` : ""}`,
  );
  lines.push(`admin:      ${s.admin}`);
  if (s.endpoints.length === 0) {
    lines.push(`endpoints:  none reported`);
  } else {
    lines.push(`endpoints:  ${s.endpointsHealthy}/${s.endpoints.length} healthy`);
    for (const e of s.endpoints) {
      const parts = [e.up ? "up" : "DOWN"];
      if (e.condition === "overloaded" || e.condition === "loading") parts.push(e.condition);
      if (e.models !== undefined) parts.push(`${e.models} model${e.models === 1 ? "" : "s"}`);
      if (e.inFlight) parts.push(`${e.inFlight} in flight`);
      if (e.serverSlots !== undefined) {
        parts.push(`server slots ${e.serverRunning ?? "?"}/${e.serverSlots} busy`);
      }
      const kind = e.kind && e.kind !== "openai" ? ` (${e.kind})` : "";
      lines.push(`  ${e.up ? "✓" : "✗"} ${e.name}${kind}: ${parts.join(", ")}`);
    }
  }
  const traffic: string[] = [];
  if (s.requestsTotal !== undefined) traffic.push(`${s.requestsTotal} total`);
  if (s.inFlight !== undefined) traffic.push(`${s.inFlight} in flight`);
  if (s.queueDepth !== undefined) traffic.push(`${s.queueDepth} queued`);
  if (traffic.length > 0) lines.push(`requests:   ${traffic.join(", ")}`);
  if (s.wireguard) {
    const parts: string[] = [];
    if (s.wireguard.backend) parts.push(`${s.wireguard.backend} backend`);
    if (s.wireguard.lastHandshakeAgeS !== undefined) {
      parts.push(
        s.wireguard.lastHandshakeAgeS === null
          ? "no handshake yet"
          : `last handshake ${formatAge(s.wireguard.lastHandshakeAgeS)}`,
      );
    }
    lines.push(`wireguard:  ${parts.join(", ")}`);
  }
  if (s.rosenpass) {
    const age = s.rosenpass.pskAgeS !== undefined ? `, PSK age ${s.rosenpass.pskAgeS}s` : "";
    lines.push(`rosenpass:  ${s.rosenpass.state}${age}`);
  }
  return lines.join("\n");
}
