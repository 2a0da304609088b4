/**
 * The one mutable holder of the lifecycle: events in, the pure {@linkcode nextState} applied,
 * listeners told about each change. Everything observable is derived from `state` by the
 * listeners (systemd notifications, the router's accepting flag, metrics, the log).
 *
 * @module
 */
import {
  type InitialOptions,
  initialState,
  type LifecycleEvent,
  type LifecycleState,
  nextState,
} from "./lifecycle.ts";

export type LifecycleListener = (
  state: LifecycleState,
  previous: LifecycleState,
  event: LifecycleEvent,
) => void;

export class Lifecycle {
  #state: LifecycleState;
  readonly #listeners = new Set<LifecycleListener>();

  constructor(options: InitialOptions) {
    this.#state = initialState(options);
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** Applies `event`; listeners run synchronously, and only when the state changed. */
  dispatch(event: LifecycleEvent): LifecycleState {
    const previous = this.#state;
    const next = nextState(previous, event);
    if (next === previous) return next;
    this.#state = next;
    for (const l of [...this.#listeners]) l(next, previous, event);
    return next;
  }

  subscribe(listener: LifecycleListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the first state (current included) for which `pred` holds. */
  until(pred: (s: LifecycleState) => boolean): Promise<LifecycleState> {
    if (pred(this.#state)) return Promise.resolve(this.#state);
    return new Promise((resolve) => {
      const off = this.subscribe((s) => {
        if (!pred(s)) return;
        off();
        resolve(s);
      });
    });
  }
}
