/**
 * The OpenAI model list (`GET /v1/models`), loosely: `object` may be missing (some llama.cpp
 * builds) and extra fields are ignored (vLLM `max_model_len`, llama.cpp `meta`, Ollama
 * `owned_by: "library"`). Newer llama.cpp also sends an Ollama-style `models` array next to
 * `data`; `data` wins when present.
 *
 * Checked by hand rather than with zod: discovery runs in the data-plane Worker, which must not
 * load zod for one small shape (design: the Worker's memory floor). Pure.
 *
 * @module
 */

/** A model list the shape check accepted. */
export interface ModelList {
  object?: string;
  data?: { id: string }[];
  models?: { model?: string; name?: string }[];
}

/** The list, or the first problem as `path: why` (path `.`-joined, array indexes as numbers). */
export type ModelListParse = { ok: true; list: ModelList } | { ok: false; problem: string };

function kindOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A present field must be a non-empty string; `undefined` when absent. */
function stringProblem(v: unknown, path: string): string | undefined {
  if (typeof v !== "string") return `${path}: expected a string, got ${kindOf(v)}`;
  if (v.length === 0) return `${path}: must not be empty`;
  return undefined;
}

/** Checks `json` (already parsed) against the loose list format; never throws. */
export function parseModelList(json: unknown): ModelListParse {
  if (!isRecord(json)) return { ok: false, problem: `got ${kindOf(json)}` };
  const problems: string[] = [];
  if (json.object !== undefined && typeof json.object !== "string") {
    problems.push(`object: expected a string, got ${kindOf(json.object)}`);
  }
  let data: { id: string }[] | undefined;
  if (json.data !== undefined) {
    if (!Array.isArray(json.data)) {
      problems.push(`data: expected an array, got ${kindOf(json.data)}`);
    } else {
      data = [];
      for (const [i, m] of json.data.entries()) {
        if (!isRecord(m)) {
          problems.push(`data.${i}: expected an object, got ${kindOf(m)}`);
          break;
        }
        const p = stringProblem(m.id, `data.${i}.id`);
        if (p !== undefined) {
          problems.push(p);
          break;
        }
        data.push({ id: m.id as string });
      }
    }
  }
  let models: { model?: string; name?: string }[] | undefined;
  if (json.models !== undefined) {
    if (!Array.isArray(json.models)) {
      problems.push(`models: expected an array, got ${kindOf(json.models)}`);
    } else {
      models = [];
      for (const [i, m] of json.models.entries()) {
        if (!isRecord(m)) {
          problems.push(`models.${i}: expected an object, got ${kindOf(m)}`);
          break;
        }
        const entry: { model?: string; name?: string } = {};
        let p: string | undefined;
        for (const key of ["model", "name"] as const) {
          if (m[key] === undefined) continue;
          p ??= stringProblem(m[key], `models.${i}.${key}`);
          if (p === undefined) entry[key] = m[key] as string;
        }
        if (p === undefined && entry.model === undefined && entry.name === undefined) {
          p = `models.${i}: needs "model" or "name"`;
        }
        if (p !== undefined) {
          problems.push(p);
          break;
        }
        models.push(entry);
      }
    }
  }
  if (json.data === undefined && json.models === undefined) problems.push(`no "data" array`);
  if (problems.length > 0) {
    // The `data` branch first: it is the format nearly every server speaks.
    return { ok: false, problem: problems.find((p) => p.startsWith("data")) ?? problems[0] };
  }
  const list: ModelList = {};
  if (typeof json.object === "string") list.object = json.object;
  if (data !== undefined) list.data = data;
  if (models !== undefined) list.models = models;
  return { ok: true, list };
}

/** Model ids from a checked list, first occurrence order, duplicates dropped. */
export function modelIdsOf(list: ModelList): string[] {
  const ids = list.data !== undefined
    ? list.data.map((m) => m.id)
    : (list.models ?? []).map((m) => m.model ?? m.name ?? "");
  return [...new Set(ids)].filter((id) => id !== "");
}
