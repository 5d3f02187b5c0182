import { SpanKind, SpanStatusCode, context, metrics, trace } from '@opentelemetry/api';
import type { GaugeMetricData, HistogramMetricData, SumMetricData } from '@opentelemetry/sdk-metrics';
import { NotFoundError } from '@haven/errors';
import {
  ATTR_HAVEN_CONSUMER,
  ATTR_HAVEN_ERROR_CATEGORY,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
  contextFromTraceparent,
  createConsumerMetrics,
  createHttpMetrics,
  createRpcMetrics,
  currentTraceparent,
  extractTraceContext,
  injectTraceHeaders,
  withSpan,
} from '@haven/telemetry';
import { setupTestTelemetry, type TestTelemetry } from '@haven/telemetry/testing';

let t: TestTelemetry;
beforeAll(() => {
  t = setupTestTelemetry();
});
afterEach(() => t.reset());
afterAll(async () => {
  await t.shutdown();
});

describe('the PHI allow-list', () => {
  it('drops a PHI-looking attribute but keeps rpc.method, on the span, its events and at start', async () => {
    await withSpan(
      'AdmitParticipant',
      {
        kind: SpanKind.SERVER,
        attributes: { [ATTR_RPC_METHOD]: 'AdmitParticipant', 'patient.name': 'Jane Roe' },
      },
      (span) => {
        span.setAttribute('patient.dob', '1970-01-01');
        span.setAttributes({ [ATTR_RPC_SERVICE]: 'haven.session.v1.SessionService', 'enduser.id': 'u1' });
        span.addEvent('looked-up', { 'patient.name': 'Jane Roe', [ATTR_RPC_METHOD]: 'x' });
      },
    );
    const [span] = t.spans('AdmitParticipant');
    expect(span).toBeDefined();
    expect(span!.attributes).toEqual({
      [ATTR_RPC_METHOD]: 'AdmitParticipant',
      [ATTR_RPC_SERVICE]: 'haven.session.v1.SessionService',
    });
    expect(span!.events[0]!.attributes).toEqual({ [ATTR_RPC_METHOD]: 'x' });
    expect(JSON.stringify(span!.attributes)).not.toContain('Jane');
  });

  it('drops exception messages and stack traces and free-text status messages', async () => {
    await expect(
      withSpan('fails', {}, () => {
        throw new NotFoundError('no appointment for Jane Roe');
      }),
    ).rejects.toBeInstanceOf(NotFoundError);
    const tracer = trace.getTracer('test');
    const manual = tracer.startSpan('manual');
    manual.setStatus({ code: SpanStatusCode.ERROR, message: 'patient Jane Roe not found' });
    manual.end();
    const failed = t.spans('fails')[0]!;
    expect(JSON.stringify({ a: failed.attributes, e: failed.events, s: failed.status })).not.toContain(
      'Jane',
    );
    expect(failed.events[0]!.attributes).toEqual({ 'exception.type': 'NotFoundError' });
    expect(t.spans('manual')[0]!.status).toEqual({ code: SpanStatusCode.ERROR });
  });
});

describe('withSpan', () => {
  it('records an error status, error.type and the Haven error category, and rethrows', async () => {
    const error = await withSpan('boom', {}, async () => {
      throw new NotFoundError('gone');
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    const span = t.spans('boom')[0]!;
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'NotFoundError' });
    expect(span.attributes).toMatchObject({
      'error.type': 'NotFoundError',
      [ATTR_HAVEN_ERROR_CATEGORY]: 'not_found',
    });
    expect(span.events.map((e) => e.name)).toEqual(['exception']);
    expect(span.ended).toBe(true);
  });

  it('returns the value, leaves status unset, and makes the span active (children nest)', async () => {
    const value = await withSpan('parent', { kind: SpanKind.CLIENT }, async (parent) => {
      expect(trace.getActiveSpan()).toBe(parent);
      await withSpan('child', {}, async () => undefined);
      return 42;
    });
    expect(value).toBe(42);
    const parent = t.spans('parent')[0]!;
    const child = t.spans('child')[0]!;
    expect(parent.kind).toBe(SpanKind.CLIENT);
    expect(parent.status.code).toBe(SpanStatusCode.UNSET);
    expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
  });
});

