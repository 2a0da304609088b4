/**
 * The slug table: the control plane's opaque model slugs → (tenant, endpoint?, model).
 *
 * In local mode (no control plane) the table is the identity: every discovered model id is its
 * own slug, tenant `"local"`. The control plane replaces the whole table at run time with an
 * `UpdateRegistry` message checked by {@linkcode checkSlugEntries}.
 *
 * @module
 */
import type { SlugEntry } from "../control/mod.ts";

/**
 * Field limits of the control plane's `SlugEntrySchema` (lib/control/schema.ts), checked here
 * without zod because this module runs in the data-plane Worker; `slugs_test.ts` pins that they
 * agree with the schema.
 */
const LIMITS = { slug: 512, tenant: 256, endpoint: 64, model: 512 } as const;

/**
 * Checks a slug table message (an array of `{slug, tenant, endpoint?, model}` with unique slugs)
 * and returns fresh entries without unknown fields. Throws `TypeError` naming the first bad
 * field as `entries[i].field: why`.
 */
export function checkSlugEntries(entries: unknown): SlugEntry[] {
  const bad = (path: string, why: string): never => {
    throw new TypeError(`Cannot replace the slug table: entries${path}: ${why}`);
  };
  if (!Array.isArray(entries)) bad("", `expected an array, got ${describe(entries)}`);
  const out: SlugEntry[] = [];
  const seen = new Map<string, number>();
  (entries as unknown[]).forEach((e, i) => {
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      bad(`[${i}]`, `expected an object, got ${describe(e)}`);
    }
    const rec = e as Record<string, unknown>;
    const field = (name: keyof typeof LIMITS, optional: boolean): string | undefined => {
      const v = rec[name];
      if (v === undefined && optional) return undefined;
      if (typeof v !== "string") {
        return bad(`[${i}].${name}`, `expected a string, got ${describe(v)}`);
      }
      if (v.length < 1) bad(`[${i}].${name}`, "must not be empty");
      if (v.length > LIMITS[name]) bad(`[${i}].${name}`, `longer than ${LIMITS[name]} characters`);
      return v;
    };
    const slug = field("slug", false)!;
    const tenant = field("tenant", false)!;
    const endpoint = field("endpoint", true);
    const model = field("model", false)!;
    const first = seen.get(slug);
    if (first !== undefined) {
      bad(
        `[${i}].slug`,
        `duplicate slug "${slug}" (also at [${first}]) — each slug maps to one target`,
      );
    }
    seen.set(slug, i);
    out.push(endpoint === undefined ? { slug, tenant, model } : { slug, tenant, endpoint, model });
  });
  return out;
}

function describe(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

/** Where a slug points. */
export interface SlugTarget {
  readonly tenant: string;
  readonly endpoint?: string;
  readonly model: string;
}

export const LOCAL_TENANT = "local";

export class SlugTable {
  #table: Map<string, SlugTarget> | undefined;

  /** Starts as the identity (local mode) unless `entries` are given. */
  constructor(entries?: readonly SlugEntry[]) {
    if (entries !== undefined) this.replace(entries);
  }

  /** True while slugs are model ids (local mode, or before the control plane sent a table). */
  get isIdentity(): boolean {
    return this.#table === undefined;
  }

  /** Number of explicit entries (0 in identity mode). */
  get size(): number {
    return this.#table?.size ?? 0;
  }

  /**
   * Replaces the whole table atomically. Checks it with {@linkcode checkSlugEntries} first, so
   * a bad message leaves the current table in place. Throws `TypeError` naming the bad field.
   */
  replace(entries: readonly SlugEntry[]): void {
    const next = new Map<string, SlugTarget>();
    for (const e of checkSlugEntries(entries)) {
      next.set(
        e.slug,
        Object.freeze(
          e.endpoint === undefined
            ? { tenant: e.tenant, model: e.model }
            : { tenant: e.tenant, endpoint: e.endpoint, model: e.model },
        ),
      );
    }
    this.#table = next;
  }

  /** Back to the identity mapping (local mode). */
  useIdentity(): void {
    this.#table = undefined;
  }

  /**
   * The target of a slug. In identity mode every slug resolves to itself (tenant `"local"`);
   * whether any endpoint serves it is the router's question.
   */
  resolve(slug: string): SlugTarget | undefined {
    if (this.#table === undefined) return { tenant: LOCAL_TENANT, model: slug };
    return this.#table.get(slug);
  }

  /** Explicit entries in insertion order (empty in identity mode). */
  entries(): SlugEntry[] {
    if (this.#table === undefined) return [];
    return [...this.#table].map(([slug, t]) => ({ slug, ...t }));
  }

  /**
   * Slug → target for a set of served model ids: in identity mode one entry per model; otherwise
   * the explicit entries (whether served or not).
   */
  view(servedModels: Iterable<string>): SlugEntry[] {
    if (this.#table !== undefined) return this.entries();
    return [...servedModels].map((model) => ({ slug: model, tenant: LOCAL_TENANT, model }));
  }
}
