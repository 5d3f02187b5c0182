import type { Meter } from '@opentelemetry/api';
import {
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
  const duration = meter.createHistogram('haven.rpc.duration', {
    description: 'gRPC call duration',
    unit: 'ms',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_MS] },
  });
  return {
    record(service, method, code, durationMs) {
      const attributes = {
        [ATTR_RPC_SERVICE]: service,
        [ATTR_RPC_METHOD]: method,
        [ATTR_RPC_GRPC_STATUS_CODE]: code,
      };
      duration.record(durationMs, attributes);
    },
  };
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
  const duration = meter.createHistogram('haven.http.duration', {
    description: 'HTTP request duration',
    unit: 'ms',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_MS] },
  });
  return {
    record(method, route, status, durationMs) {
      const attributes = {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_HTTP_ROUTE]: route,
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
      };
      duration.record(durationMs, attributes);
    },
  };
}
