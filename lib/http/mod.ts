/**
 * HTTP helpers shared by the control client, the endpoint registry and the proxy: the one
 * size-capped body reader.
 *
 * ```ts
 * import { BodyTooLargeError, readCappedText } from "../http/mod.ts";
 * const { text } = await readCappedText(res.body, 1 << 20); // throws BodyTooLargeError past 1 MiB
 * ```
 *
 * @module
 */
export {
  BodyTooLargeError,
  readCapped,
  type ReadCappedOptions,
  type ReadCappedResult,
  readCappedText,
} from "./read_capped.ts";
