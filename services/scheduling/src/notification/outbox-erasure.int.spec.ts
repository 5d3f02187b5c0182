/**
 * An erasure against a send on another replica, over a real nats-server and a real local SMTP server: two
 * scheduling replicas share the patient-key directory (each its own key store and cache, as in a deployment)
 * and the event store. Replica A has already written to the patient (its copy of the registration and its
 * unwrapped key are warm). Replica B erases the patient the way ErasePatient does: PatientErased, then the key
 * destroyed. Replica A's follower has not seen the erasure yet (a follower that lags, or the instant after the
 * append); its next message to the patient must not leave, and its reminder ends in ReminderSuppressed
 * (`patient_erased`). The same holds in the instant between PatientErased and the key's destruction.
 *
 * With its follower running, the outbox takes the erasure from what the follower saw once it passed the claim
 * (no read of the patient's stream); a follower held back behind the erasure leaves the check to that read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilePatientKeyStore, LocalKeyringKms } from '@haven/crypto';
import {
  JetStreamEventStore,
  newEvent,
  type EventStore,
  type PositionedEvent,
  type SubscribeOptions,
} from '@haven/eventstore';
import type { NatsConnection } from 'nats';
import { createLogger } from '@haven/service';
import { startMailCatcher, startNatsServer, type MailCatcher, type NatsServerHandle } from '@haven/testing';
import { PatientEventType, patientStream } from '../patient/patient';
import { catcherOutbox, givenDueMessageNotice, givenRegisteredPatient } from '../testing';
import { ReminderChannel, ReminderEventType, reminderStream } from './reminder';

jest.setTimeout(60_000);

const actor = { kind: 'service', id: 'scheduling' } as const;
const logger = createLogger({ service: 'test', level: 'silent' });

let nats: NatsServerHandle;
let catcher: MailCatcher;
let store: JetStreamEventStore;
let nc: NatsConnection;
let dir: string;
let kms: LocalKeyringKms;
const closing: (() => Promise<void>)[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  catcher = await startMailCatcher();
  nc = await nats.connect();
  store = await JetStreamEventStore.create(nc);
  dir = mkdtempSync(join(tmpdir(), 'haven-outbox-erasure-'));
  kms = await LocalKeyringKms.open({ file: join(dir, 'keyring.json'), create: true });
});

afterAll(async () => {
  for (const close of closing) await close();
  await store?.close();
  await nc?.close();
  await catcher?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One scheduling replica's outbox: its own key store (and cache) over the shared key directory. */
function replica(over: EventStore = store) {
  const keys = new FilePatientKeyStore({ dir: join(dir, 'patient-keys'), kms });
  const outbox = catcherOutbox(
    { store: over, keys, logger },
    { port: catcher.port, domain: 'erasure.test', clinicName: 'Erasure Clinic' },
    { channels: [ReminderChannel.Email] },
  );
  closing.push(() => outbox.stop());
  return { keys, outbox };
}

let patients = 0;
async function registeredPatient(keys: FilePatientKeyStore): Promise<string> {
  const patientId = `pat-erase-${++patients}`;
  await givenRegisteredPatient(store, keys, patientId, {
    givenName: 'Erasa',
    familyName: 'Racewell',
    email: `erasa${patients}@example.test`,
  });
  return patientId;
}

let notices = 0;
const scheduleNotice = (patientId: string): Promise<string> =>
  givenDueMessageNotice(store, {
    patientId,
    threadId: `thread-${patientId}`,
    secureMessageId: `msg-${++notices}`,
  });

const lastOf = async (reminderId: string) => (await store.read(reminderStream(reminderId))).at(-1);
const erased = (patientId: string) =>
  store.append(patientStream(patientId), 'any', [
    newEvent({ type: PatientEventType.Erased, data: { patientId, reason: 'PATIENT_REQUEST' }, actor }),
  ]);

