import type { Meter } from '@opentelemetry/api';
import {
  ATTR_HAVEN_CONSUMER,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
} from './semconv';

/** Latency buckets in milliseconds for RED histograms. */
export const DURATION_BUCKETS_MS: readonly number[] = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
];

/** RED metrics of gRPC calls (see {@link createRpcMetrics}). */
export interface RpcMetrics {
  /** Records one finished call: `code` is the numeric gRPC status, `durationMs` its latency. */
  record(service: string, method: string, code: number, durationMs: number): void;
}

/**
 * Creates the gRPC RED instrument on `meter`: histogram `haven.rpc.duration` (ms) with `rpc.service`,
 * `rpc.method`, `rpc.grpc.status_code`. One instrument gives all three signals: its count is the rate (by
 * status code, so errors too) and its buckets the duration; a separate counter would double the per-call cost.
 */
export function createRpcMetrics(meter: Meter): RpcMetrics {
  const keys = [ATTR_RPC_SERVICE, ATTR_RPC_METHOD, ATTR_RPC_GRPC_STATUS_CODE] as const;
  return { record: durationRecorder(meter, 'haven.rpc.duration', 'gRPC call duration', keys) };
}

/** RED metrics of HTTP requests (see {@link createHttpMetrics}). */
export interface HttpMetrics {
  /** Records one finished request. `route` must be the route template (`/api/visits/:id`), never the path. */
  record(method: string, route: string, status: number, durationMs: number): void;
}

/**
 * Creates the HTTP RED instrument on `meter`: histogram `haven.http.duration` (ms) with `http.request.method`,
 * `http.route`, `http.response.status_code`; its count is the request rate.
 */
export function createHttpMetrics(meter: Meter): HttpMetrics {
  const keys = [ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE, ATTR_HTTP_RESPONSE_STATUS_CODE] as const;
  return { record: durationRecorder(meter, 'haven.http.duration', 'HTTP request duration', keys) };
}

/**
 * A RED duration histogram `name` (ms, {@link DURATION_BUCKETS_MS}) on `meter`, recorded with two string
 * attributes and a numeric status under the three `keys`.
 */
function durationRecorder(
  meter: Meter,
  name: string,
  description: string,
  [first, second, status]: readonly [string, string, string],
): (a: string, b: string, code: number, durationMs: number) => void {
  const duration = meter.createHistogram(name, {
    description,
    unit: 'ms',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_MS] },
  });
  return (a, b, code, durationMs) => {
    duration.record(durationMs, { [first]: a, [second]: b, [status]: code });
  };
}

/** What an event consumer reports to its gauges at each collection. */
export interface ConsumerGaugeReading {
  /** The consumer's name (`session.bookings`), the `haven.consumer` attribute. */
  readonly name: string;
  /** True while the consumer is connected and delivering (it may still be catching up). */
  readonly up: boolean;
  /** Events stored but not yet handled, as last measured. */
  readonly lag: number;
}

/** Metrics of event consumers (see {@link createConsumerMetrics}). */
export interface ConsumerMetrics {
  /** Counts events a consumer has handled. */
  processed(name: string, count?: number): void;
}

/**
 * Creates the event-consumer instruments on `meter`, read from `read()` at each collection:
 * gauge `haven.consumer.lag` (`{event}`; Prometheus `haven_consumer_lag_events`), gauge `haven.consumer.up`
 * (1 connected and delivering, 0 down; Prometheus `haven_consumer_up`) and counter `haven.consumer.processed`
 * (`{event}`; Prometheus `haven_consumer_processed_events_total`), each with `haven.consumer`.
 */
export function createConsumerMetrics(
  meter: Meter,
  read: () => readonly ConsumerGaugeReading[],
): ConsumerMetrics {
  meter
    .createObservableGauge('haven.consumer.lag', {
      description: 'Events stored but not yet handled by the consumer',
      unit: '{event}',
    })
    .addCallback((r) => {
      for (const c of read()) r.observe(c.lag, { [ATTR_HAVEN_CONSUMER]: c.name });
    });
  meter
    .createObservableGauge('haven.consumer.up', {
      description: '1 while the consumer is connected and delivering, 0 while it is down and retrying',
    })
    .addCallback((r) => {
      for (const c of read()) r.observe(c.up ? 1 : 0, { [ATTR_HAVEN_CONSUMER]: c.name });
    });
  const processed = meter.createCounter('haven.consumer.processed', {
    description: 'Events handled by the consumer',
    unit: '{event}',
  });
  return {
    processed(name, count = 1) {
      processed.add(count, { [ATTR_HAVEN_CONSUMER]: name });
    },
  };
}
