import type { Telemetry, TelemetryOptions } from './init';
import type * as InitModule from './init';

/**
 * Starts OpenTelemetry for a service: W3C trace-context + baggage propagators, an AsyncLocalStorage context
 * manager, a tracer provider whose first processor is the PHI allow-list guard, and exporters chosen by
 * `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` (otlp, console; prometheus for metrics). Unlike the
 * plain NodeSDK, nothing is exported when those variables are unset (`none`). Spans are still created and
 * propagated without an exporter, so events carry a `traceparent`. Metric attributes pass the same
 * allow-list (a view). No auto-instrumentation; logs stay with pino.
 * Throws ValidationError naming the variable when an `OTEL_*` value is unsupported, PreconditionError
 * when telemetry is already initialised in this process.
 */
export function initTelemetry(options: TelemetryOptions): Telemetry {
  // Loaded on first use: the SDK and its exporters cost ~0.3 s to load, which libraries and their tests
  // that only need the API helpers (withSpan, inject/extract) should not pay.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const init = require('./init') as typeof InitModule;
  return init.startTelemetry(options);
}
