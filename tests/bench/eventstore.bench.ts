/**
 * Event store append latency: JetStreamEventStore.append (envelope, expected revision, one event each)
 * against raw `js.publish` of a similar payload, in the same process against the same nats-server,
 * in alternating blocks so both see the same conditions, over the same connection (connectNats, as the services open it).
 *
 *   npx ts-node --transpile-only tests/bench/eventstore.bench.ts
 *
 * Targets (reported, not enforced): store p50 ≤ 1.5 × raw p50, and ≥ 5000 appends/s.
 */
import { JetStreamEventStore, connectNats, newEvent, streamName } from '@haven/eventstore';
import { startNatsServer } from '@haven/testing';
import { runWhenMain } from './main';
import { latencyMs, type LatencyMs } from './stats';

const N = 5000;
const BLOCK = 100;
const WARMUP = 1000;

interface Stats extends LatencyMs {
  readonly n: number;
  readonly throughputPerS: number;
}

function stats(samples: number[], totalMs: number): Stats {
  return {
    n: samples.length,
    ...latencyMs(samples),
    throughputPerS: Math.round((samples.length / totalMs) * 1000),
  };
}

/** Runs the benchmark; returns the numbers (also printed as JSON when run directly). */
export async function run(): Promise<Record<string, unknown>> {
  const server = await startNatsServer();
  // The connection every Haven service opens (connectNats, as a service's own user with its permissions),
  // shared by both sides.
  const nc = await connectNats({ ...server.client('scheduling'), name: 'bench' });
  try {
    const store = await JetStreamEventStore.create(nc);
    const js = nc.jetstream();
    const actor = { kind: 'service', id: 'bench' } as const;
    const event = () =>
      newEvent({ type: 'haven.bench.v1.Appended', data: { n: 1, note: 'x'.repeat(64) }, actor });
    // 20 aggregates, each appended at consecutive revisions (the realistic hot path).
    const streams = Array.from({ length: 20 }, (_, i) =>
      streamName({ context: 'scheduling', aggregate: 'bench', id: `a${i}` }),
    );
    const revisions = new Map<string, bigint | 'no_stream'>(streams.map((s) => [s, 'no_stream']));
    let k = 0;
    const storeOnce = async (): Promise<void> => {
      const s = streams[k++ % streams.length]!;
      const r = await store.append(s, revisions.get(s)!, [event()]);
      revisions.set(s, r.nextRevision);
    };
    let j = 0;
    const rawOnce = async (): Promise<void> => {
      const e = event();
      await js.publish(`haven.es.scheduling.raw.r${j++ % 20}`, new TextEncoder().encode(JSON.stringify(e)), {
        msgID: e.id,
      });
    };
    for (let i = 0; i < WARMUP; i += 1) {
      await storeOnce();
      await rawOnce();
    }
    const storeSamples: number[] = [];
    const rawSamples: number[] = [];
    let storeTotal = 0;
    let rawTotal = 0;
    for (let done = 0; done < N; done += BLOCK) {
      const block = Math.min(BLOCK, N - done);
      for (const [fn, samples, add] of [
        [storeOnce, storeSamples, (ms: number) => (storeTotal += ms)],
        [rawOnce, rawSamples, (ms: number) => (rawTotal += ms)],
      ] as const) {
        const start = performance.now();
        for (let i = 0; i < block; i += 1) {
          const t = performance.now();
          await fn();
          samples.push(performance.now() - t);
        }
        add(performance.now() - start);
      }
    }
    const s = stats(storeSamples, storeTotal);
    const r = stats(rawSamples, rawTotal);
    return {
      benchmark: 'eventstore.append vs js.publish (serial, one event each)',
      n: N,
      store: s,
      raw: r,
      ratio: {
        p50: Math.round((s.p50Ms / r.p50Ms) * 100) / 100,
        p99: Math.round((s.p99Ms / r.p99Ms) * 100) / 100,
      },
      targets: { p50RatioMax: 1.5, throughputMin: 5000 },
      meetsTargets: { p50Ratio: s.p50Ms / r.p50Ms <= 1.5, throughput: s.throughputPerS >= 5000 },
    };
  } finally {
    await nc.drain();
    await server.stop();
  }
}

runWhenMain(module, () => run());
