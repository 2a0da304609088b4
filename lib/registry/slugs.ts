/**
 * The slug table: the control plane's opaque model slugs → (tenant, endpoint?, model).
 *
 * In local mode (no control plane) the table is the identity: every discovered model id is its
 * own slug, tenant `"local"`. The control plane replaces the whole table at run time with an
 * `UpdateRegistry` message validated by {@linkcode SlugTableSchema}.
 *
 * @module
 */
import { z } from "zod";
import { type SlugEntry, SlugEntrySchema } from "../control/mod.ts";

/** The message format: an array of entries with unique slugs. */
export const SlugTableSchema = z.array(SlugEntrySchema).superRefine((entries, ctx) => {
  const seen = new Map<string, number>();
  entries.forEach((e, i) => {
    const first = seen.get(e.slug);
    if (first !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [i, "slug"],
        message: `duplicate slug "${e.slug}" (also at [${first}]) — each slug maps to one target`,
      });
    } else {
      seen.set(e.slug, i);
    }
  });
});

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
   * Replaces the whole table atomically. Validates with {@linkcode SlugTableSchema} first, so a
   * bad message leaves the current table in place. Throws `TypeError` naming the bad field.
   */
  replace(entries: readonly SlugEntry[]): void {
    const parsed = SlugTableSchema.safeParse(entries);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
        .join("") ?? "";
      throw new TypeError(`Cannot replace the slug table: entries${path}: ${issue?.message}`);
    }
    const next = new Map<string, SlugTarget>();
    for (const e of parsed.data) {
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
