/**
 * The cost of the audit service's store watch as the store grows: one status call (stream info: what is
 * checked every second) and a full pass (every stored event read back by position, decoded, digested and
 * compared with its ledger entry) against the baseline of reading the same messages raw through an ordered
 * consumer, in the same process against the same nats-server. Prints numbers; passes or fails on nothing.
 * Stand-alone: `TS_NODE_PROJECT=tests/bench/tsconfig.json node -r ts-node/register/transpile-only
 * tests/bench/audit-watch.bench.ts [events…]`.
 */
import { performance } from 'node:perf_hooks';
import { JetStreamEventStore, newEvent } from '@haven/eventstore';
import { eventDigest } from '../../services/audit/src/log/event-digest';
import {
  checkRange,
  initialStoreWatchState,
  type IngestedEntry,
  type IngestedLedger,
} from '../../services/audit/src/store-watch/decide';
import { startNatsServer } from '@haven/testing';
import { ascending, percentile, round3 } from './stats';
import { runWhenMain } from './main';

const CHUNK = 1_000;

function ledgerOf(entries: readonly IngestedEntry[]): IngestedLedger {
  return {
    size: entries.length,
    at: (i) => entries[i]!,
    lowerBound: (p) => {
      let lo = 0;
      let hi = entries.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (entries[mid]!.position < p) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    },
  };
}

async function atSize(events: number): Promise<Record<string, unknown>> {
  const nats = await startNatsServer();
  const store = await JetStreamEventStore.connect({
    ...nats.client('scheduling'),
    name: 'bench-audit-watch',
  });
  const nc = await nats.connect('audit');
  try {
    const entries: IngestedEntry[] = [];
    for (let n = 0; n < events; n++) {
      const e = newEvent({
        type: 'haven.events.v1.PhiAccessed',
        data: { patientId: `pat-${n % 5000}`, what: `patients/pat-${n % 5000}`, fields: ['given_name'] },
        actor: { kind: 'user', id: `u-${n % 40}`, role: 'clinician' },
      });
      const r = await store.append(`scheduling.patient_access-p${n}`, 'no_stream', [e]);
      entries.push({ index: n, eventId: e.id, position: r.position });
    }
    const inspection = store.inspection();
    // The digests the ledger would hold: read once (not timed).
    for (let from = 1n; ;) {
      const range = await inspection.readFrom(from, CHUNK);
      for (const x of range.items) {
        const i = Number(x.position) - 1;
        entries[i] = { ...entries[i]!, digest: eventDigest(x.event!) };
      }
      if (range.end || range.items.length === 0) break;
      from = range.items.at(-1)!.position + 1n;
    }
    const ledger = ledgerOf(entries);

    const statusMs: number[] = [];
    for (let k = 0; k < 200; k++) {
      const t = performance.now();
      await inspection.status();
      statusMs.push(performance.now() - t);
    }
    const sorted = ascending(statusMs);

    // Full pass: read back, decode, digest, compare.
    const t0 = performance.now();
    let state = initialStoreWatchState;
    let findings = 0;
    for (let index = 0; index < ledger.size;) {
      const range = await inspection.readFrom(ledger.at(index).position, CHUNK);
      const items = range.items.map((x) => ({
        position: x.position,
        eventId: x.event!.id,
        digest: eventDigest(x.event!),
      }));
      const outcome = checkRange(state, { type: 'CheckRange', fromIndex: index, items, ledger, now: 0 });
      findings += outcome.events.length;
      state = initialStoreWatchState;
      if (outcome.nextIndex === index || range.end) break;
      index = outcome.nextIndex;
    }
    const passMs = performance.now() - t0;

    // Baseline: the same messages through an ordered consumer, bytes only.
    const t1 = performance.now();
    const consumer = await nc.jetstream().consumers.get('HAVEN_ES');
    const messages = await consumer.consume({ max_messages: CHUNK });
    let raw = 0;
    for await (const m of messages) {
      raw += m.data.length > 0 ? 1 : 0;
      if (m.info.pending === 0) break;
    }
    messages.stop();
    const rawMs = performance.now() - t1;
    return {
      events,
      findings,
      statusP50Ms: round3(percentile(sorted, 50)),
      statusP99Ms: round3(percentile(sorted, 99)),
      fullPassMs: Math.round(passMs),
      fullPassPerS: Math.round((events / passMs) * 1000),
      rawReadMs: Math.round(rawMs),
      rawReadPerS: Math.round((raw / rawMs) * 1000),
      ratio: round3(passMs / rawMs),
    };
  } finally {
    await nc.close();
    await store.close();
    await nats.stop();
  }
}

/** The store watch at each size (default 10 000 and 100 000 events). */
export async function run(sizes: readonly number[] = [10_000, 100_000]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const n of sizes) out[String(n)] = await atSize(n);
  return out;
}

runWhenMain(module, () => {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);

  return run(sizes.length > 0 ? sizes : undefined);
});
