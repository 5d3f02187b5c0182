/**
 * The relay accepted, the sender died before ReminderSent was stored: over a real nats-server (the scheduling
 * user's permissions, HAVEN_ACCEPTED as the operator provisions it) and a real local SMTP server. Sender A sends
 * a batch; the relay answers 250 to every message and A marks each accepted, but none of its ReminderSent
 * appends reaches the store (they hang until A is "killed": they fail, nothing stored). Sender B takes over
 * once the leases ran out (its clock is ahead): with the marks it records every reminder as sent (`recovered`)
 * and sends none again; without the marks — the window the outbox had before them — every message goes twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilePatientKeyStore, LocalKeyringKms } from '@haven/crypto';
import { JetStreamEventStore, connectNats, type EventStore } from '@haven/eventstore';
import type { NatsConnection } from 'nats';
import { createLogger } from '@haven/service';
import {
  eventually,
  passesEventually,
  startMailCatcher,
  startNatsServer,
  type MailCatcher,
  type NatsServerHandle,
} from '@haven/testing';
import { catcherOutbox, givenDueMessageNotice, givenRegisteredPatient } from '../testing';
import { NatsAcceptedMarks, type AcceptedMarks } from './accepted-marks';
import { messageIdOf, ReminderChannel, ReminderEventType, reminderStream } from './reminder';

jest.setTimeout(60_000);

const BATCH = 6;
const LEASE_MS = 60_000;
const logger = createLogger({ service: 'test', level: 'silent' });

let nats: NatsServerHandle;
let catcher: MailCatcher;
let nc: NatsConnection;
let store: JetStreamEventStore;
let marks: AcceptedMarks;
let dir: string;
let keys: FilePatientKeyStore;

beforeAll(async () => {
  nats = await startNatsServer();
  catcher = await startMailCatcher();
  nc = await connectNats({ ...nats.client('scheduling'), name: 'outbox-accepted-test' });
  store = await JetStreamEventStore.create(nc);
  const opened = await NatsAcceptedMarks.open(nc, 'scheduling', logger);
  if (!opened) throw new Error('HAVEN_ACCEPTED is not provisioned');
  marks = opened;
  dir = mkdtempSync(join(tmpdir(), 'haven-outbox-accepted-'));
  const kms = await LocalKeyringKms.open({ file: join(dir, 'keyring.json'), create: true });
  keys = new FilePatientKeyStore({ dir: join(dir, 'patient-keys'), kms });
});

afterAll(async () => {
  await store?.close();
  await nc?.close();
  await catcher?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A sender over `over`, `aheadMs` in the future, with or without marks. */
function sender(over: EventStore, options: { aheadMs: number; marks: AcceptedMarks | undefined }) {
  return catcherOutbox(
    { store: over, keys, logger, clock: () => new Date(Date.now() + options.aheadMs) },
    { port: catcher.port, domain: 'accepted.test', clinicName: 'Accepted Clinic' },
    { channels: [ReminderChannel.Email], leaseMs: LEASE_MS },
    { concurrency: 2 * BATCH, ...(options.marks ? { marks: options.marks } : {}) },
  );
}

/**
 * The store as sender A sees it: every ReminderSent append hangs until `kill()`, then fails (a process killed
 * before the append left: nothing stored). `attempted` lists the streams it tried.
 */
function storeDyingBeforeSent() {
  const attempted: string[] = [];
  let kill!: (error: Error) => void;
  const killed = new Promise<never>((_, reject) => (kill = reject));
  killed.catch(() => undefined);
  const wrapped: EventStore = {
    append: (stream, expected, events) => {
      if (!events.some((e) => e.type === ReminderEventType.Sent))
        return store.append(stream, expected, events);
      attempted.push(stream);
      return killed;
    },
    read: (stream, options) => store.read(stream, options),
    subscribe: (options) => store.subscribe(options),
    head: (options) => store.head(options),
    deleteStream: (stream) => store.deleteStream(stream),
    close: () => Promise.resolve(),
  };
  return { store: wrapped, attempted, kill: () => kill(new Error('killed')) };
}

