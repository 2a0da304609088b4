/**
 * A {@link Host} that runs nothing: it records each command as a line of text and answers
 * from a table, so tests can assert exactly what a command would have run.
 *
 * @module
 */
import type { Host, RunResult } from "./host.ts";

export interface FakeHostOptions {
  /** Answers keyed by the full command line (`ip link show dev labman0`); default code 0. */
  results?: Record<string, Partial<RunResult>>;
  /** Executables that exist: name or path → resolved path. */
  executables?: Record<string, string>;
  /** Running processes: comm → pids. */
  processes?: Record<string, number[]>;
  /** @default false */
  systemd?: boolean;
}

export interface FakeHost extends Host {
  /** Every command run, as `program arg…` lines, in order. */
  readonly ran: string[];
}

export function fakeHost(options: FakeHostOptions = {}): FakeHost {
  const ran: string[] = [];
  return {
    ran,
    run(program, args) {
      const line = [program, ...args].join(" ");
      ran.push(line);
      const r = options.results?.[line] ?? {};
      return Promise.resolve({ code: r.code ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" });
    },
    which(nameOrPath) {
      return options.executables?.[nameOrPath] ?? null;
    },
    whichRosenpass(nameOrPath) {
      return options.executables?.[nameOrPath] ?? null;
    },
    findProcesses(name) {
      return Promise.resolve(options.processes?.[name] ?? []);
    },
    systemdRunning() {
      return options.systemd ?? false;
    },
  };
}