describe('trace propagation', () => {
  it('inject/extract round-trips the trace id through headers', async () => {
    const headers = new Map<string, string>();
    let sent = '';
    await withSpan('publish', { kind: SpanKind.PRODUCER }, (span) => {
      sent = span.spanContext().traceId;
      injectTraceHeaders((k, v) => headers.set(k, v));
      expect(currentTraceparent()).toBe(headers.get('traceparent'));
    });
    expect(headers.get('traceparent')).toMatch(new RegExp(`^00-${sent}-[0-9a-f]{16}-01$`));
    const ctx = extractTraceContext((k) => headers.get(k));
    expect(trace.getSpanContext(ctx)?.traceId).toBe(sent);
    await context.with(ctx, () => withSpan('consume', { kind: SpanKind.CONSUMER }, async () => undefined));
    const consume = t.spans('consume')[0]!;
    expect(consume.spanContext().traceId).toBe(sent);
    expect(consume.parentSpanContext?.spanId).toBe(t.spans('publish')[0]!.spanContext().spanId);
  });

  it('carries baggage', () => {
    const headers: Record<string, string> = {};
    const ctx = extractTraceContext((k) => (k === 'baggage' ? 'tenant=clinic-1' : undefined));
    injectTraceHeaders((k, v) => (headers[k] = v), ctx);
    expect(headers.baggage).toBe('tenant=clinic-1');
  });

  it('has no traceparent outside a span, and restores one from an event envelope', () => {
    expect(currentTraceparent()).toBeUndefined();
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(currentTraceparent(contextFromTraceparent(tp))).toBe(tp);
    expect(extractTraceContext(() => undefined)).toBe(context.active());
  });
});

describe('RED metrics', () => {
  it('records rpc request counts and durations with rpc.service, rpc.method and status code', async () => {
    const rpc = createRpcMetrics(metrics.getMeter('test'));
    rpc.record('haven.session.v1.SessionService', 'AdmitParticipant', 0, 12);
    rpc.record('haven.session.v1.SessionService', 'AdmitParticipant', 0, 30);
    rpc.record('haven.session.v1.SessionService', 'AdmitParticipant', 5, 3);
    const collected = await t.metricReader.collectMetrics();
    const duration = collected.find((m) => m.descriptor.name === 'haven.rpc.duration') as HistogramMetricData;
    expect(duration.descriptor.unit).toBe('ms');
    const ok = duration.dataPoints.find((p) => p.attributes[ATTR_RPC_GRPC_STATUS_CODE] === 0)!;
    const notFound = duration.dataPoints.find((p) => p.attributes[ATTR_RPC_GRPC_STATUS_CODE] === 5)!;
    expect(ok.value.count).toBe(2);
    expect(notFound.value.count).toBe(1);
    expect(ok.attributes).toEqual({
      [ATTR_RPC_SERVICE]: 'haven.session.v1.SessionService',
      [ATTR_RPC_METHOD]: 'AdmitParticipant',
      [ATTR_RPC_GRPC_STATUS_CODE]: 0,
    });
    expect(ok.value.sum).toBe(42);
    // One instrument: the rate is the histogram's count (no second counter to pay for on every call).
    expect(collected.map((m) => m.descriptor.name)).not.toContain('haven.rpc.requests');
  });

  it('records http metrics and drops non-allow-listed metric attributes', async () => {
    createHttpMetrics(metrics.getMeter('test')).record('GET', '/api/visits/:id', 200, 5);
    const counter = metrics.getMeter('test').createCounter('custom.counter');
    counter.add(1, { 'patient.name': 'Jane Roe', [ATTR_RPC_METHOD]: 'M' });
    const collected = await t.metricReader.collectMetrics();
    const http = collected.find((m) => m.descriptor.name === 'haven.http.duration') as HistogramMetricData;
    expect(http.dataPoints[0]!.attributes).toEqual({
      'http.request.method': 'GET',
      'http.route': '/api/visits/:id',
      'http.response.status_code': 200,
    });
    const custom = collected.find((m) => m.descriptor.name === 'custom.counter') as SumMetricData;
    expect(custom.dataPoints[0]!.attributes).toEqual({ [ATTR_RPC_METHOD]: 'M' });
  });

  it('records consumer lag, up and processed per haven.consumer (kept by the allow-list)', async () => {
    const consumers = createConsumerMetrics(metrics.getMeter('test'), () => [
      { name: 'session.bookings', up: true, lag: 0 },
      { name: 'scheduling.relay', up: false, lag: 42 },
    ]);
    consumers.processed('session.bookings', 3);
    const collected = await t.metricReader.collectMetrics();
    const byName = (n: string) => collected.find((m) => m.descriptor.name === n);
    const lag = byName('haven.consumer.lag') as GaugeMetricData;
    const up = byName('haven.consumer.up') as GaugeMetricData;
    const processed = byName('haven.consumer.processed') as SumMetricData;
    expect(lag.descriptor.unit).toBe('{event}');
    const points = (m: GaugeMetricData | SumMetricData) =>
      Object.fromEntries(m.dataPoints.map((p) => [String(p.attributes[ATTR_HAVEN_CONSUMER]), p.value]));
    expect(points(lag)).toEqual({ 'session.bookings': 0, 'scheduling.relay': 42 });
    expect(points(up)).toEqual({ 'session.bookings': 1, 'scheduling.relay': 0 });
    expect(points(processed)).toEqual({ 'session.bookings': 3 });
  });
});
