/**
 * Exactly once toward SMTP under kill -9: the scheduling service runs as a real child process and sends a batch
 * of invitations, several at once (its default concurrency, both pooled SMTP connections busy), to a real local
 * smtp-server that counts Message-IDs. The server accepts two, then holds its final reply to every later
 * message; once the two accepted ones are recorded as sent and both connections wait on a held reply, the test
 * kills the process (SIGKILL) — every in-flight message recorded as `sending`, none acknowledged — and starts it
 * again. Every invitation then arrives exactly once, and every reminder stream ends in ReminderSent.
 *
 * What "never twice" rests on: the claim (ReminderSending at the stream's revision, so two senders never both
 * send) and the relay's reply (a message without a final 250 was not accepted; the next attempt after the lease
 * reuses the Message-ID). The catcher counts Message-IDs, it does not drop repeats, so a duplicate would show.
 * A sender killed after the relay's 250 but before ReminderSent was stored is outbox-accepted.int.spec.ts (the
 * accepted marks); not covered, and documented in ADR 0015: a 250 in the instant before its mark left.
 */
import { JetStreamEventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { createTestIssuer } from '@haven/service/testing';
import {
  catcherSmtpEnv,
  launchStack,
  passesEventually,
  serveJwks,
  startMailCatcher,
  type JwksServer,
  type LaunchedStack,
  type MailCatcher,
} from '@haven/testing';
import { bookVisit, createPatient, issueLink, startIn } from '../../test/suite';
import { messageIdOf, reminderStream } from './reminder';

jest.setTimeout(120_000);

const issuer = createTestIssuer();
const BATCH = 6;
let jwks: JwksServer;
let catcher: MailCatcher;
let stack: LaunchedStack;
let client: scheduling.SchedulingServiceClient;
let store: JetStreamEventStore;

beforeAll(async () => {
  jwks = await serveJwks(issuer.jwks);
  catcher = await startMailCatcher();
  stack = await launchStack({
    services: ['scheduling'],
    jwksUrl: jwks.url,
    env: {
      scheduling: {
        ...catcherSmtpEnv(catcher, 'Clinic <no-reply@crash.test>'),
        HAVEN_REMINDER_POLL_MS: '50',
        HAVEN_REMINDER_LEASE_MS: '2000',
        HAVEN_REMINDER_OFFSETS: '',
      },
    },
  });
  client = stack.client(scheduling.SchedulingServiceClient, 'scheduling');
  store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'outbox-crash-test' });
});

afterAll(async () => {
  client?.close();
  await store?.close();
  await stack?.stop();
  await catcher?.close();
  await jwks?.close();
});

const frontDesk = () => issuer.metadata({ sub: 'u-desk', role: 'front_desk' });

it('sends every invitation exactly once across a kill -9 mid-batch', async () => {
  const hold = catcher.holdFrom(2);
  const desk = { client, metadata: frontDesk };
  const patient = await createPatient(desk, {
    givenName: 'Crash',
    familyName: 'Test',
    dateOfBirth: '1980-01-01',
    email: 'crash@example.test',
  });
  const reminderIds: string[] = [];
  for (let i = 0; i < BATCH; i++) {
    const start = startIn((2 * 24 * 60 + i * 60) * 60_000);
    const booked = await bookVisit(desk, { patient, clinician: 'users/doc-crash', start });
    await issueLink(desk, booked.name);
    reminderIds.push(`${booked.name.slice('appointments/'.length)}_invitation_email`);
  }
  const typesOf = async (id: string) =>
    (await store.read(reminderStream(id))).map((e) => e.type.split('.').pop());
  const reminderOf = (messageId: string) =>
    reminderIds.find((id) => messageIdOf(id, 'crash.test') === messageId);
  // Both pooled connections wait on a held reply, and the two accepted messages are recorded as sent.
  await passesEventually(() => expect(hold.held()).toHaveLength(2), { timeoutMs: 30_000 });
  await passesEventually(async () => {
    for (const mail of catcher.messages())
      expect((await typesOf(reminderOf(mail.messageId)!)).at(-1)).toBe('ReminderSent');
  });
  const service = stack.service('scheduling');
  await service.signal('SIGKILL');
  hold.stop();
  expect(catcher.messages()).toHaveLength(2);
  for (const mail of hold.held()) {
    // "sending" was recorded before SMTP, and the relay never acknowledged it
    expect(await typesOf(reminderOf(mail.messageId)!)).toEqual(['ReminderScheduled', 'ReminderSending']);
  }

  await service.start();
  await passesEventually(
    () => {
      for (const id of reminderIds) expect(catcher.countOf(messageIdOf(id, 'crash.test'))).toBe(1);
    },
    { timeoutMs: 60_000 },
  );
  for (const id of reminderIds) {
    const events = await store.read(reminderStream(id));
    expect(events.at(-1)?.type).toBe('haven.scheduling.v1.ReminderSent');
  }
  expect(catcher.duplicates()).toEqual([]);
  expect(catcher.messages()).toHaveLength(BATCH);
});
