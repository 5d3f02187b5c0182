/**
 * Overhead of the Haven gRPC stack: a unary echo through `startGrpcService` (bearer-token auth against a local
 * JWKS with the verified-token cache, OpenTelemetry server span + RED metrics through the production pipeline
 * (allow-list, batch span processor, periodic metric reader) with in-memory exporters, correlation id, deadline handling, error mapping) versus a bare @grpc/grpc-js server with
 * the same definition. Same process, same client code and metadata, 127.0.0.1, serial calls alternating call by
 * call after a warm-up. `run()` returns JSON; target p50 ratio <= 1.3.
 * Stand-alone: `node -r ts-node/register/transpile-only tests/bench/grpc.bench.ts [callsPerSide]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { clientCallMetadata, createJwtVerifier, createLogger } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, InMemorySpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { AllowListSpanProcessor, allowListView } from '@haven/telemetry';
import { registerTelemetryGlobals } from '@haven/telemetry/testing';
import { interleaved, summary } from './stats';
import { addBareEcho, echoClient, echoOnce, loadEchoService, startHavenEcho } from './echo';
import { runWhenMain } from './main';

/** Latency summary of one side, milliseconds. */
export interface SideStats {
  readonly calls: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

/** Result of {@link run}. */
export interface GrpcBenchResult {
  readonly name: 'grpc-unary-echo-overhead';
  readonly unit: 'ms';
  readonly haven: SideStats;
  readonly bare: SideStats;
  /** haven.p50 / bare.p50; the target is <= 1.3. */
  readonly p50Ratio: number;
  readonly p99Ratio: number;
  readonly target: 1.3;
  readonly withinTarget: boolean;
  /** How the two sides were run: call by call, alternating. */
  readonly order: 'interleaved';
  readonly warmupPerSide: number;
}

/**
 * The production telemetry pipeline of `initTelemetry` (allow-list processor first, batch span processor,
 * periodic metric reader with the allow-list view, W3C propagators, AsyncLocalStorage context) with in-memory
 * exporters instead of OTLP, so the bench measures span/metric work without a collector.
 */
function startBenchTelemetry(): { spans: InMemorySpanExporter; shutdown(): Promise<void> } {
  const spans = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new AllowListSpanProcessor(), new BatchSpanProcessor({ exporter: spans })],
  });
  const meterProvider = new MeterProvider({
    views: [allowListView()],
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.DELTA),
        exportIntervalMillis: 1000,
      }),
    ],
  });
  return { spans, shutdown: registerTelemetryGlobals(provider, meterProvider) };
}

const stats = (samples: readonly number[]): SideStats => ({
  calls: samples.length,
  ...summary(samples, [50, 90, 99]),
});

/**
 * Runs the benchmark: `callsPerSide` (default 5000, max 50 000) measured calls per server, alternating call by
 * call, after 1000 warm-up calls each. Throws when any call fails.
 */
export async function run(opts: { callsPerSide?: number } = {}): Promise<GrpcBenchResult> {
  const callsPerSide = Math.min(Math.max(opts.callsPerSide ?? 5000, 100), 50_000);
  const warmup = 1000;

  const dir = mkdtempSync(join(tmpdir(), 'haven-grpc-bench-'));
  const telemetry = startBenchTelemetry();
  const clients: grpc.Client[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    const EchoService = loadEchoService(dir);

    // Haven stack.
    const issuer = createTestIssuer();
    const verifier = createJwtVerifier({
      jwks: issuer.jwks,
      issuer: issuer.issuer,
      audience: issuer.audience,
    });
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        callback();
      },
    });
    const haven = await startHavenEcho(dir, EchoService, {
      auth: { verifier },
      logger: createLogger({ service: 'bench', level: 'info', destination: sink }),
    });
    stops.push(haven.stop);

    // Bare grpc-js.
    const bare = new grpc.Server();
    addBareEcho(bare, EchoService);
    const barePort = await new Promise<number>((resolve, reject) =>
      bare.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    stops.push(
      () =>
        new Promise<void>((resolve) => {
          bare.tryShutdown(() => resolve());
        }),
    );

    const havenClient = haven.client;
    const bareClient = echoClient(EchoService, barePort);
    clients.push(havenClient, bareClient);
    // Identical metadata on both sides: token, correlation id, traceparent.
    const metadata = clientCallMetadata({
      token: await issuer.sign({ sub: 'bench', role: 'clinician' }, { expiresIn: '1h' }),
      correlationId: 'bench-correlation',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });

    for (let i = 0; i < warmup; i++) {
      await echoOnce(havenClient, metadata);
      await echoOnce(bareClient, metadata);
    }
    telemetry.spans.reset();

    // Calls alternate one by one (see `interleaved`).
    const { a: havenSamples, b: bareSamples } = await interleaved(
      callsPerSide,
      () => echoOnce(havenClient, metadata),
      () => echoOnce(bareClient, metadata),
      (i) => {
        if (i % 500 === 499) telemetry.spans.reset(); // keep the in-memory exporter small
      },
    );
    const h = stats(havenSamples);
    const r = stats(bareSamples);
    const p50Ratio = Math.round((h.p50 / r.p50) * 100) / 100;
    return {
      name: 'grpc-unary-echo-overhead',
      unit: 'ms',
      haven: h,
      bare: r,
      p50Ratio,
      p99Ratio: Math.round((h.p99 / r.p99) * 100) / 100,
      target: 1.3,
      withinTarget: p50Ratio <= 1.3,
      order: 'interleaved',
      warmupPerSide: warmup,
    };
  } finally {
    for (const c of clients) c.close();
    for (const stop of stops) await stop();
    await telemetry.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(module, () => run({ callsPerSide: Number(process.argv[2] ?? 5000) }));