/** Replica `a` sends a first notice to the patient; resolves with how many messages had left by then. */
async function sentOnce(a: ReturnType<typeof replica>, patientId: string): Promise<number> {
  const first = await scheduleNotice(patientId);
  await a.outbox.sendOne(first);
  expect((await lastOf(first))?.type).toBe(ReminderEventType.Sent);
  return catcher.messages().length;
}

/** Replica `a`'s next notice to the patient ends in ReminderSuppressed (`patient_erased`) and nothing leaves. */
async function expectSuppressed(a: ReturnType<typeof replica>, patientId: string, sentBefore: number) {
  const second = await scheduleNotice(patientId);
  await a.outbox.sendOne(second);
  const last = await lastOf(second);
  expect(last?.type).toBe(ReminderEventType.Suppressed);
  expect(last?.data['reason']).toBe('patient_erased');
  expect(catcher.messages().length).toBe(sentBefore);
}

/**
 * The shared store, counting the reads of patient streams; `hold()` keeps the events delivered from then on
 * from reaching subscribers' handlers until `release()`.
 */
function observedStore() {
  const patientReads: string[] = [];
  let held: Promise<void> | undefined;
  let release = () => undefined as void;
  const observed = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'read') {
        return (stream: string, options?: Parameters<EventStore['read']>[1]) => {
          if (stream.startsWith(patientStream(''))) patientReads.push(stream);
          return target.read(stream, options);
        };
      }
      if (property === 'subscribe') {
        return (options: SubscribeOptions) =>
          target.subscribe({
            ...options,
            handler: async (event: PositionedEvent) => {
              if (held) await held;
              await options.handler(event);
            },
          });
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    store: observed,
    patientReads,
    hold: () => {
      held = new Promise<void>((resolve) => (release = resolve));
    },
    release: () => {
      held = undefined;
      release();
    },
  };
}

/** Replica `a` over `observed`, its follower running. */
async function followingReplica(observed: ReturnType<typeof observedStore>) {
  const a = replica(observed.store);
  const follower = await a.outbox.follow(observed.store, logger);
  closing.unshift(() => follower.close());
  return a;
}

describe('a patient erased on another replica', () => {
  it('gets nothing from a replica whose copy of the patient and key is warm', async () => {
    const a = replica();
    const b = replica();
    const patientId = await registeredPatient(a.keys);
    const sentBefore = await sentOnce(a, patientId);

    // Replica B erases: PatientErased, then the key destroyed (ErasePatient's order).
    await erased(patientId);
    await b.keys.destroy(patientId);

    await expectSuppressed(a, patientId, sentBefore);
  });

  it('gets nothing in the instant between PatientErased and the key destroyed', async () => {
    const a = replica();
    const patientId = await registeredPatient(a.keys);
    const sentBefore = await sentOnce(a, patientId);

    await erased(patientId); // the eraser has not destroyed the key yet

    await expectSuppressed(a, patientId, sentBefore);
  });

  it('is taken from the follower once it passed the claim, without reading the patient stream', async () => {
    const observed = observedStore();
    const a = await followingReplica(observed);
    const patientId = await registeredPatient(a.keys);
    const sentBefore = await sentOnce(a, patientId);
    const readsBefore = observed.patientReads.length;

    await erased(patientId); // the key still opens: only the erasure check can stop the message

    await expectSuppressed(a, patientId, sentBefore);
    expect(observed.patientReads.slice(readsBefore)).toEqual([]);
  });

  it('is read from the patient stream while the follower is held back behind the erasure', async () => {
    const observed = observedStore();
    const a = await followingReplica(observed);
    const patientId = await registeredPatient(a.keys);
    const sentBefore = await sentOnce(a, patientId);
    const readsBefore = observed.patientReads.length;

    observed.hold(); // the follower gets nothing from here on: not the erasure, not the claim
    try {
      await erased(patientId);
      await expectSuppressed(a, patientId, sentBefore);
      expect(observed.patientReads.slice(readsBefore)).toEqual([patientStream(patientId)]);
    } finally {
      observed.release();
    }
  });
});
