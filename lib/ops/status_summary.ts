/**
 * Turns labmand's `/status` document (lib/admin's `AdminStatus`, the admin listener's JSON) into
 * the compact summary that `labman status` prints (or emits as JSON). Pure: the command does
 * the HTTP and the schema check.
 *
 * @module
 */
import type { AdminStatus } from "../admin/mod.ts";

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
  /** `name: reason`, as `/readyz` lists them. */
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
  status: AdminStatus;
}

export function summarizeStatus(input: SummarizeInput): StatusSummary {
  const st = input.status;
  const endpoints: EndpointStatus[] = (st.endpoints ?? []).map((e) => {
    const out: EndpointStatus = {
      name: e.name,
      up: e.healthy,
      models: e.models,
      inFlight: e.in_flight,
    };
    if (e.kind !== null) out.kind = e.kind;
    if (e.condition !== null) out.condition = e.condition;
    if (e.server_slots !== undefined) out.serverSlots = e.server_slots;
    if (e.server_running !== undefined) out.serverRunning = e.server_running;
    return out;
  }).sort((a, b) => a.name.localeCompare(b.name));
  const summary: StatusSummary = {
    admin: input.admin,
    ready: st.ready,
    checks: st.checks,
    endpoints,
    endpointsHealthy: endpoints.filter((e) => e.up).length,
  };
  if (st.requests) {
    summary.requestsTotal = st.requests.total;
    summary.inFlight = st.requests.in_flight;
    summary.queueDepth = st.requests.queue_depth;
  }
  if (st.wireguard) {
    summary.wireguard = {
      backend: st.wireguard.backend,
      lastHandshakeAgeS: st.wireguard.last_handshake_age_s,
    };
  }
  if (st.rosenpass) {
    summary.rosenpass = { state: st.rosenpass.state };
    if (st.rosenpass.psk_age_s !== undefined) summary.rosenpass.pskAgeS = st.rosenpass.psk_age_s;
  }
  return summary;
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
