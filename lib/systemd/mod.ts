/**
 * systemd integration: readiness and status notifications (`Type=notify`).
 *
 * @module
 */
export { encodeNotifyMessage, encodeSockaddrUn, sdNotify } from "./notify.ts";
