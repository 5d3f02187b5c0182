/**
 * The reminder outbox over a real nats-server and a real local SMTP server (smtp-server + mailparser): book
 * with canary PHI → exactly one invitation, with the clinic, time, clinician and join link and no canary in any
 * header, subject or body; PhiAccessed (treatment-communication) before the message leaves; a 4xx is retried
 * with back-off, a 5xx is a final failure, an unreachable relay loses nothing; a cancellation is announced and
 * stops the reminders. The service's log carries no canary either.
 */
import * as grpc from '@grpc/grpc-js';
import type { JetStreamEventStore } from '@haven/eventstore';
import { newEventId, type PositionedEvent } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, parseStatusDetails } from '@haven/service';
import { captureLogs, createTestIssuer } from '@haven/service/testing';
import { passesEventually, type MailCatcher } from '@haven/testing';
import {
  bookVisit,
  createPatient,
  issueLink,
  startIn,
  startNotifyingSuite,
  type NotifyingSuite,
  type SmsGatewayStandIn,
} from '../../test/suite';
import { messageIdOf, reminderStream } from './reminder';

jest.setTimeout(60_000);

const issuer = createTestIssuer();
const CANARY = {
  givenName: 'Canaryzebulon',
  familyName: 'Quixcanary',
  dateOfBirth: '1961-07-23',
  email: 'canary.patient@example.test',
  phone: '+15557654321',
  medicalRecordNumber: 'MRN-CANARY-99871',
};
const REASON = 'canary diagnosis: recurrent vertigo';
const CANARIES = [...Object.values(CANARY), REASON, '07/23/1961', '23.07.1961'];

let suite: NotifyingSuite;
let catcher: MailCatcher;
let sms: SmsGatewayStandIn;
let client: scheduling.SchedulingServiceClient;
let store: JetStreamEventStore;
const logs = captureLogs('scheduling');
const SMS_TOKEN = 'outbox-sms-gateway-token-0123';

const frontDesk = () => suite.as('u-desk', 'front_desk');

beforeAll(async () => {
  suite = await startNotifyingSuite({
    issuer,
    dataDirPrefix: 'haven-outbox-',
    logger: logs.logger,
    mailFrom: 'Lakeside <no-reply@lakeside.test>',
    smsToken: SMS_TOKEN,
    env: {
      HAVEN_CLINIC_TIME_ZONE: 'Europe/Berlin',
      HAVEN_CLINIC_NAME: 'Lakeside Family Practice',
      HAVEN_REMINDER_POLL_MS: '50',
      HAVEN_REMINDER_RETRY_MS: '200',
      HAVEN_REMINDER_MAX_ATTEMPTS: '3',
      HAVEN_PUBLIC_URL: 'https://visits.lakeside.test',
    },
  });
  ({ client, store, catcher, sms } = suite);
  // The clinician's display name lives in the identity context (staff data, not PHI).
  await store.append('identity.user-doc-canary', 'no_stream', [
    {
      id: newEventId(),
      type: 'haven.identity.v1.UserInvited',
      occurredAt: new Date().toISOString(),
      actor: { kind: 'service', id: 'identity' },
      correlationId: 'c',
      causationId: 'c',
      data: { userId: 'doc-canary', displayName: 'Dr. Amara Okafor', role: 'clinician' },
    },
  ]);
});

afterAll(async () => suite?.stop());

let slotMinutes = 3 * 24 * 60;
async function bookWithLink(options: { link?: boolean; traceparent?: string } = {}) {
  const desk = { client, metadata: frontDesk };
  const patient = await createPatient(desk, CANARY);
  slotMinutes += 60;
  const start = startIn(slotMinutes * 60_000);
  const booking = { client, metadata: async () => withTrace(await frontDesk(), options.traceparent) };
  const booked = await bookVisit(booking, { patient, clinician: 'users/doc-canary', reason: REASON, start });
  const appointmentId = booked.name.slice('appointments/'.length);
  const patientId = patient.slice('patients/'.length);
  const link = options.link === false ? undefined : await issueLink(desk, booked.name);
  return { appointmentId, patientId, start, link, invitation: `${appointmentId}_invitation_email` };
}

const eventsOf = (reminderId: string) => store.read(reminderStream(reminderId));

