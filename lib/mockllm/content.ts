/**
 * Deterministic content for the mock LLM: reply tokens echo the prompt, embeddings are
 * seeded from a hash of the input, so tests can compute the expected answer themselves.
 *
 * @module
 */

const MAX_ECHO_WORDS = 64;

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    // Multi-part content (`[{type:"text", text}, {type:"image_url", …}]`): only text counts.
    return content
      .map((part) =>
        part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string"
          ? (part as { text: string }).text
          : ""
      )
      .filter((text) => text !== "")
      .join(" ");
  }
  return "";
}

/** The text the reply echoes for a chat request: the last `user` message's text. */
export function chatPrompt(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { role?: unknown; content?: unknown } | null;
    if (message && message.role === "user") return textOf(message.content);
  }
  return "";
}

/** All message text of a chat request, for counting prompt tokens. */
export function chatText(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  return messages.map((m) => textOf((m as { content?: unknown } | null)?.content)).join(" ");
}

/** The text of a legacy completions `prompt`: a string, or the first of an array. */
export function completionPrompt(prompt: unknown): string {
  if (typeof prompt === "string") return prompt;
  if (Array.isArray(prompt) && prompt.length > 0) {
    const first = prompt[0];
    if (typeof first === "string") return first;
    if (typeof first === "number") return prompt.join(" "); // one token-id array
    if (Array.isArray(first)) return first.join(" "); // several token-id arrays
  }
  return "";
}

/** Whitespace-separated words: the mock's notion of a token. */
export function countTokens(text: string): number {
  let n = 0;
  for (const word of text.split(/\s+/)) if (word !== "") n++;
  return n;
}

/** The words a reply cycles through; an empty prompt echoes the word `mock`. */
export function echoWords(prompt: string): string[] {
  const words = prompt.split(/\s+/).filter((w) => w !== "").slice(0, MAX_ECHO_WORDS);
  if (words.length === 0) words.push("mock");
  return words;
}

/** Token `i` of a reply: leading space after the first, so tokens concatenate to the text. */
export function tokenAt(words: readonly string[], i: number): string {
  return (i === 0 ? "" : " ") + words[i % words.length];
}

/**
 * The reply's tokens: the prompt's words cycled to `count` entries, so
 * `tokens.join("")` is the full reply. An empty prompt echoes the word `mock`.
 */
export function replyTokens(prompt: string, count: number): string[] {
  const words = echoWords(prompt);
  return Array.from({ length: count }, (_, i) => tokenAt(words, i));
}

/** The full reply text; equals `replyTokens(prompt, count).join("")`. */
export function replyText(prompt: string, count: number): string {
  return replyTokens(prompt, count).join("");
}

/** 32-bit FNV-1a of the UTF-8 bytes: a stable seed per input text. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * A unit-length embedding seeded from the text's hash. Every component is a float32 value,
 * so the float and base64 encodings decode to identical numbers.
 */
export function embeddingVector(text: string, dimensions: number): number[] {
  let state = fnv1a32(text) || 1;
  const raw = new Array<number>(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    // mulberry32: tiny, fast, good enough spread for distinct test vectors.
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    raw[i] = unit * 2 - 1;
    norm += raw[i] * raw[i];
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return raw.map((v) => Math.fround(v * scale));
}

/** Little-endian float32 bytes in base64, the `encoding_format: "base64"` wire form. */
export function float32Base64(values: readonly number[]): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The texts to embed from an embeddings `input`: string, strings, token ids or id arrays. */
export function embeddingInputs(input: unknown): string[] | null {
  if (typeof input === "string") return [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  if (input.every((x) => typeof x === "string")) return input as string[];
  if (input.every((x) => typeof x === "number")) return [input.join(" ")];
  if (input.every((x) => Array.isArray(x) && x.every((y) => typeof y === "number"))) {
    return (input as number[][]).map((ids) => ids.join(" "));
  }
  return null;
}
