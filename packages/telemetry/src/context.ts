import {
  SpanKind,
  SpanStatusCode,
  context,
  isSpanContextValid,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { HavenError } from '@haven/errors';
import { ATTR_ERROR_TYPE, ATTR_HAVEN_ERROR_CATEGORY } from './semconv';

/** Name of the tracer Haven code uses when none is given. */
export const HAVEN_TRACER_NAME = 'haven';

/**
 * Writes the active trace context (W3C `traceparent`, `tracestate`, `baggage`) through `set`, using the
 * global propagator. For NATS headers and gRPC metadata.
 */
export function injectTraceHeaders(
  set: (key: string, value: string) => void,
  ctx: Context = context.active(),
): void {
  propagation.inject(ctx, undefined, { set: (_carrier, key, value) => set(key, value) });
}

/**
 * Reads a trace context through `get` (header lookup by lower-case name) into a Context derived from
 * `ctx` (default: the active one). Run work in it with `context.with(...)`.
 */
export function extractTraceContext(
  get: (key: string) => string | undefined,
  ctx: Context = context.active(),
): Context {
  return propagation.extract(ctx, undefined, {
    get: (_carrier, key) => get(key),
    keys: () => [],
  });
}

/** The W3C `traceparent` of the active span, or undefined when there is no valid span context. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A Context whose remote parent is the given `traceparent` (e.g. from an event envelope). */
export function contextFromTraceparent(
  traceparent: string | undefined,
  ctx: Context = context.active(),
): Context {
  if (traceparent === undefined) return ctx;
  return extractTraceContext((key) => (key === 'traceparent' ? traceparent : undefined), ctx);
}

/** Options of {@link withSpan}. */
export interface WithSpanOptions {
  readonly kind?: SpanKind;
  /** Only allow-listed names survive (semconv.ts). */
  readonly attributes?: Attributes;
  /** Defaults to the global tracer named {@link HAVEN_TRACER_NAME}. */
  readonly tracer?: Tracer;
  /** Parent context; defaults to the active one. */
  readonly context?: Context;
}

/**
 * Runs `fn` inside a new active span and ends it. When `fn` throws, records the exception, sets status
 * ERROR with the error's class name as message (never its text) and `error.type` / `haven.error.category`,
 * then rethrows. Success leaves the status UNSET, as the OpenTelemetry spec recommends.
 */
export async function withSpan<T>(
  name: string,
  options: WithSpanOptions,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  const tracer = options.tracer ?? trace.getTracer(HAVEN_TRACER_NAME);
  const spanOptions = {
    kind: options.kind ?? SpanKind.INTERNAL,
    ...(options.attributes ? { attributes: options.attributes } : {}),
  };
  return tracer.startActiveSpan(name, spanOptions, options.context ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      const type = error instanceof Error ? error.name : typeof error;
      span.recordException(error instanceof Error ? error : { name: type, message: String(error) });
      span.setAttribute(ATTR_ERROR_TYPE, type);
      if (error instanceof HavenError) span.setAttribute(ATTR_HAVEN_ERROR_CATEGORY, error.category);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      throw error;
    } finally {
      span.end();
    }
  });
}
