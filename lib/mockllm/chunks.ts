/**
 * OpenAI response objects and SSE events, framed exactly as OpenAI frames them:
 * `data: <json>\n\n` per event and a final `data: [DONE]\n\n`.
 *
 * @module
 */
import { tokenAt } from "./content.ts";

/** The `usage` block of completions. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Identity shared by every object of one completion. */
export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
}

/** Why generation stopped: all tokens sent, or `max_tokens` cut it short. */
export type FinishReason = "stop" | "length";

/** A completion's outcome, computed once per request. */
export interface Reply {
  words: readonly string[];
  count: number;
  finishReason: FinishReason;
  usage: Usage;
}

/** The last SSE event of every stream. */
export const SSE_DONE = "data: [DONE]\n\n";

/** One SSE event carrying a JSON payload. */
export function sseFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** Builds `Reply` from echo words, the mode's token count and the request's limit. */
export function makeReply(
  words: readonly string[],
  tokens: number,
  maxTokens: number | null,
  promptTokens: number,
): Reply {
  const limited = maxTokens !== null && maxTokens < tokens;
  const count = limited ? maxTokens : tokens;
  return {
    words,
    count,
    finishReason: limited ? "length" : "stop",
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: count,
      total_tokens: promptTokens + count,
    },
  };
}

function replyContent(reply: Reply): string {
  let text = "";
  for (let i = 0; i < reply.count; i++) text += tokenAt(reply.words, i);
  return text;
}

/** A non-streamed `chat.completion`. */
export function chatCompletion(meta: CompletionMeta, reply: Reply): Record<string, unknown> {
  return {
    id: meta.id,
    object: "chat.completion",
    created: meta.created,
    model: meta.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: replyContent(reply) },
      logprobs: null,
      finish_reason: reply.finishReason,
    }],
    usage: reply.usage,
  };
}

/** A non-streamed `text_completion`. */
export function textCompletion(meta: CompletionMeta, reply: Reply): Record<string, unknown> {
  return {
    id: meta.id,
    object: "text_completion",
    created: meta.created,
    model: meta.model,
    choices: [{
      index: 0,
      text: replyContent(reply),
      logprobs: null,
      finish_reason: reply.finishReason,
    }],
    usage: reply.usage,
  };
}

/**
 * The JSON events of a stream, produced lazily by index so long streams cost no memory.
 * `[DONE]` is not included; the sender appends it.
 */
export interface StreamPlan {
  /** Number of JSON events before `[DONE]`. */
  readonly length: number;
  event(index: number): Record<string, unknown>;
}

/**
 * One stream event's envelope: the completion's id, `object`, created and model around
 * `choices`, with `usage` (null until the last) only when the client asked for it.
 */
function chunkMaker(meta: CompletionMeta, object: string, includeUsage: boolean) {
  return (choices: unknown[], usage: Usage | null) => {
    const out: Record<string, unknown> = {
      id: meta.id,
      object,
      created: meta.created,
      model: meta.model,
      choices,
    };
    if (includeUsage) out.usage = usage;
    return out;
  };
}

/**
 * `chat.completion.chunk` events: a role chunk (`content: ""`), one chunk per token, a
 * finish chunk with an empty delta, then a usage chunk with `choices: []` when asked for
 * (`stream_options.include_usage`), in which case every other chunk carries `usage: null`.
 */
export function chatStreamPlan(
  meta: CompletionMeta,
  reply: Reply,
  includeUsage: boolean,
): StreamPlan {
  const chunk = chunkMaker(meta, "chat.completion.chunk", includeUsage);
  const choice = (delta: Record<string, string>, finish: FinishReason | null) => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finish,
  });
  return {
    length: reply.count + 2 + (includeUsage ? 1 : 0),
    event(i) {
      if (i === 0) return chunk([choice({ role: "assistant", content: "" }, null)], null);
      if (i <= reply.count) {
        return chunk([choice({ content: tokenAt(reply.words, i - 1) }, null)], null);
      }
      if (i === reply.count + 1) return chunk([choice({}, reply.finishReason)], null);
      return chunk([], reply.usage);
    },
  };
}

/**
 * Legacy `text_completion` stream events: one per token, a final one with empty text and
 * the finish reason, then the usage event when asked for.
 */
export function textStreamPlan(
  meta: CompletionMeta,
  reply: Reply,
  includeUsage: boolean,
): StreamPlan {
  const chunk = chunkMaker(meta, "text_completion", includeUsage);
  const choice = (text: string, finish: FinishReason | null) => ({
    index: 0,
    text,
    logprobs: null,
    finish_reason: finish,
  });
  return {
    length: reply.count + 1 + (includeUsage ? 1 : 0),
    event(i) {
      if (i < reply.count) return chunk([choice(tokenAt(reply.words, i), null)], null);
      if (i === reply.count) return chunk([choice("", reply.finishReason)], null);
      return chunk([], reply.usage);
    },
  };
}
