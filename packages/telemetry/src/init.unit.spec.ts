import { metrics, propagation, trace } from '@opentelemetry/api';
import { initTelemetry, withSpan, currentTraceparent } from '@haven/telemetry';

describe('initTelemetry', () => {
  it('exports nothing when OTEL_*_EXPORTER are unset, yet creates and propagates spans', async () => {
    const telemetry = initTelemetry({ serviceName: 'test-svc', serviceVersion: '1.2.3', env: {} });
    try {
      expect(telemetry.exporters).toEqual({ traces: [], metrics: [] });
      expect(propagation.fields()).toEqual(expect.arrayContaining(['traceparent', 'tracestate', 'baggage']));
      let tp: string | undefined;
      await withSpan('x', { tracer: telemetry.tracer }, () => {
        tp = currentTraceparent();
      });
      expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(() => initTelemetry({ serviceName: 'again', env: {} })).toThrow(/already initialised/);
    } finally {
      await telemetry.shutdown();
    }
    expect(currentTraceparent()).toBeUndefined();
    expect(propagation.fields()).toEqual([]);
  });

  it('honours OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER, and can be re-initialised after shutdown', async () => {
    const telemetry = initTelemetry({
      serviceName: 'test-svc',
      env: {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      },
    });
    try {
      expect(telemetry.exporters).toEqual({ traces: ['otlp'], metrics: ['otlp'] });
      expect(trace.getTracerProvider()).toBeDefined();
      expect(metrics.getMeterProvider().constructor.name).toBe('MeterProvider');
    } finally {
      await telemetry.shutdown();
    }
  });

  it('rejects unknown exporters naming the variable', () => {
    expect(() => initTelemetry({ serviceName: 's', env: { OTEL_TRACES_EXPORTER: 'jaeger' } })).toThrow(
      /OTEL_TRACES_EXPORTER/,
    );
    expect(() =>
      initTelemetry({
        serviceName: 's',
        env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' },
      }),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
  });
});