/** `metadata` with a W3C traceparent header when one is given. */
function withTrace(metadata: grpc.Metadata, traceparent: string | undefined): grpc.Metadata {
  if (traceparent !== undefined) metadata.set('traceparent', traceparent);
  return metadata;
}

/** Waits until the relay accepted the reminder once and its stream ends with ReminderSent. */
async function sentOnce(reminderId: string): Promise<string> {
  const id = messageIdOf(reminderId, 'lakeside.test');
  await passesEventually(
    async () => {
      expect(catcher.countOf(id)).toBe(1);
      expect((await eventsOf(reminderId)).at(-1)?.type).toBe('haven.scheduling.v1.ReminderSent');
    },
    { timeoutMs: 20_000 },
  );
  return id;
}
const typesOf = (events: readonly PositionedEvent[]) => events.map((e) => e.type.split('.').pop());

describe('an invitation', () => {
  let booked: Awaited<ReturnType<typeof bookWithLink>>;
  beforeAll(async () => {
    booked = await bookWithLink();
  });

  it('arrives exactly once, with only the allowed content', async () => {
    const id = await sentOnce(booked.invitation);
    await new Promise((r) => setTimeout(r, 500)); // more sender rounds: still one
    expect(catcher.countOf(id)).toBe(1);
    const mail = catcher.messages().find((m) => m.messageId === id)!;
    expect(mail.to).toEqual([CANARY.email]);
    expect(mail.subject).toBe('Your video visit with Lakeside Family Practice');
    expect(mail.text).toContain('Dr. Amara Okafor');
    expect(mail.text).toContain(`https://visits.lakeside.test/join#${booked.link!.token}`);
    // A span over midnight names both ends in full, so only the zone and its offset are fixed here.
    expect(mail.text).toContain('Europe/Berlin');
    expect(mail.text).toContain('UTC+01:00');
    expect(mail.text).not.toContain(booked.link!.passcode);
    // An e-mail's opt-out line is its one-click unsubscribe link (RFC 8058; email-unsubscribe.int.spec.ts).
    expect(mail.text).toMatch(
      /To stop these e-mails, open https:\/\/visits\.lakeside\.test\/email\/unsubscribe\?t=/,
    );
  });

  it('carries no canary PHI in any header, subject or body, and neither do the events or the log', async () => {
    const everything = catcher
      .messages()
      .map((m) => m.raw)
      .join('\n');
    const events = (await eventsOf(booked.invitation)).map((e) => JSON.stringify(e.data)).join('\n');
    for (const canary of CANARIES) {
      expect(
        everything.replaceAll(`To: ${CANARY.email}`, '').replaceAll(`<${CANARY.email}>`, ''),
      ).not.toContain(canary);
      expect(events).not.toContain(canary);
      expect(logs.text()).not.toContain(canary);
    }
    // The recipient address appears only as the envelope/To of the message itself.
    expect(everything.match(new RegExp(CANARY.email.replace('.', '\\.'), 'g'))?.length).toBe(
      catcher.messages().filter((m) => m.to.includes(CANARY.email)).length,
    );
  });

  it('goes by SMS too, exactly once, with the link and no canary PHI in the text', async () => {
    const key = messageIdOf(`${booked.appointmentId}_invitation_sms`, 'lakeside.test');
    await passesEventually(() => expect(sms.sent.filter((b) => b.idempotencyKey === key)).toHaveLength(1), {
      timeoutMs: 20_000,
    });
    const text = sms.sent.find((b) => b.idempotencyKey === key)!;
    expect(text.to).toBe(CANARY.phone);
    expect(text.text).toContain(`https://visits.lakeside.test/join#${booked.link!.token}`);
    expect(text.text).toContain('Lakeside Family Practice');
    for (const canary of CANARIES) expect(text.text).not.toContain(canary);
  });

  it('is preceded by PhiAccessed with purpose treatment-communication', async () => {
    const reminder = await eventsOf(booked.invitation);
    expect(typesOf(reminder)).toEqual(['ReminderScheduled', 'ReminderSending', 'ReminderSent']);
    const access = (await store.read(`scheduling.patient_access-${booked.patientId}`)).filter(
      (e) =>
        e.data['why'] === 'PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION' &&
        (e.data['fields'] as string[]).includes('email'),
    );
    // One event per patient for the contact reads of a batch (the e-mail and the SMS of one booking go together).
    expect(access).toHaveLength(1);
    expect(access[0]!.data['fields']).toContain('email');
    expect(access[0]!.data).toMatchObject({
      outcome: 'granted',
      who: { kind: 'service', id: 'scheduling' },
    });
    expect(access[0]!.position).toBeLessThan(reminder[2]!.position);
    expect(access[0]!.position).toBeGreaterThan(reminder[1]!.position);
  });

  it('is planned in the booking’s trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traced = await bookWithLink({ link: false, traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const bookedEvent = (await store.read(`scheduling.appointment-${traced.appointmentId}`))[0]!;
    expect(bookedEvent.traceparent?.split('-')[1]).toBe(traceId);
    await passesEventually(async () =>
      expect((await eventsOf(traced.invitation))[0]?.traceparent).toBe(bookedEvent.traceparent),
    );
  });

  it('plans the reminders at 24 h and 1 h before the start', async () => {
    const start = Math.floor(booked.start.getTime() / 60_000);
    for (const offset of [1440, 60]) {
      const events = await eventsOf(`${booked.appointmentId}_reminder${offset}_${start}_email`);
      expect(events[0]?.data).toMatchObject({
        kind: 'reminder',
        dueAt: new Date(booked.start.getTime() - offset * 60_000).toISOString(),
      });
    }
  });
});

