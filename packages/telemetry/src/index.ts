/**
 * @haven/telemetry: OpenTelemetry set-up with a PHI allow-list, W3C propagation helpers for NATS headers
 * and gRPC metadata, `withSpan`, and RED metrics. Attribute names live in semconv.ts (the allow-list).
 */
export {
  ALLOWED_ATTRIBUTES,
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_TYPE,
  ATTR_HAVEN_ACTOR_KIND,
  ATTR_HAVEN_ACTOR_ROLE,
  ATTR_HAVEN_BYTES,
  ATTR_HAVEN_CONSUMER,
  ATTR_HAVEN_ERROR_CATEGORY,
  ATTR_HAVEN_EVENT_COUNT,
  ATTR_HAVEN_EVENT_STORE,
  ATTR_HAVEN_EVENT_TYPE,
  ATTR_HAVEN_MEDIA_NODE,
  ATTR_HAVEN_OUTCOME,
  ATTR_HAVEN_SERVICE,
  ATTR_HAVEN_STREAM_CONTEXT,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_MESSAGING_DESTINATION,
  ATTR_MESSAGING_DESTINATION_TEMPLATE,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
  ATTR_RPC_SYSTEM,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  HavenOutcome,
} from './semconv';
export { AllowListSpanProcessor, allowListView, filterAttributes } from './allow-list';
export {
  HAVEN_TRACER_NAME,
  contextFromTraceparent,
  currentTraceparent,
  extractTraceContext,
  injectTraceHeaders,
  withSpan,
} from './context';
export type { WithSpanOptions } from './context';
export { DURATION_BUCKETS_MS, createConsumerMetrics, createHttpMetrics, createRpcMetrics } from './metrics';
export type { ConsumerGaugeReading, ConsumerMetrics, HttpMetrics, RpcMetrics } from './metrics';
export { initTelemetry } from './start';
export type { Telemetry, TelemetryOptions } from './init';