let patients = 0;
/** A patient with `BATCH` due message notices by e-mail; their reminder ids. */
async function dueBatch(): Promise<string[]> {
  const patientId = `pat-accepted-${++patients}`;
  await givenRegisteredPatient(store, keys, patientId, {
    givenName: 'Acce',
    familyName: 'Pted',
    email: `accepted${patients}@example.test`,
  });
  const ids: string[] = [];
  for (let i = 0; i < BATCH; i++) {
    ids.push(
      await givenDueMessageNotice(store, {
        patientId,
        threadId: `thread-${patientId}-${i}`,
        secureMessageId: `msg-${patientId}-${i}`,
      }),
    );
  }
  return ids;
}

const copiesOf = (id: string) => catcher.countOf(messageIdOf(id, 'accepted.test'));
const typesOf = async (id: string) =>
  (await store.read(reminderStream(id))).map((e) => e.type.split('.').pop());

/**
 * Sender A sends the batch, the relay accepts every message and A tries to append each ReminderSent; then A
 * dies (those appends fail). Resolves once every reminder is left `sending` with one copy at the relay.
 */
async function acceptedThenKilled(ids: readonly string[], withMarks: boolean): Promise<void> {
  const dying = storeDyingBeforeSent();
  const a = sender(dying.store, { aheadMs: 0, marks: withMarks ? marks : undefined });
  const following = await a.follow(store, logger);
  await passesEventually(() => expect(a.openCount()).toBeGreaterThanOrEqual(ids.length));
  const round = a.tick();
  await passesEventually(() => expect([...dying.attempted].sort()).toEqual(ids.map(reminderStream).sort()), {
    timeoutMs: 30_000,
  });
  dying.kill();
  await round;
  await following.close();
  await a.stop();
  for (const id of ids) {
    expect(copiesOf(id)).toBe(1);
    expect(await typesOf(id)).toEqual(['ReminderScheduled', 'ReminderSending']);
  }
}

/** Sender B, its clock past A's leases, runs rounds until every reminder of `ids` is finished. */
async function takenOver(ids: readonly string[], withMarks: boolean): Promise<void> {
  const b = sender(store, { aheadMs: 2 * LEASE_MS, marks: withMarks ? marks : undefined });
  const following = await b.follow(store, logger);
  try {
    await passesEventually(
      async () => {
        await b.tick();
        for (const id of ids) expect((await typesOf(id)).at(-1)).toBe('ReminderSent');
      },
      { timeoutMs: 30_000 },
    );
  } finally {
    await following.close();
    await b.stop();
  }
}

it('records what the relay accepted before the sender died as sent, and sends none of it again', async () => {
  const ids = await dueBatch();
  await acceptedThenKilled(ids, true);
  await takenOver(ids, true);
  for (const id of ids) {
    expect(copiesOf(id)).toBe(1);
    const last = (await store.read(reminderStream(id))).at(-1);
    expect(last?.data).toMatchObject({ attempt: 2, recovered: true });
  }
});

it('without the marks (the window before them) sends every accepted message again', async () => {
  const ids = await dueBatch();
  await acceptedThenKilled(ids, false);
  await takenOver(ids, false);
  for (const id of ids) expect(copiesOf(id)).toBe(2);
});

it('writes a mark only on the scheduling subject of the message, ids only', async () => {
  const operator = await nats.connect();
  const jsm = await operator.jetstreamManager();
  const [id] = await dueBatch();
  const a = sender(store, { aheadMs: 0, marks });
  await a.sendOne(id!);
  await a.stop();
  // The mark is a plain publish (nothing acked): the stream may store it a moment after ReminderSent's ack.
  const stored = await eventually('the mark', () =>
    jsm.streams.getMessage('HAVEN_ACCEPTED', { last_by_subj: `haven.accepted.scheduling.${id!}` }),
  );
  expect(stored.data).toHaveLength(0);
  expect(copiesOf(id!)).toBe(1);
  await operator.close();
});
