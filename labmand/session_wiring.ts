/**
 * What the control-plane session's events mean to the lifecycle: registration outcomes,
 * retries (their reason goes to `STATUS=`), a refused token (`error`), the desired state, and
 * the slug table and heartbeat outcomes passed on. Tested with a real `ControlSession` over a
 * fake client (tests/labmand_session_wiring_test.ts).
 *
 * @module
 */
import type { ControlSessionOptions, RegisterResponse, SlugEntry } from "../lib/control/mod.ts";
import type { Lifecycle } from "../lib/lifecycle/mod.ts";

export type SessionCallbacks = Required<
  Pick<
    ControlSessionOptions,
    | "onRegistered"
    | "onRegisterRetry"
    | "onDesiredState"
    | "onStateChange"
    | "onSlugs"
    | "onHeartbeat"
  >
>;

export interface SessionWiringDeps {
  /** Each slug table the control plane sends (the data plane applies it). */
  onSlugs(entries: SlugEntry[]): void;
  /** Each heartbeat outcome (metrics). */
  onHeartbeat(ok: boolean): void;
  /** Each registration answer (re-registrations included), before the lifecycle hears of it. */
  onRegistered?(r: RegisterResponse): void;
}

/** The session's callbacks, and the first registration answer. */
export function wireSession(
  lc: Lifecycle,
  deps: SessionWiringDeps,
): { callbacks: SessionCallbacks; registered: Promise<RegisterResponse> } {
  const registered = Promise.withResolvers<RegisterResponse>();
  const callbacks: SessionCallbacks = {
    onRegistered: (r) => {
      registered.resolve(r);
      // The control session logs the registration itself (one line per event).
      deps.onRegistered?.(r);
      lc.dispatch({ type: "registered" });
    },
    onRegisterRetry: (err, delayMs) =>
      lc.dispatch({
        type: "registering",
        reason: `${err.message} (next attempt in ${Math.ceil(delayMs / 1000)} s)`,
      }),
    onSlugs: (entries) => deps.onSlugs(entries),
    onDesiredState: (state) => lc.dispatch({ type: "desired", state }),
    onStateChange: (state, err) => {
      if (state === "error") {
        lc.dispatch({
          type: "rejected",
          message: err?.message ?? "the control-plane session failed",
        });
      }
    },
    onHeartbeat: (o) => deps.onHeartbeat(o.ok),
  };
  return { callbacks, registered: registered.promise };
}
