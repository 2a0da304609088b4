/**
 * HTTP helpers shared by the control client, the endpoint registry, discovery and the proxy:
 * the one size-capped body reader and the bounded GET of side probes.
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
export {
  boundedGet,
  type BoundedGetOptions,
  type BoundedGetResult,
  jsonOrUndefined,
  serverRoot,
} from "./bounded_get.ts";
