import { decodeEnvelope, encodeEnvelope, makeEnvelope } from "../lib/protocol/codec.ts";
const e = makeEnvelope("heartbeat", { status: "ready" }, { agent_id: "a1" });
console.log(encodeEnvelope(e));
console.log(decodeEnvelope(encodeEnvelope(e)));
try { decodeEnvelope('{"msg_id":"x","direction":"up","kind":"preload_model","payload":{}}') } catch (e) { console.log(e.code, e.message) }
try { decodeEnvelope('{"msg_id":"x","direction":"up","kind":"heartbeat","payload":{"status":1}}') } catch (e) { console.log(e.code, e.message) }
