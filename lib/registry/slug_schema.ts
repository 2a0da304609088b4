/**
 * The zod form of the slug table message, for the supervisor and tests. The data-plane Worker
 * checks tables with the plain {@linkcode checkSlugEntries} instead, so it never loads zod;
 * `slugs_test.ts` pins that both accept and refuse the same messages.
 *
 * @module
 */
import { z } from "zod";
import { SlugEntrySchema } from "../control/mod.ts";

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
