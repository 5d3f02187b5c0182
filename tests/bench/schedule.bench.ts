/**
 * A booking's cost against the clinician's history (issue 11, finding 7): the slot reservation of
 * BookAppointment (load the clinician's schedule, decide, append) on streams holding 16, 1 058 and 5 000 past
 * reservations, read from snapshots (Haven) against the full read every booking used to do (baseline), in
 * the same process against the same nats-server, call by call alternating. Then 20 concurrent clients booking
 * one clinician with 1 058 events of history: optimistic-concurrency conflicts and bookings that ran out of
 * retries (ABORTED to the client), both ways.
 *
 *   npm run bench -- schedule
 *
 * Target (reported, not enforced): with snapshots, p50 at 5 000 events ≤ 1.5 × p50 at 16 events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isCategory } from '@haven/errors';
import {
  FileSnapshotStore,
  JetStreamEventStore,
  connectNats,
  newEvent,
  type EventStore,
  type SnapshotStore,
} from '@haven/eventstore';
import { reserveSlot } from '../../services/scheduling/src/schedule/slots';
import { scheduleStream } from '../../services/scheduling/src/schedule/schedule';
import { startNatsServer } from '@haven/testing';
import { interleaved, latencyMs, round3 } from './stats';
import { runWhenMain } from './main';

const HISTORIES = [16, 1_058, 5_000] as const;
const N = 60;
const DAY = 86_400_000;
const actor = { kind: 'user', id: 'u-bench', role: 'front_desk' } as const;
const metadata = { actor, correlationId: 'bench' };

/** A snapshot store that never has one: every load is the full read (how every booking worked before). */
const NO_SNAPSHOTS: SnapshotStore = {
  load: async () => undefined,
  save: async () => undefined,
};

/** Appends `n` past reservations (the history of a busy clinician) in batches. */
async function history(store: EventStore, clinicianId: string, n: number): Promise<void> {
  const stream = scheduleStream(clinicianId);
  const base = Date.now() - 400 * DAY;
  for (let done = 0; done < n; done += 100) {
    const batch = Array.from({ length: Math.min(100, n - done) }, (_, i) => {
      const start = base + (done + i) * 3_600_000;
      return newEvent({
        type: 'haven.scheduling.v1.ClinicianSlotReserved',
        data: {
          clinicianId,
          appointmentId: `past-${done + i}`,
          startTime: new Date(start).toISOString(),
          endTime: new Date(start + 1_800_000).toISOString(),
        },
        actor,
      });
    });
    await store.append(stream, done === 0 ? 'no_stream' : BigInt(done - 1), batch);
  }
}

/** Runs the benchmark; returns the numbers. */
export async function run(): Promise<Record<string, unknown>> {
  const server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-snapshots-'));
  const nc = await connectNats({ ...server.client('scheduling'), name: 'bench' });
  try {
    const store = await JetStreamEventStore.create(nc);
    const clock = () => new Date();
    const withSnapshots = { store, clock, snapshots: new FileSnapshotStore({ dir }) as SnapshotStore };
    const fullRead = { store, clock, snapshots: NO_SNAPSHOTS };
    let slot = 0;
    /** One booking's reservation on a future slot of `clinicianId`; its latency in ms. */
    const book = async (deps: typeof withSnapshots, clinicianId: string): Promise<number> => {
      slot += 1;
      const start = new Date(Math.ceil(Date.now() / DAY) * DAY + 30 * DAY + slot * 3_600_000);
      const t = performance.now();
      await reserveSlot(deps, metadata, {
        clinicianId,
        appointmentId: `a-${slot}`,
        startTime: start,
        endTime: new Date(start.getTime() + 1_800_000),
        field: 'appointment.start_time',
      });
      return performance.now() - t;
    };

    const serial: Record<string, unknown> = {};
    let baseP50: number | undefined;
    let snapshotAtLongest: number | undefined;
    for (const h of HISTORIES) {
      const a = `bench-snap-${h}`;
      const b = `bench-full-${h}`;
      await history(store, a, h);
      await history(store, b, h);
      for (let i = 0; i < 5; i++) {
        await book(withSnapshots, a);
        await book(fullRead, b);
      }
      const result = await interleaved(
        N,
        () => book(withSnapshots, a),
        () => book(fullRead, b),
      );
      const s = latencyMs(result.a);
      const f = latencyMs(result.b);
      baseP50 ??= s.p50Ms;
      snapshotAtLongest = s.p50Ms;
      serial[`history${h}`] = {
        snapshots: s,
        fullRead: f,
        fullOverSnapshotP50: round3(f.p50Ms / s.p50Ms),
        snapshotP50OverShortest: round3(s.p50Ms / baseP50),
      };
    }

    // 20 clients at once on one clinician with 1 058 past events.
    const contention = async (deps: typeof withSnapshots, clinicianId: string) => {
      await history(store, clinicianId, 1_058);
      let conflicts = 0;
      const counting: typeof deps = {
        ...deps,
        store: {
          ...store,
          read: store.read.bind(store),
          append: async (...args: Parameters<typeof store.append>) => {
            try {
              return await store.append(...args);
            } catch (error) {
              if (isCategory(error, 'conflict')) conflicts += 1;
              throw error;
            }
          },
        } as unknown as JetStreamEventStore,
      };
      let aborted = 0;
      const samples: number[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          for (let i = 0; i < 10; i++) {
            try {
              samples.push(await book(counting, clinicianId));
            } catch (error) {
              if (isCategory(error, 'conflict')) aborted += 1;
              else throw error;
            }
          }
        }),
      );
      return {
        bookings: 200,
        conflicts,
        abortedToClient: aborted,
        seconds: round3((performance.now() - started) / 1000),
        latency: latencyMs(samples),
      };
    };
    const concurrent = {
      snapshots: await contention(withSnapshots, 'bench-contended-snap'),
      fullRead: await contention(fullRead, 'bench-contended-full'),
    };

    return {
      benchmark:
        'schedule reservation (BookAppointment slot check) vs history length, snapshots vs full read',
      n: N,
      serial,
      concurrent20Clients: concurrent,
      target: { snapshotP50AtLongestOverShortestMax: 1.5 },
      meetsTarget:
        baseP50 !== undefined && snapshotAtLongest !== undefined && snapshotAtLongest / baseP50 <= 1.5,
    };
  } finally {
    await nc.drain();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(module, () => run());
