/**
 * In-memory state of the reference control plane: registered nodes, their bounded heartbeat
 * history, desired states and slug tables. No I/O.
 *
 * @module
 */
import type {
  Capabilities,
  DesiredState,
  HeartbeatRequest,
  NodeState,
  RegisterRequest,
  SlugEntry,
} from "../control/mod.ts";
import { AddressPool } from "./address_pool.ts";

/** A registered node as the reference control plane sees it. */
export interface RefNode {
  nodeId: string;
  name: string;
  labmanVersion: string;
  region?: string;
  description?: string;
  wireguardPublicKey: string;
  hasRosenpassKey: boolean;
  /** `a.b.c.d/32` from the pool. */
  address: string;
  capabilities: Capabilities;
  desiredState: DesiredState;
  registeredAt: number;
  lastHeartbeatAt?: number;
  /** `state` of the last heartbeat. */
  state?: NodeState;
}

interface NodeEntry {
  node: RefNode;
  /** Index of the token that registered it; other tokens get 403. */
  tokenIndex: number;
  slugs: SlugEntry[] | undefined;
  /** The slug table changed since the node last received it. */
  slugsPending: boolean;
}

export type RegisterOutcome =
  | { ok: true; node: RefNode; slugs: SlugEntry[] | undefined }
  | { ok: false; reason: "pool_exhausted" | "key_owned_by_other_token" };

export type HeartbeatOutcome =
  | { ok: true; desiredState: DesiredState; slugs: SlugEntry[] | undefined }
  | { ok: false; reason: "unknown_node" | "wrong_token" };

export class ReferenceStore {
  #pool: AddressPool;
  #historyLimit: number;
  #now: () => number;
  #nodes = new Map<string, NodeEntry>();
  #idByKey = new Map<string, string>();
  #history = new Map<string, HeartbeatRequest[]>();
  #defaultDesired: DesiredState = "active";
  #defaultSlugs: SlugEntry[] | undefined;

  constructor(
    pool: AddressPool,
    options: { historyLimit?: number; now?: () => number } = {},
  ) {
    this.#pool = pool;
    this.#historyLimit = options.historyLimit ?? 100;
    this.#now = options.now ?? Date.now;
  }

  register(req: RegisterRequest, tokenIndex: number): RegisterOutcome {
    const key = req.wireguard_public_key;
    const knownId = this.#idByKey.get(key);
    const known = knownId === undefined ? undefined : this.#nodes.get(knownId);
    if (known && known.tokenIndex !== tokenIndex) {
      return { ok: false, reason: "key_owned_by_other_token" };
    }
    const address = this.#pool.allocate(key);
    if (!address) return { ok: false, reason: "pool_exhausted" };
    const nodeId = known?.node.nodeId ??
      `n-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    const node: RefNode = {
      nodeId,
      name: req.node.name,
      labmanVersion: req.node.labman_version,
      ...(req.node.region !== undefined ? { region: req.node.region } : {}),
      ...(req.node.description !== undefined ? { description: req.node.description } : {}),
      wireguardPublicKey: key,
      hasRosenpassKey: req.rosenpass_public_key !== undefined,
      address,
      capabilities: req.capabilities,
      desiredState: known?.node.desiredState ?? this.#defaultDesired,
      registeredAt: this.#now(),
    };
    const slugs = known?.slugs ?? this.#defaultSlugs;
    this.#nodes.set(nodeId, { node, tokenIndex, slugs, slugsPending: false });
    this.#idByKey.set(key, nodeId);
    return { ok: true, node: { ...node }, slugs };
  }

  heartbeat(nodeId: string, req: HeartbeatRequest, tokenIndex: number): HeartbeatOutcome {
    const entry = this.#nodes.get(nodeId);
    if (!entry) return { ok: false, reason: "unknown_node" };
    if (entry.tokenIndex !== tokenIndex) return { ok: false, reason: "wrong_token" };
    const history = this.#history.get(nodeId) ?? [];
    history.push(req);
    if (history.length > this.#historyLimit) history.splice(0, history.length - this.#historyLimit);
    this.#history.set(nodeId, history);
    entry.node.lastHeartbeatAt = this.#now();
    entry.node.state = req.state;
    if (req.capabilities) entry.node.capabilities = req.capabilities;
    const slugs = entry.slugsPending ? entry.slugs : undefined;
    entry.slugsPending = false;
    return { ok: true, desiredState: entry.node.desiredState, slugs };
  }

  deregister(nodeId: string, tokenIndex: number): "ok" | "unknown_node" | "wrong_token" {
    const entry = this.#nodes.get(nodeId);
    if (!entry) return "unknown_node";
    if (entry.tokenIndex !== tokenIndex) return "wrong_token";
    this.#nodes.delete(nodeId);
    this.#idByKey.delete(entry.node.wireguardPublicKey);
    return "ok";
  }

  /** Drops a node as if the control plane lost its state (its next heartbeat gets 404). */
  forget(nodeId: string): boolean {
    const entry = this.#nodes.get(nodeId);
    if (!entry) return false;
    this.#nodes.delete(nodeId);
    this.#idByKey.delete(entry.node.wireguardPublicKey);
    return true;
  }

  nodes(): RefNode[] {
    return [...this.#nodes.values()].map((e) => ({ ...e.node }));
  }

  /** Heartbeats received from `nodeId`, oldest first (kept after deregistration). */
  heartbeats(nodeId: string): HeartbeatRequest[] {
    return [...(this.#history.get(nodeId) ?? [])];
  }

  /** `"*"`: every current node and every node registering later. */
  setDesiredState(target: string, state: DesiredState): void {
    if (target === "*") this.#defaultDesired = state;
    for (const e of this.#targets(target)) e.node.desiredState = state;
  }

  /** `"*"`: every current node and every node registering later. Pushed on the next heartbeat. */
  setSlugs(target: string, entries: SlugEntry[]): void {
    if (target === "*") this.#defaultSlugs = entries;
    for (const e of this.#targets(target)) {
      e.slugs = entries;
      e.slugsPending = true;
    }
  }

  #targets(target: string): NodeEntry[] {
    if (target === "*") return [...this.#nodes.values()];
    const e = this.#nodes.get(target);
    if (!e) throw new RangeError(`Cannot target node "${target}": no such node is registered`);
    return [e];
  }
}
