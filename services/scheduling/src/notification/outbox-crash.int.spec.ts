/**
 * Exactly once toward SMTP under kill -9: the scheduling service runs as a real child process and sends a batch
 * of invitations, one at a time, to a real local smtp-server that counts Message-IDs. The server holds its final
 * reply to the third message; the test kills the process (SIGKILL) while that message is in flight — recorded
 * as `sending`, never acknowledged — and starts it again. Every invitation then arrives exactly once, and every
 * reminder stream ends in ReminderSent.
 */
import { JetStreamEventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import {
  eventually,
  launchStack,
  serveJwks,
  startMailCatcher,
  type JwksServer,
  type LaunchedStack,
  type MailCatcher,
} from '@haven/testing';
import { messageIdOf, reminderStream } from './reminder';

jest.setTimeout(120_000);

/** Waits until `check` stops throwing. */
const until = (check: () => unknown, options: { timeoutMs?: number } = {}) =>
  eventually(
    'the expected outbox state',
    async () => {
      await check();
      return true;
    },
    options,
  );

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
        HAVEN_SMTP_URL: `smtp://127.0.0.1:${catcher.port}`,
        HAVEN_SMTP_REQUIRE_TLS: 'false',
        HAVEN_SMTP_FROM: 'Clinic <no-reply@crash.test>',
        HAVEN_REMINDER_POLL_MS: '50',
        HAVEN_REMINDER_CONCURRENCY: '1',
        HAVEN_REMINDER_LEASE_MS: '2000',
        HAVEN_REMINDER_OFFSETS: '',
      },
    },
  });
  client = new scheduling.SchedulingServiceClient(
    `127.0.0.1:${stack.ports.scheduling.grpc}`,
    stack.pki.grpcCredentials('integration'),
  );
  store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'outbox-crash-test' });
});

afterAll(async () => {
  client?.close();
  await store?.close();
  await stack?.stop();
  await catcher?.close();
  await jwks?.close();
});

const frontDesk = async () =>
  clientCallMetadata({ token: await issuer.sign({ sub: 'u-desk', role: 'front_desk' }) });

it('sends every invitation exactly once across a kill -9 mid-batch', async () => {
  const held = catcher.holdNext(2);
  const patient = await callUnary(
    client,
    'createPatient',
    scheduling.CreatePatientRequest.fromPartial({
      patient: {
        givenName: 'Crash',
        familyName: 'Test',
        dateOfBirth: '1980-01-01',
        email: 'crash@example.test',
      },
    }),
    await frontDesk(),
  );
  const reminderIds: string[] = [];
  for (let i = 0; i < BATCH; i++) {
    const start = new Date(Math.ceil((Date.now() + (2 * 24 * 60 + i * 60) * 60_000) / 60_000) * 60_000);
    const booked = await callUnary(
      client,
      'bookAppointment',
      scheduling.BookAppointmentRequest.fromPartial({
        appointment: {
          clinician: 'users/doc-crash',
          patient: patient.patient!.name,
          startTime: start,
          endTime: new Date(start.getTime() + 30 * 60_000),
        },
      }),
      await frontDesk(),
    );
    await callUnary(
      client,
      'issuePatientLink',
      scheduling.IssuePatientLinkRequest.fromPartial({ appointment: booked.appointment!.name }),
      await frontDesk(),
    );
    reminderIds.push(`${booked.appointment!.name.slice('appointments/'.length)}_invitation_email`);
  }
  const inFlight = await held; // the third message's data arrived; its final reply is held
  const service = stack.service('scheduling');
  await service.signal('SIGKILL');
  const heldReminder = reminderIds.find((id) => messageIdOf(id, 'crash.test') === inFlight.mail.messageId);
  expect(heldReminder).toBeDefined();
  const before = (await store.read(reminderStream(heldReminder!))).map((e) => e.type.split('.').pop());
  expect(before).toEqual(['ReminderScheduled', 'ReminderSending']); // "sending" was recorded before SMTP
  expect(catcher.messages()).toHaveLength(2);

  await service.start();
  await until(
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