describe('front-desk passcodes', () => {
  it('wait to send the invitation until the front desk issued the link', async () => {
    const booked = await bookWithLink({ link: false });
    await passesEventually(async () =>
      expect(typesOf(await eventsOf(booked.invitation))).toEqual(['ReminderScheduled']),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(typesOf(await eventsOf(booked.invitation))).toEqual(['ReminderScheduled']);
    const link = await issueLink({ client, metadata: frontDesk }, `appointments/${booked.appointmentId}`);
    const id = messageIdOf(booked.invitation, 'lakeside.test');
    await passesEventually(() => expect(catcher.countOf(id)).toBe(1), { timeoutMs: 20_000 });
    expect(catcher.messages().find((m) => m.messageId === id)?.text).toContain(link.token);
  });
});

describe('when the relay refuses', () => {
  afterEach(() => catcher.setFault(undefined));

  it('retries a 4xx with back-off and then sends once', async () => {
    let refusals = 0;
    catcher.setFault(() => (refusals++ < 1 ? { code: 451, message: 'Try again later' } : undefined));
    const booked = await bookWithLink();
    await sentOnce(booked.invitation);
    const events = await eventsOf(booked.invitation);
    expect(typesOf(events)).toEqual([
      'ReminderScheduled',
      'ReminderSending',
      'ReminderFailed',
      'ReminderSending',
      'ReminderSent',
    ]);
    expect(events[2]!.data).toMatchObject({ reason: 'smtp_4xx', retrying: true, attempt: 1 });
    expect(Date.parse(events[3]!.occurredAt)).toBeGreaterThanOrEqual(
      Date.parse(String(events[2]!.data['nextAttemptAt'])),
    );
  });

  it('records a 5xx as a final failure and sends nothing', async () => {
    catcher.setFault(() => ({ code: 550, message: 'No such user' }));
    const booked = await bookWithLink();
    await passesEventually(async () =>
      expect(typesOf(await eventsOf(booked.invitation))).toEqual([
        'ReminderScheduled',
        'ReminderSending',
        'ReminderFailed',
      ]),
    );
    const failed = (await eventsOf(booked.invitation))[2]!;
    expect(failed.data).toMatchObject({ reason: 'smtp_5xx', retrying: false });
    expect(catcher.countOf(messageIdOf(booked.invitation, 'lakeside.test'))).toBe(0);
    // The operator's log says why (a code, not PHI: the `reason` key is redacted everywhere).
    expect(logs.records('reminder not accepted', { reminderId: booked.invitation })).toEqual([
      expect.objectContaining({ reasonCode: 'smtp_5xx', retryable: false }),
    ]);
  });
});

describe('a cancellation', () => {
  it('is announced once, and the reminders of that appointment are not sent', async () => {
    const booked = await bookWithLink();
    await passesEventually(
      () => expect(catcher.countOf(messageIdOf(booked.invitation, 'lakeside.test'))).toBe(1),
      {
        timeoutMs: 20_000,
      },
    );
    await callUnary(
      client,
      'cancelAppointment',
      scheduling.CancelAppointmentRequest.fromPartial({
        name: `appointments/${booked.appointmentId}`,
        reason: scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST,
      }),
      await frontDesk(),
    );
    const notice = messageIdOf(`${booked.appointmentId}_cancelled_email`, 'lakeside.test');
    await passesEventually(() => expect(catcher.countOf(notice)).toBe(1), { timeoutMs: 20_000 });
    const mail = catcher.messages().find((m) => m.messageId === notice)!;
    expect(mail.subject).toMatch(/cancelled/);
    expect(mail.text).not.toContain('join#');
  });
});

describe('templates an admin saves', () => {
  const admin = () => suite.as('u-admin', 'admin');
  const invitation = (over: Partial<scheduling.MessageTemplate> = {}) =>
    scheduling.MessageTemplate.fromPartial({
      kind: scheduling.MessageKind.MESSAGE_KIND_INVITATION,
      subject: 'See you soon at {{clinic_name}}',
      body: 'Your visit with {{clinician_name}}: {{start_time}}. {{join_link}} {{passcode_note}} {{opt_out}}',
      sms: '{{clinic_name}} {{start_time}} {{join_link}} {{opt_out}}',
      ...over,
    });

  it('are refused with one violation per problem, naming the request field, and nothing is saved', async () => {
    const error = await callUnary(
      client,
      'updateMessageTemplateSet',
      scheduling.UpdateMessageTemplateSetRequest.fromPartial({
        messageTemplateSet: {
          name: 'messageTemplateSets/en',
          templates: [invitation({ body: 'Dear patient, about {{reason}}: {{constructor}} {{opt_out}}' })],
        },
      }),
      await admin(),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const details = parseStatusDetails(error as grpc.ServiceError);
    const fields = details.fieldViolations.map((v) => `${v.field}: ${v.description}`);
    expect(fields.join('\n')).toMatch(/message_template_set\.templates\[0\]\.body: names the field "reason"/);
    expect(fields.join('\n')).toMatch(
      /message_template_set\.templates\[0\]\.body: \{\{constructor\}\} is template injection/,
    );
    expect(await store.read('scheduling.message_templates-en')).toEqual([]);
  });

  it('are refused to a front desk user (admin only)', async () => {
    const error = await callUnary(
      client,
      'previewMessageTemplate',
      scheduling.PreviewMessageTemplateRequest.fromPartial({ template: invitation() }),
      await frontDesk(),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('preview with example values', async () => {
    const preview = await callUnary(
      client,
      'previewMessageTemplate',
      scheduling.PreviewMessageTemplateRequest.fromPartial({ template: invitation() }),
      await admin(),
    );
    expect(preview.subject).toBe('See you soon at Lakeside Family Practice');
    expect(preview.body).toMatch(
      /Dr\. Example: .*Europe\/Berlin.*https:\/\/visits\.lakeside\.test\/join#example-link-token/,
    );
  });

  it('are used for the next invitation once saved', async () => {
    const saved = await callUnary(
      client,
      'updateMessageTemplateSet',
      scheduling.UpdateMessageTemplateSetRequest.fromPartial({
        messageTemplateSet: { name: 'messageTemplateSets/en', templates: [invitation()] },
      }),
      await admin(),
    );
    expect(saved.messageTemplateSet?.templates).toHaveLength(1);
    const got = await callUnary(
      client,
      'getMessageTemplateSet',
      scheduling.GetMessageTemplateSetRequest.fromPartial({ name: 'messageTemplateSets/en' }),
      await admin(),
    );
    expect(got.messageTemplateSet?.templates[0]?.subject).toBe('See you soon at {{clinic_name}}');
    const booked = await bookWithLink();
    const id = messageIdOf(booked.invitation, 'lakeside.test');
    await passesEventually(() => expect(catcher.countOf(id)).toBe(1), { timeoutMs: 20_000 });
    expect(catcher.messages().find((m) => m.messageId === id)?.subject).toBe(
      'See you soon at Lakeside Family Practice',
    );
  });
});
