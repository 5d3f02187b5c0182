/**
 * The one-click e-mail unsubscribe (RFC 8058) end to end, over the real services, a real local SMTP server and
 * the gateway: every e-mail carries `List-Unsubscribe` (the clinic's public address, a token that names no
 * address) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and the link in its text; a GET of the link
 * changes nothing; the one-click POST through the gateway, with no session and no CSRF cookie, records
 * EmailContactOptedOut; later invitations and reminders to that address are ReminderSuppressed (opted_out),
 * while the essential notices (a cancellation) still go. A forged or altered token changes nothing.
 */
import type { JetStreamEventStore } from '@haven/eventstore';
import {
  catcherSmtpEnv,
  eventually,
  startMailCatcher,
  type CaughtMail,
  type MailCatcher,
} from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { startStack, type TestStack } from '../test/stack';

jest.setTimeout(120_000);

const EMAIL = 'Opt.Out@Example.test';
let catcher: MailCatcher;
let stack: TestStack;
let desk: CookieJar;
let clinicianId: string;
let store: JetStreamEventStore;

beforeAll(async () => {
  catcher = await startMailCatcher();
  stack = await startStack({
    schedulingEnv: {
      ...catcherSmtpEnv(catcher, 'Clinic <no-reply@unsubscribe.test>'),
      HAVEN_REMINDER_POLL_MS: '50',
      HAVEN_REMINDER_OFFSETS: '',
    },
  });
  await stack.createUser('desk@unsub.test', 'front_desk', 'Front Desk');
  clinicianId = await stack.createUser('doc@unsub.test', 'clinician', 'Dr Una Sub');
  desk = await stack.signIn('desk@unsub.test');
  store = await stack.openStore('unsubscribe-test');
});

afterAll(async () => {
  await stack?.stop();
  await catcher?.close();
});

let hour = 30;
/** Books a visit for the patient and issues its link (the invitation waits for the link). */
async function bookWithLink(patientId: string): Promise<string> {
  const start = new Date(Math.ceil((Date.now() + hour++ * 3_600_000) / 3_600_000) * 3_600_000);
  const booked = await desk.post(`${stack.url}/api/appointments`, {
    clinicianId,
    patientId,
    startTime: start.toISOString(),
    endTime: new Date(start.getTime() + 30 * 60_000).toISOString(),
  });
  expect(booked.status).toBe(201);
  const { name } = ((await booked.json()) as { appointment: { name: string } }).appointment;
  const id = name.slice('appointments/'.length);
  expect((await desk.post(`${stack.url}/api/appointments/${id}/link`, {})).status).toBeLessThan(300);
  return id;
}

const mailAbout = (appointmentId: string, kind: string) =>
  eventually(`the ${kind} of ${appointmentId}`, () =>
    catcher.messages().find((m) => m.messageId.includes(`${appointmentId}_${kind}_email`)),
  );

const header = (mail: CaughtMail, name: string) =>
  new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im')
    .exec(mail.raw)?.[1]
    ?.replace(/\r?\n[ \t]+/g, ' ');

const reminderEvents = async (id: string) =>
  (await store.read(`scheduling.reminder-${id}`)).map((e) => e.type);

it('unsubscribes in one click through the gateway, and only the essential e-mails follow', async () => {
  const patient = await desk.post(`${stack.url}/api/patients`, {
    name: 'Canary Optout',
    dateOfBirth: '1971-07-07',
    email: EMAIL,
  });
  expect(patient.status).toBe(201);
  const patientId = ((await patient.json()) as { patient: { id: string } }).patient.id;
  const first = await bookWithLink(patientId);
  const invitation = await mailAbout(first, 'invitation');

  // The headers of RFC 8058, on the clinic's public address, and the same link in the text.
  const list = header(invitation, 'List-Unsubscribe') ?? '';
  const url = /<(https?:\/\/[^>]+)>/.exec(list)?.[1] ?? '';
  expect(url.startsWith(`${stack.url}/email/unsubscribe?t=`)).toBe(true);
  expect(header(invitation, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
  expect(invitation.text).toContain(url);
  // The token names no address and nothing about the patient.
  for (const secret of [EMAIL, EMAIL.toLowerCase(), 'opt.out', 'Canary', 'Optout', patientId]) {
    expect(url.toLowerCase()).not.toContain(secret.toLowerCase());
  }

  // A GET (a mail scanner following the link) shows a page and changes nothing.
  const page = await fetch(url);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<form method="post"');
  const token = new URL(url).searchParams.get('t')!;
  const contactStream = `scheduling.email_contact-${token.split('.')[0]}`;
  expect(await store.read(contactStream)).toHaveLength(0);

  // Forged and altered tokens are refused and record nothing.
  const forged = `${'0'.repeat(40)}.${'A'.repeat(32)}`;
  const altered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  for (const bad of [forged, altered, '', 'x']) {
    const refused = await fetch(`${stack.url}/email/unsubscribe?t=${encodeURIComponent(bad)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(refused.status).toBe(404);
  }
  expect(await store.read(contactStream)).toHaveLength(0);

  // The one-click POST a mail client sends: no cookie, no CSRF header. Twice: one event.
  for (let i = 0; i < 2; i++) {
    const done = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(done.status).toBe(200);
  }
  const optedOut = await store.read(contactStream);
  expect(optedOut.map((e) => e.type)).toEqual(['haven.scheduling.v1.EmailContactOptedOut']);
  expect(optedOut[0]!.data).toMatchObject({ via: 'one-click' });
  expect(JSON.stringify(optedOut[0]!.data)).not.toMatch(/example\.test|Canary/i);

  // A later invitation to that address is suppressed; the cancellation of the first visit still goes.
  const second = await bookWithLink(patientId);
  const suppressed = `${second}_invitation_email`;
  await eventually('the suppressed invitation', async () => {
    const types = await reminderEvents(suppressed);
    return types.at(-1) === 'haven.scheduling.v1.ReminderSuppressed' ? types : undefined;
  });
  const last = (await store.read(`scheduling.reminder-${suppressed}`)).at(-1);
  expect(last?.data).toMatchObject({ reason: 'opted_out' });
  expect((await desk.post(`${stack.url}/api/appointments/${first}/cancel`, {})).status).toBeLessThan(300);
  const cancelled = await mailAbout(first, 'cancelled');
  expect(header(cancelled, 'List-Unsubscribe')).toContain('/email/unsubscribe?t=');
  expect(catcher.messages().filter((m) => m.messageId.includes(second))).toHaveLength(0);
});
