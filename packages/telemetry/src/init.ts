import { context, metrics, propagation, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as OtlpMetricGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as OtlpMetricHttp } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OtlpMetricProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OtlpTraceGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OtlpTraceHttp } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpTraceProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, defaultResource } from '@opentelemetry/resources';
import {
  ConsoleMetricExporter,
  PeriodicExportingMetricReader,
  type IMetricReader,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { PreconditionError, ValidationError } from '@haven/errors';
import { AllowListSpanProcessor, allowListView } from './allow-list';

/** Options of `initTelemetry`. */
export interface TelemetryOptions {
  /** `service.name` of the resource (e.g. `session`); `OTEL_SERVICE_NAME` does not override it. */
  readonly serviceName: string;
  /** `service.version` of the resource. */
  readonly serviceVersion?: string;
  /** Where to read `OTEL_*` from. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A started telemetry SDK. */
export interface Telemetry {
  /** The service's tracer. */
  readonly tracer: Tracer;
  /** The service's meter (a no-op meter when no metrics exporter is configured). */
  readonly meter: Meter;
  /** Which exporters were started (`[]` = none), for a startup log line. */
  readonly exporters: { readonly traces: readonly string[]; readonly metrics: readonly string[] };
  /** Flushes and stops exporters and unregisters the global providers. Idempotent. */
  shutdown(): Promise<void>;
}

let active: Telemetry | undefined;

function list(env: NodeJS.ProcessEnv, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  const items = [
    ...new Set(
      raw
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== ''),
    ),
  ];
  if (items.includes('none')) {
    if (items.length > 1)
      throw new ValidationError([
        { field: name, description: '"none" cannot be combined with other exporters' },
      ]);
    return [];
  }
  return items;
}

function protocol(
  env: NodeJS.ProcessEnv,
  signal: 'TRACES' | 'METRICS',
): 'grpc' | 'http/json' | 'http/protobuf' {
  const name =
    env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] !== undefined
      ? `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`
      : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const value = (env[name] ?? 'http/protobuf').trim();
  if (value === 'grpc' || value === 'http/json' || value === 'http/protobuf') return value;
  throw new ValidationError([
    { field: name, description: `unsupported OTLP protocol "${value}" (grpc, http/json, http/protobuf)` },
  ]);
}

function traceProcessors(env: NodeJS.ProcessEnv): { names: string[]; processors: SpanProcessor[] } {
  const names = list(env, 'OTEL_TRACES_EXPORTER');
  const processors = names.map((name): SpanProcessor => {
    let exporter: SpanExporter;
    switch (name) {
      case 'otlp': {
        const p = protocol(env, 'TRACES');
        exporter =
          p === 'grpc' ? new OtlpTraceGrpc() : p === 'http/json' ? new OtlpTraceHttp() : new OtlpTraceProto();
        break;
      }
      case 'console':
        return new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() });
      default:
        throw new ValidationError([
          {
            field: 'OTEL_TRACES_EXPORTER',
            description: `unsupported exporter "${name}" (otlp, console, none)`,
          },
        ]);
    }
    return new BatchSpanProcessor({ exporter });
  });
  return { names, processors };
}

function metricReaders(env: NodeJS.ProcessEnv): { names: string[]; readers: IMetricReader[] } {
  const names = list(env, 'OTEL_METRICS_EXPORTER');
  const interval =
    env.OTEL_METRIC_EXPORT_INTERVAL === undefined ? 60000 : Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  if (!Number.isInteger(interval) || interval <= 0) {
    throw new ValidationError([
      { field: 'OTEL_METRIC_EXPORT_INTERVAL', description: 'must be a positive integer (ms)' },
    ]);
  }
  const readers = names.map((name): IMetricReader => {
    switch (name) {
      case 'otlp': {
        const p = protocol(env, 'METRICS');
        const exporter =
          p === 'grpc'
            ? new OtlpMetricGrpc()
            : p === 'http/json'
              ? new OtlpMetricHttp()
              : new OtlpMetricProto();
        return new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval });
      }
      case 'prometheus':
        return new PrometheusExporter({});
      case 'console':
        return new PeriodicExportingMetricReader({
          exporter: new ConsoleMetricExporter(),
          exportIntervalMillis: interval,
        });
      default:
        throw new ValidationError([
          {
            field: 'OTEL_METRICS_EXPORTER',
            description: `unsupported exporter "${name}" (otlp, prometheus, console, none)`,
          },
        ]);
    }
  });
  return { names, readers };
}

/** Implementation of `initTelemetry` (loaded lazily so importing @haven/telemetry stays cheap). */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (active !== undefined)
    throw new PreconditionError('telemetry is already initialised in this process; call shutdown() first');
  const env = options.env ?? process.env;
  const traces = traceProcessors(env);
  const metricsSetup = metricReaders(env);
  const resource = defaultResource().merge(
    resourceFromAttributes({
      'service.name': options.serviceName,
      ...(options.serviceVersion !== undefined ? { 'service.version': options.serviceVersion } : {}),
    }),
  );
  // Trace/metrics globals of an earlier instance (tests) would make the SDK's registration a no-op.
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    resource,
    contextManager: new AsyncLocalStorageContextManager(),
    textMapPropagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
    spanProcessors: [new AllowListSpanProcessor(), ...traces.processors],
    metricReaders: metricsSetup.readers,
    views: [allowListView()],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  const telemetry: Telemetry = {
    tracer: trace.getTracer(options.serviceName, options.serviceVersion),
    meter: metrics.getMeter(options.serviceName, options.serviceVersion),
    exporters: { traces: traces.names, metrics: metricsSetup.names },
    shutdown() {
      stopped ??= sdk.shutdown().finally(() => {
        trace.disable();
        metrics.disable();
        propagation.disable();
        context.disable();
        if (active === telemetry) active = undefined;
      });
      return stopped;
    },
  };
  active = telemetry;
  return telemetry;
}
