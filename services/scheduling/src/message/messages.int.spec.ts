/**
 * Secure messaging outside visits over a real nats-server, in process: the text sealed with the patient's key
 * (never in event data, never in the log), PhiAccessed (treatment-communication) appended before a read answers
 * and no text when it cannot be, read receipts, unread counts, closing, the rate limit, refusals of a stranger
 * and an admin recorded as AccessRefused events, and a crypto-shredded patient's thread unreadable. A care team's message notifies the patient through
 * the outbox, to a real local SMTP server: the clinic's name and the link, never the text or the patient's PHI.
 */
import * as grpc from '@grpc/grpc-js';
import type { JetStreamEventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { accessRefusalStream, callUnary } from '@haven/service';
import { captureLogs, createTestIssuer } from '@haven/service/testing';
import {
  bookVisit,
  createPatient,
  eventually,
  failureOf,
  issueLink,
  startIn,
  startMailCatcher,
  type MailCatcher,
} from '@haven/testing';
import type { RunningScheduling } from '../server';
import { failingPhiAccessAppends } from '../testing';
import { newEvent } from '@haven/eventstore';
import { EmailContactEventType, emailContactStream } from '../contact/email-contact';
import { planMessageNotices, type PostedMessage } from '../notification/message-notice';
import { ReminderChannel, reminderStream } from '../notification/reminder';
import { issueMessagesLink } from './messages-link-grpc';
import { MessagesLinkEventType } from './messages-link';
import { MessageThreadEventType } from './thread';
import { catcherSmtpEnv, startSchedulingSuite, type SchedulingSuite } from '../../test/suite';

jest.setTimeout(60_000);

const staffIssuer = createTestIssuer();
const patientIssuer = createTestIssuer({ issuer: 'haven-scheduling' });
const SECRET = 'my rash spread to the elbow after the new cream';
const CARE = scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_CARE;
const SCHEDULING = scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_SCHEDULING;

let suite: SchedulingSuite;
let service: RunningScheduling;
let client: scheduling.SchedulingServiceClient;
let store: JetStreamEventStore;
const logs = captureLogs('scheduling');
let failPhiAccessAppends = false;
let catcher: MailCatcher;

beforeAll(async () => {
  catcher = await startMailCatcher();
  suite = await startSchedulingSuite({
    issuer: staffIssuer,
    patientIssuer,
    dataDirPrefix: 'haven-messages-',
    logger: logs.logger,
    wrapStore: failingPhiAccessAppends(() => failPhiAccessAppends),
    env: {
      HAVEN_CLINIC_NAME: 'Lakeside Family Practice',
      ...catcherSmtpEnv(catcher, 'Lakeside <no-reply@lakeside.test>'),
      HAVEN_REMINDER_POLL_MS: '50',
      HAVEN_PUBLIC_URL: 'https://visits.lakeside.test',
    },
  });
  ({ service, client, store } = suite);
});

afterAll(async () => {
  await suite?.stop();
  await catcher?.close();
});

const staff = (sub: string, role: string) => suite.as(sub, role);
const asPatient = (patientId: string) =>
  patientIssuer.metadata({ sub: patientId, kind: 'patient', visit: 'visits/apt-any' });

/** The front desk's client and call metadata, for @haven/testing's calls. */
const frontDesk = () => ({ client, metadata: () => staff('u-desk', 'front_desk') });

/** A patient with an appointment with `clinicianId` (so the clinician is their care team). */
async function patientOf(clinicianId: string, email = ''): Promise<string> {
  return (await patientWithAppointment(clinicianId, email)).patientId;
}

async function patientWithAppointment(
  clinicianId: string,
  email: string,
): Promise<{ patientId: string; appointmentId: string }> {
  const patient = await createPatient(frontDesk(), {
    givenName: 'Zebulon',
    familyName: 'Quixfeather',
    dateOfBirth: '1971-03-14',
    email,
  });
  const patientId = patient.slice('patients/'.length);
  const appointment = await bookVisit(frontDesk(), {
    patient,
    clinician: `users/${clinicianId}`,
    start: startIn(3 * 3_600_000 + Math.random() * 3_600_000, 1000),
    minutes: 15,
  });
  // The read model (care team) follows the store.
  for (let i = 0; i < 100 && !service.deps.readModel.clinicianSeesPatient(clinicianId, patientId); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return { patientId, appointmentId: appointment.name.slice('appointments/'.length) };
}

async function careThread(clinicianId: string, patientId: string): Promise<string> {
  const { thread } = await callUnary(
    client,
    'createMessageThread',
    scheduling.CreateMessageThreadRequest.fromPartial({
      patient: `patients/${patientId}`,
      topic: CARE,
      clinician: `users/${clinicianId}`,
    }),
    await staff(clinicianId, 'clinician'),
  );
  return thread!.name;
}

const post = async (thread: string, text: string, md: grpc.Metadata) =>
  callUnary(client, 'postSecureMessage', { parent: thread, text, requestId: '' }, md);
const read = async (thread: string, md: grpc.Metadata) =>
  callUnary(client, 'listSecureMessages', { parent: thread, pageSize: 0, pageToken: '' }, md);
const accessEvents = async (patientId: string) =>
  (await store.read(`scheduling.patient_access-${patientId}`)).filter(
    (e) => e.type === 'haven.events.v1.PhiAccessed',
  );

describe('a care thread between a patient and their clinician', () => {
  it('carries the text sealed, reads it after PhiAccessed, and keeps read receipts', async () => {
    const patientId = await patientOf('doc-care');
    const thread = await careThread('doc-care', patientId);
    const patient = await asPatient(patientId);
    const doc = await staff('doc-care', 'clinician');

    const { message } = await post(thread, SECRET, patient);
    expect(message).toMatchObject({ text: SECRET, fromPatient: true, read: false });

    // Nothing of the text in event data or the log; the envelope's phi is ciphertext.
    const events = await store.read(`scheduling.message_thread-${thread.split('/')[1]}`);
    expect(events.map((e) => e.type)).toEqual([
      'haven.scheduling.v1.MessageThreadOpened',
      'haven.scheduling.v1.SecureMessagePosted',
    ]);
    expect(JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(
      'rash',
    );
    expect(events[1]?.phi?.ciphertext).toBeTruthy();
    expect(logs.text()).not.toContain('rash');

    // The clinician's list: one unread, no text.
    const { threads } = await callUnary(
      client,
      'listMessageThreads',
      { patient: '', pageSize: 0, pageToken: '' },
      doc,
    );
    const listed = threads.find((t) => t.name === thread);
    expect(listed).toMatchObject({ unreadCount: 1, messageCount: 1, clinician: 'users/doc-care' });
    expect(JSON.stringify(threads)).not.toContain('rash');

    const before = (await accessEvents(patientId)).length;
    const r = await read(thread, doc);
    expect(r.messages.map((m) => m.text)).toEqual([SECRET]);
    const after = await accessEvents(patientId);
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)?.data).toMatchObject({
      who: { kind: 'user', id: 'doc-care' },
      what: `${thread}/messages`,
      why: 'PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION',
      outcome: 'granted',
      fields: ['text'],
    });

    // Receipt: the clinician marks read; the patient sees their message read, and the clinician's reply.
    const marked = await callUnary(client, 'markMessageThreadRead', { name: thread }, doc);
    expect(marked.thread?.unreadCount).toBe(0);
    await post(thread, 'Please send a photo; keep the cream off for now.', doc);
    const seen = await read(thread, patient);
    expect(seen.thread?.unreadCount).toBe(1);
    expect(seen.messages.map((m) => [m.fromPatient, m.read])).toEqual([
      [true, true],
      [false, false],
    ]);
    const mine = await callUnary(
      client,
      'listMessageThreads',
      { patient: '', pageSize: 0, pageToken: '' },
      patient,
    );
    expect(mine.threads.map((t) => t.name)).toEqual([thread]);
  });

  it('refuses a stranger clinician, the front desk and an admin, each recorded as AccessRefused', async () => {
    const patientId = await patientOf('doc-own');
    const thread = await careThread('doc-own', patientId);
    const since = new Date();
    for (const md of [
      await staff('doc-stranger', 'clinician'),
      await staff('u-desk', 'front_desk'),
      await staff('u-admin', 'admin'),
      await asPatient('someone-else'),
    ]) {
      expect((await failureOf(read(thread, md))).code).toBe(grpc.status.PERMISSION_DENIED);
      expect((await failureOf(post(thread, 'hello', md))).code).toBe(grpc.status.PERMISSION_DENIED);
    }
    const refusals = (await store.read(accessRefusalStream('scheduling', since))).filter((e) =>
      String(e.data['method']).endsWith('SecureMessages'),
    );
    expect(refusals.length).toBeGreaterThanOrEqual(4);
    expect(refusals.map((e) => [e.data['principalId'], e.data['code']])).toEqual(
      expect.arrayContaining([
        ['doc-stranger', expect.any(String)],
        ['u-admin', 'POLICY_DENIED'],
        ['someone-else', expect.any(String)],
      ]),
    );
    // A patient cannot open a care thread with a clinician who never saw them.
    const opened = callUnary(
      client,
      'createMessageThread',
      scheduling.CreateMessageThreadRequest.fromPartial({ topic: CARE, clinician: 'users/doc-stranger' }),
      await asPatient(patientId),
    );
    expect((await failureOf(opened)).code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('returns no text when the read cannot be recorded', async () => {
    const patientId = await patientOf('doc-fault');
    const thread = await careThread('doc-fault', patientId);
    await post(thread, SECRET, await asPatient(patientId));
    failPhiAccessAppends = true;
    try {
      const failure = await failureOf(read(thread, await staff('doc-fault', 'clinician')));
      expect(failure.code).toBe(grpc.status.UNAVAILABLE);
      expect(JSON.stringify(failure)).not.toContain('rash');
    } finally {
      failPhiAccessAppends = false;
    }
  });

  it('makes a crypto-shredded patient’s thread unreadable and closed to new messages', async () => {
    const patientId = await patientOf('doc-shred');
    const thread = await careThread('doc-shred', patientId);
    await post(thread, SECRET, await asPatient(patientId));
    await service.deps.keys.destroy(patientId);
    const doc = await staff('doc-shred', 'clinician');
    const failure = await failureOf(read(thread, doc));
    expect(failure.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(failure.details).toMatch(/erased/);
    expect((await failureOf(post(thread, 'are you there?', doc))).code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});

describe('limits and closing', () => {
  it('refuses oversized text, a burst over the rate limit, and posts after closing', async () => {
    const patientId = await patientOf('doc-limit');
    const patient = await asPatient(patientId);
    const { thread } = await callUnary(
      client,
      'createMessageThread',
      scheduling.CreateMessageThreadRequest.fromPartial({ topic: SCHEDULING }),
      patient,
    );
    const name = thread!.name;
    expect((await failureOf(post(name, 'x'.repeat(4001), patient))).code).toBe(grpc.status.INVALID_ARGUMENT);
    for (let i = 0; i < 10; i++) await post(name, `question ${i}`, patient);
    expect((await failureOf(post(name, 'one more', patient))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // The front desk answers and closes; the patient may not close, and nobody posts afterwards.
    const desk = await staff('u-desk', 'front_desk');
    await post(name, 'Your appointment moved to Tuesday.', desk);
    expect((await failureOf(callUnary(client, 'closeMessageThread', { name }, patient))).code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    const closed = await callUnary(client, 'closeMessageThread', { name }, desk);
    expect(closed.thread?.state).toBe(scheduling.MessageThreadState.MESSAGE_THREAD_STATE_CLOSED);
    expect((await failureOf(post(name, 'thanks', desk))).code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});

describe('paging a thread', () => {
  it('pages its messages (0–500) with a token of that thread only', async () => {
    const patient = await asPatient(await patientOf('doc-pages'));
    const thread = async () =>
      (
        await callUnary(
          client,
          'createMessageThread',
          scheduling.CreateMessageThreadRequest.fromPartial({ topic: SCHEDULING }),
          patient,
        )
      ).thread!.name;
    const name = await thread();
    for (const text of ['first', 'second', 'third']) await post(name, text, patient);
    const page = (parent: string, pageSize: number, pageToken = '') =>
      callUnary(client, 'listSecureMessages', { parent, pageSize, pageToken }, patient);
    const first = await page(name, 2);
    expect(first.messages.map((m) => m.text)).toEqual(['first', 'second']);
    const second = await page(name, 2, first.nextPageToken);
    expect(second.messages.map((m) => m.text)).toEqual(['third']);
    expect(second.nextPageToken).toBe('');
    const tooMany = await failureOf(page(name, 501));
    expect([tooMany.code, tooMany.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringMatching(/page_size/),
    ]);
    const elsewhere = await failureOf(page(await thread(), 2, first.nextPageToken));
    expect([elsewhere.code, elsewhere.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringMatching(/page_token/),
    ]);
  });
});

describe('the notice of a new message', () => {
  it('sends the patient the clinic’s name and the link once, never the text or their PHI', async () => {
    const { patientId, appointmentId } = await patientWithAppointment('doc-notice', 'zeb@patient.test');
    const link = await issueLink(frontDesk(), `appointments/${appointmentId}`);
    const thread = await careThread('doc-notice', patientId);
    // The patient's own message notifies nobody by e-mail.
    await post(thread, 'a question from me', await asPatient(patientId));
    await post(thread, SECRET, await staff('doc-notice', 'clinician'));
    const notices = () =>
      catcher.messages().filter((m) => m.to.includes('zeb@patient.test') && /new message/.test(m.subject));
    await eventually('the notice', () => notices().length === 1);
    const [mail] = notices();
    expect(mail?.subject).toBe('You have a new message from Lakeside Family Practice');
    // A messages link of its own, never the visit's link; it signs in with the visit's passcode.
    const token = /https:\/\/visits\.lakeside\.test\/messages#([A-Za-z0-9_-]{43})/.exec(
      mail?.text ?? '',
    )?.[1];
    expect(token).toBeDefined();
    expect(mail?.raw).not.toContain(link.token);
    const signedIn = await callUnary(
      client,
      'redeemPatientLink',
      scheduling.RedeemPatientLinkRequest.fromPartial({
        token: token ?? '',
        passcode: link.passcode,
        forMessages: true,
      }),
      new grpc.Metadata(),
    );
    expect(signedIn.patient).toBe(`patients/${patientId}`);
    for (const canary of ['rash', 'question', 'Zebulon', 'Quixfeather', '1971', 'doc-notice']) {
      expect(mail?.raw).not.toContain(canary);
    }
    // Reading the address to send was recorded as PhiAccessed (treatment-communication).
    const access = await accessEvents(patientId);
    expect(
      access.some(
        (e) =>
          e.data['method'] === 'scheduling.notifications/SendReminder' &&
          e.data['why'] === 'PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION',
      ),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(notices()).toHaveLength(1);
  });
});

describe('the notice of a new message to a patient who unsubscribed', () => {
  /** Every MessagesLinkIssued of `patientId` in the whole store. */
  const messagesLinksOf = async (patientId: string) => {
    const found: unknown[] = [];
    for (let position = 1n; ;) {
      const { items, end } = await store.inspection().readFrom(position, 500);
      for (const item of items) {
        const e = item.event;
        if (e?.type === MessagesLinkEventType.Issued && e.data['patientId'] === patientId) found.push(e);
      }
      if (end || items.length === 0) return found;
      position = items.at(-1)!.position + 1n;
    }
  };

  it('is suppressed as opted out, sends nothing and issues no messages link', async () => {
    const email = 'optedout@patient.test';
    const { patientId, appointmentId } = await patientWithAppointment('doc-optout', email);
    await issueLink(frontDesk(), `appointments/${appointmentId}`);
    // The invitation carries the one-click unsubscribe token; the patient uses it (as the route records it).
    await eventually('the invitation', () => catcher.messages().some((m) => m.to.includes(email)));
    const invitation = catcher.messages().find((m) => m.to.includes(email))!;
    const unsubscribe = /\/email\/unsubscribe\?t=([0-9a-f]{40})\.[A-Za-z0-9_-]{32}/.exec(invitation.text);
    expect(unsubscribe).not.toBeNull();
    const contactKey = unsubscribe![1]!;
    await store.append(emailContactStream(contactKey), 'no_stream', [
      newEvent({
        type: EmailContactEventType.OptedOut,
        data: { contactKey, via: 'one-click', at: new Date().toISOString() },
        actor: { kind: 'anonymous', id: 'email-unsubscribe' },
      }),
    ]);
    const thread = await careThread('doc-optout', patientId);
    const posted = await post(thread, SECRET, await staff('doc-optout', 'clinician'));
    const postedEvent = (await store.read(`scheduling.message_thread-${thread.split('/')[1]}`)).find(
      (e) => e.type === MessageThreadEventType.Posted,
    );
    expect(posted.message).toBeDefined();
    const [plan] = planMessageNotices(
      postedEvent!.data as unknown as PostedMessage,
      patientId,
      [ReminderChannel.Email],
      () => false,
    );
    let last: Awaited<ReturnType<typeof store.read>>[number] | undefined;
    await eventually('the notice decided', async () => {
      last = (await store.read(reminderStream(plan!.reminderId))).at(-1);
      return last?.type === 'haven.scheduling.v1.ReminderSuppressed';
    });
    expect(last?.data).toMatchObject({ reason: 'opted_out' });
    // The operator's log says why (a code, not PHI: the `reason` key is redacted everywhere).
    expect(logs.records('reminder suppressed', { reminderId: plan!.reminderId })).toEqual([
      expect.objectContaining({ reasonCode: 'opted_out' }),
    ]);
    expect(catcher.messages().filter((m) => m.to.includes(email) && /new message/.test(m.subject))).toEqual(
      [],
    );
    expect(await messagesLinksOf(patientId)).toEqual([]);
  });
});

describe('the messages link of a notice (its own token)', () => {
  const metadata = {
    actor: { kind: 'service', id: 'scheduling' } as const,
    correlationId: 'messages-link-spec',
  };
  const redeem = (token: string, passcode: string, forMessages: boolean) =>
    callUnary(
      client,
      'redeemPatientLink',
      scheduling.RedeemPatientLinkRequest.fromPartial({ token, passcode, forMessages }),
      new grpc.Metadata(),
    );
  const claims = (jwt: string) =>
    JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  let patientId: string;
  let passcode: string;
  let visitToken: string;

  beforeAll(async () => {
    ({ patientId } = await patientWithAppointment('doc-link', ''));
    const appointmentId = [...service.deps.readModel.appointments()].find(
      (a) => a.patientId === patientId,
    )!.appointmentId;
    const issued = await callUnary(
      client,
      'issuePatientLink',
      { appointment: `appointments/${appointmentId}`, requireDateOfBirth: false },
      await staff('u-desk', 'front_desk'),
    );
    passcode = issued.passcode;
    visitToken = issued.token;
    for (let i = 0; i < 100 && ![...service.deps.readModel.appointments()].some((a) => a.link); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('signs in to the patient’s messages with the visit passcode, and is no visit’s link', async () => {
    const token = await issueMessagesLink(service.deps, patientId, metadata);
    expect(token).toBeDefined();
    expect(token).not.toBe(visitToken);
    const r = await redeem(token!, passcode, true);
    expect(claims(r.accessToken)).toMatchObject({ sub: patientId, kind: 'patient' });
    expect(String(claims(r.accessToken)['visit'])).toMatch(/^messages\//);
    expect(r.appointment).toBe('');
    expect(r.expireTime!.getTime() - Date.now()).toBeLessThanOrEqual(30 * 60_000);
    // Not a visit's link: the join door does not know it.
    expect((await failureOf(redeem(token!, passcode, false))).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('stops working when it expires', async () => {
    const past = new Date(Date.now() - 8 * 24 * 3_600_000);
    const token = await issueMessagesLink({ ...service.deps, clock: () => past }, patientId, metadata);
    const failure = await failureOf(redeem(token!, passcode, true));
    expect(failure.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(failure.details).toMatch(/expired/);
  });

  it('locks after five wrong passcodes, by the patient link’s policy, and only itself', async () => {
    const since = new Date();
    const token = (await issueMessagesLink(service.deps, patientId, metadata))!;
    for (let left = 4; left >= 1; left--) {
      const failure = await failureOf(redeem(token, '000000', true));
      expect(failure.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(failure.details).toContain(`${left} attempt${left === 1 ? '' : 's'} left`);
    }
    const locked = await failureOf(redeem(token, '000000', true));
    expect(locked.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(locked.details).toMatch(/locked/);
    // Locked even for the right passcode; the visit's own link is not.
    const still = await failureOf(redeem(token, passcode, true));
    expect(still.details).toMatch(/locked until/);
    expect((await redeem(visitToken, passcode, true)).accessToken).toBeTruthy();
    // Each refusal is an AccessRefused event naming the messages link.
    await eventually('the refusals', async () => {
      const codes = (await store.read(accessRefusalStream('scheduling', since)))
        .filter((e) => String(e.data['target']).startsWith('messagesLinks/'))
        .map((e) => e.data['code']);
      return ['WRONG_PASSCODE', 'LINK_LOCKED', 'LINK_NOT_USABLE'].every((c) => codes.includes(c));
    });
  });
});
