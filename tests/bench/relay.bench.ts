/**
 * The store → bus relay's throughput: a backlog of N scheduling events in the store, then `startRelay` until
 * it has published them all (caughtUp), against raw `js.publish` of the same envelopes on the same bus subjects
 * with the same number in flight (the relay's window), in the same process against the same nats-server.
 * Each side runs 3 rounds on fresh events, alternating; medians are compared. One more round of the relay with
 * window 1 (one publish at a time) shows what the window buys.
 *
 *   npx ts-node --transpile-only -P tests/bench/tsconfig.json tests/bench/relay.bench.ts
 *
 * Target (reported, not enforced): relay ≤ 2 × raw per event. A relay one round trip per event behind a busy
 * service's own load kept that service NOT_SERVING (see packages/bus/src/relay.ts).
 */
import { headers as natsHeaders } from 'nats';
import {
  JetStreamEventStore,
  connectNats,
  encodeEnvelope,
  newEvent,
  streamName,
  type EventEnvelope,
} from '@haven/eventstore';
import { DEFAULT_RELAY_WINDOW, EventBus, busSubject, startRelay } from '@haven/bus';
import { startNatsServer } from '@haven/testing';
import { runWhenMain } from './main';
import { median, round3 } from './stats';

const N = 3000;
const ROUNDS = 3;

/** Runs the benchmark; returns the numbers (also printed as JSON when run directly). */
export async function run(): Promise<Record<string, unknown>> {
  const server = await startNatsServer();
  const nc = await connectNats({ ...server.client('scheduling'), name: 'bench' });
  try {
    const store = await JetStreamEventStore.create(nc);
    const bus = await EventBus.create(nc);
    const js = nc.jetstream();
    const actor = { kind: 'service', id: 'bench' } as const;
    let k = 0;
    const fresh = (): EventEnvelope => {
      k += 1;
      const e = newEvent({ type: 'haven.scheduling.v1.AppointmentBooked', data: { n: k }, actor });
      return {
        ...e,
        stream: streamName({ context: 'scheduling', aggregate: 'appointment', id: `b${k}` }),
        revision: 0n,
      };
    };
    const relayRound = async (window?: number): Promise<number> => {
      for (let i = 0; i < N; i++) {
        const e = fresh();
        await store.append(e.stream, 'no_stream', [newEvent({ type: e.type, data: e.data, actor })]);
      }
      const t = performance.now();
      const relay = await startRelay({ store, bus, context: 'scheduling', ...(window ? { window } : {}) });
      await relay.caughtUp(300_000);
      const ms = performance.now() - t;
      await relay.close();
      return ms;
    };
    const rawRound = async (): Promise<number> => {
      const events = Array.from({ length: N }, fresh);
      const t = performance.now();
      const inFlight = new Set<Promise<unknown>>();
      for (const e of events) {
        const h = natsHeaders();
        h.set('Haven-Event-Id', e.id);
        h.set('Haven-Event-Type', e.type);
        const p = js.publish(busSubject(e), encodeEnvelope(e), { msgID: e.id, headers: h });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size >= DEFAULT_RELAY_WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      return performance.now() - t;
    };
    await rawRound(); // warm-up: streams, connection, JIT
    const relayMs: number[] = [];
    const rawMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      relayMs.push(await relayRound());
      rawMs.push(await rawRound());
    }
    // For comparison: the same relay one publish at a time (window 1), as it ran before the window.
    const sequentialPer = (await relayRound(1)) / N;
    const relayPer = median(relayMs) / N;
    const rawPer = median(rawMs) / N;
    await bus.close();
    return {
      benchmark: 'store → bus relay catch-up vs raw js.publish (same window)',
      n: N,
      window: DEFAULT_RELAY_WINDOW,
      relay: {
        perEventMs: round3(relayPer),
        eventsPerS: Math.round(1000 / relayPer),
        roundsMs: relayMs.map(Math.round),
      },
      sequential: { perEventMs: round3(sequentialPer), eventsPerS: Math.round(1000 / sequentialPer) },
      raw: {
        perEventMs: round3(rawPer),
        eventsPerS: Math.round(1000 / rawPer),
        roundsMs: rawMs.map(Math.round),
      },
      ratio: Math.round((relayPer / rawPer) * 100) / 100,
      targets: { ratioMax: 2 },
      meetsTargets: { ratio: relayPer / rawPer <= 2 },
    };
  } finally {
    await nc.drain();
    await server.stop();
  }
}

runWhenMain(module, () => run());
