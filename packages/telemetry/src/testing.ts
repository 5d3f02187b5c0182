/**
 * Test helpers for @haven/telemetry: an in-memory tracer and meter registered globally with the same PHI
 * allow-list and W3C propagation as production, so specs can assert spans and metrics.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import { AllowListSpanProcessor, allowListView } from './allow-list';

/** A pull metric reader for tests: call `collectMetrics()` to read what was recorded so far. */
export class InMemoryMetricReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}

  /** Every metric collected now, flattened over scopes. Throws when collection reports errors. */
  async collectMetrics(): Promise<MetricData[]> {
    const { resourceMetrics, errors } = await this.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  }
}

/** What {@link setupTestTelemetry} returns. */
export interface TestTelemetry {
  /** Finished spans, after the allow-list (`exporter.getFinishedSpans()`). */
  readonly exporter: InMemorySpanExporter;
  readonly provider: TracerProvider;
  readonly meterProvider: MeterProvider;
  readonly metricReader: InMemoryMetricReader;
  /** Finished spans, optionally only those named `name`. */
  spans(name?: string): ReadableSpan[];
  /** Forgets finished spans. */
  reset(): void;
  /** Shuts the providers down and unregisters every global. */
  shutdown(): Promise<void>;
}

function disableGlobals(): void {
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
}

/**
 * Replaces every OpenTelemetry global: `provider` and `meterProvider`, the W3C trace-context + baggage
 * propagators and an AsyncLocalStorage context manager, as production registers them. Resolves the returned
 * function's promise once both providers are shut down and every global is unregistered again.
 */
export function registerTelemetryGlobals(
  provider: TracerProvider,
  meterProvider: MeterProvider,
): () => Promise<void> {
  disableGlobals();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(provider);
  metrics.setGlobalMeterProvider(meterProvider);
  return async () => {
    await Promise.all([provider.shutdown(), meterProvider.shutdown()]);
    disableGlobals();
  };
}

/**
 * Registers globally: a tracer provider with the allow-list processor and an InMemorySpanExporter behind a
 * SimpleSpanProcessor, a meter provider with an in-memory reader and the allow-list view, the W3C
 * trace-context + baggage propagators and an AsyncLocalStorage context manager. Replaces whatever was
 * registered before. Call `shutdown()` in `afterAll`.
 */
export function setupTestTelemetry(): TestTelemetry {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new AllowListSpanProcessor(), new SimpleSpanProcessor({ exporter })],
  });
  const metricReader = new InMemoryMetricReader();
  const meterProvider = new MeterProvider({ readers: [metricReader], views: [allowListView()] });
  const unregister = registerTelemetryGlobals(provider, meterProvider);
  return {
    exporter,
    provider,
    meterProvider,
    metricReader,
    spans: (name) => exporter.getFinishedSpans().filter((s) => name === undefined || s.name === name),
    reset: () => exporter.reset(),
    shutdown: unregister,
  };
}
