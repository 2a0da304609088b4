/**
 * Logging and metrics shared by every labman module.
 *
 * ```ts
 * import { getLogger, setupLogging } from "../telemetry/mod.ts";
 * setupLogging({ level: "info", format: "auto" });
 * getLogger("proxy").info("listening on {addr}", { addr: "127.0.0.1:8080" });
 * ```
 *
 * `Registry` here is the data plane's plain-number registry; the supervisor's
 * (`SupervisorRegistry`) is plain too and also takes prom-client metrics from the modules that
 * use prom-client; `mergeExposition` loads prom-client on the first scrape only, so the Worker,
 * which imports this module, never does, nor does an idle supervisor in local mode.
 *
 * @module
 */
export {
  getLogger,
  type LogFormat,
  type Logger,
  type LoggingOptions,
  type LogLevel,
  resetLogging,
  resolveLogFormat,
  setupLogging,
} from "./log.ts";
export {
  type CounterSeries,
  counterSeries,
  createDataPlaneMetrics,
  type DataPlaneMetrics,
  type GaugeSeries,
  gaugeSeries,
  type HistogramSeries,
  histogramSeries,
  Registry,
  type UpstreamErrorKind,
} from "./metrics.ts";
export { type MetricJSON, PlainCounter, PlainGauge } from "./plain_metrics.ts";
export { mergeExposition, SupervisorRegistry } from "./exposition.ts";
