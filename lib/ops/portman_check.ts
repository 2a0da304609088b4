/**
 * `labman doctor`'s view of the Portman relay: the shared secret file and the opt-in that lets a
 * credential-less Portman in (docs/protocol.md §7).
 *
 * @module
 */
import type { LabmanConfig } from "../config/mod.ts";
import { type Check, check } from "./checklist.ts";
import { keyFileCheck, type SecretStat } from "./preflight.ts";

export function portmanChecks(config: LabmanConfig, stat: (path: string) => SecretStat): Check[] {
  const p = config.portman;
  if (!p.enabled) return [check("ok", "Portman relay", "disabled ([portman] enabled = false)")];
  const st = stat(p.secret_file);
  const out: Check[] = [
    st.kind === "missing"
      ? check(
        "ok",
        "Portman secret",
        `${p.secret_file} does not exist yet; labmand creates it (mode 0600) at start`,
      )
      : keyFileCheck("Portman secret", p.secret_file, st),
  ];
  if (p.allow_unauthenticated) {
    out.push(check(
      "warn",
      "Portman authentication",
      "portman.allow_unauthenticated = true: any local user can connect as Portman and forge usage reports",
      `set allow_unauthenticated = false and give Portman the secret in ${p.secret_file}`,
    ));
  }
  return out;
}
