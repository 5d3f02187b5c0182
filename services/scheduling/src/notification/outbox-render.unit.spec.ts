/**
 * What the outbox puts into a message, over an in-memory store and key store and a capturing transport per
 * channel: the reminder by the passcode's channel (no link), and the passcode message.
 */
import { InMemoryPatientKeyStore } from '@haven/crypto/testing';
import { InMemoryEventStore } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import type { NotificationSettings } from './outbox';
import { ReminderChannel, ReminderKind, type PasscodeDelivery } from './reminder';
import {
  CapturingTransport,
  givenBookingWithLink,
  givenDueReminder,
  givenRegisteredPatient,
  testOutbox,
} from '../testing';

const PASSCODE = '48213957';
const TOKEN = 'tok-render-0123456789abcdefghijklmnopqrstu';

async function given(options: { delivery: PasscodeDelivery; settings?: Partial<NotificationSettings> }) {
  const store = new InMemoryEventStore();
  const keys = new InMemoryPatientKeyStore();
  const patientId = 'pat-render';
  await givenRegisteredPatient(store, keys, patientId, {
    givenName: 'Canary',
    familyName: 'Patient',
    email: 'render@example.test',
    phone: '+15550100200',
  });
  const appointmentId = 'appt-render';
  const startTime = new Date(Date.now() + 2 * 86_400_000).toISOString();
  const endTime = new Date(Date.parse(startTime) + 1_800_000).toISOString();
  await givenBookingWithLink(store, keys, {
    appointmentId,
    patientId,
    clinicianId: 'doc-render',
    startTime,
    endTime,
    linkId: 'link-1',
    linkToken: TOKEN,
    passcode: PASSCODE,
  });
  const transports = [
    new CapturingTransport(ReminderChannel.Email),
    new CapturingTransport(ReminderChannel.Sms),
  ];
  const outbox = testOutbox(
    { store, keys, logger: createLogger({ service: 'test', level: 'silent' }) },
    transports,
    { domain: 'render.test', clinicName: 'Render Clinic' },
    {
      passcodeDelivery: options.delivery,
      policy: { channels: [ReminderChannel.Email, ReminderChannel.Sms] },
      ...options.settings,
    },
  );
  /** Schedules one message of `kind` by `channel`, due now, sends it and returns what the transport got. */
  const send = async (kind: ReminderKind, channel: ReminderChannel) => {
    const plan = {
      appointmentId,
      patientId,
      clinicianId: 'doc-render',
      kind,
      channel,
      startTime,
      ...(kind === ReminderKind.Reminder ? { offsetMinutes: 60 } : {}),
      ...(kind === ReminderKind.Passcode ? { linkId: 'link-1' } : {}),
    };
    const reminderId = await givenDueReminder(store, plan);
    await outbox.sendOne(reminderId);
    const transport = transports.find((t) => t.channel === channel)!;
    const message = transport.sent.at(-1);
    if (!message) throw new Error(`nothing was sent by ${channel}`);
    return message;
  };
  return { send, outbox };
}

describe('a reminder by the passcode channel (HAVEN_PASSCODE_DELIVERY=email)', () => {
  it('says where the link went, without a "Join here:" that leads nowhere', async () => {
    const { send } = await given({ delivery: 'email' });
    const mail = await send(ReminderKind.Reminder, ReminderChannel.Email);
    expect(mail.text).toContain('Your join link came by text message.');
    expect(mail.text).not.toMatch(/Join here:\s*Your join link/);
    expect(mail.text).not.toContain('Join here:');
    expect(mail.text).not.toContain(TOKEN);
    expect(mail.text).not.toContain(PASSCODE);
  });

  it('still carries the link in the reminder by the other channel', async () => {
    const { send } = await given({ delivery: 'email' });
    const sms = await send(ReminderKind.Reminder, ReminderChannel.Sms);
    expect(sms.text).toContain(`https://visits.render.test/join#${TOKEN}`);
    expect(sms.text).not.toContain(PASSCODE);
  });
});

describe('the passcode message (HAVEN_PASSCODE_DELIVERY=email)', () => {
  it('is rendered from the clinic saved passcode template', async () => {
    const { send } = await given({
      delivery: 'email',
      settings: {
        templates: [
          {
            kind: ReminderKind.Passcode,
            language: 'en',
            subject: 'Passcode from {{clinic_name}}',
            body: 'Code for {{start_time}}: {{passcode}}\nThe link came by text.\n{{opt_out}}',
            sms: '{{passcode}} {{opt_out}}',
          },
        ],
      },
    });
    const mail = await send(ReminderKind.Passcode, ReminderChannel.Email);
    expect(mail.subject).toBe('Passcode from Render Clinic');
    expect(mail.text).toContain(`: ${PASSCODE}\nThe link came by text.`);
    expect(mail.text).not.toContain(TOKEN);
  });
});
