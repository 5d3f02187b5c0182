/**
 * The passcode by the other channel, over a real nats-server, a real local SMTP server and a local SMS gateway:
 * with HAVEN_PASSCODE_DELIVERY=sms the link goes by e-mail and the passcode alone by SMS; no message ever
 * carries both (nor the token and the passcode in any form); a newer link sends its own passcode and the old
 * one's is not sent again; a reminder still goes by SMS, with neither the link nor the passcode; the setting
 * without an SMS provider stops the service at start.
 */
import { scheduling } from '@haven/proto';
import { callUnary, createLogger } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { catcherSmtpEnv, eventually, type MailCatcher } from '@haven/testing';
import {
  bookVisit,
  createPatient,
  issueLink,
  startIn,
  startNotifyingSuite,
  type NotifyingSuite,
  type SmsGatewayStandIn,
} from '../../test/suite';
import { startScheduling } from '../server';
import { testSchedulingConfig } from '../testing';

jest.setTimeout(60_000);

const issuer = createTestIssuer();
const PATIENT = {
  givenName: 'Pass',
  familyName: 'Code',
  dateOfBirth: '1975-05-05',
  email: 'pass.code@example.test',
  phone: '+15550304050',
};
const SMS_TOKEN = 'passcode-sms-gateway-token-01';

let suite: NotifyingSuite;
let catcher: MailCatcher;
let client: scheduling.SchedulingServiceClient;
let gateway: SmsGatewayStandIn;

const frontDesk = () => suite.as('u-desk', 'front_desk');
const desk = () => ({ client, metadata: frontDesk });

const MAIL_FROM = 'Clinic <no-reply@passcode.test>';
const CLINIC_ENV = {
  HAVEN_CLINIC_NAME: 'Hillside Clinic',
  HAVEN_PUBLIC_URL: 'https://visits.hillside.test',
  HAVEN_REMINDER_POLL_MS: '50',
};

beforeAll(async () => {
  suite = await startNotifyingSuite({
    issuer,
    dataDirPrefix: 'haven-passcode-',
    mailFrom: MAIL_FROM,
    smsToken: SMS_TOKEN,
    env: {
      ...CLINIC_ENV,
      // One reminder an hour before the start: far off for the first test's visit (two days ahead), seconds away
      // for the reminder test's.
      HAVEN_REMINDER_OFFSETS: '1h',
      HAVEN_PASSCODE_DELIVERY: 'sms',
    },
  });
  ({ client, catcher, sms: gateway } = suite);
});

afterAll(async () => suite?.stop());

describe('HAVEN_PASSCODE_DELIVERY=sms', () => {
  it('sends the link by e-mail and the passcode alone by SMS, never together', async () => {
    const booked = await bookVisit(desk(), {
      patient: await createPatient(desk(), PATIENT),
      clinician: 'users/doc-1',
      start: startIn(2 * 86_400_000),
    });
    const issue = () => issueLink(desk(), booked.name);
    const first = await issue();
    await eventually('the invitation e-mail and the passcode SMS', () =>
      catcher.messages().length >= 1 && gateway.sent.length >= 1 ? true : undefined,
    );
    const mail = catcher.messages()[0]!;
    expect(mail.to).toEqual([PATIENT.email]);
    expect(mail.text).toContain(`https://visits.hillside.test/join#${first.token}`);
    expect(mail.text).toContain('it comes in a separate text message');
    expect(mail.text).not.toContain(first.passcode);
    const sms = gateway.sent[0]!;
    expect(sms.to).toBe(PATIENT.phone);
    expect(sms.text).toContain(first.passcode);
    expect(sms.text).toContain('Hillside Clinic');
    expect(sms.text).not.toContain(first.token);
    expect(sms.text).not.toMatch(/https?:|join#/);

    const second = await issue();
    await eventually('the second passcode SMS', () => (gateway.sent.length >= 2 ? true : undefined));
    expect(gateway.sent[1]!.text).toContain(second.passcode);
    await new Promise((r) => setTimeout(r, 500)); // more sender rounds: nothing else goes
    expect(gateway.sent).toHaveLength(2);
    expect(catcher.messages()).toHaveLength(1);
    for (const link of [first, second]) {
      for (const m of catcher.messages()) expect(m.raw).not.toContain(link.passcode);
      for (const t of gateway.sent) expect(t.text).not.toContain(link.token);
    }
  });

  it('still sends the reminder by SMS, with neither the link nor the passcode', async () => {
    // The reminder (60 min before) falls due a few seconds from now; no link is issued (the e-mails wait for it).
    const booked = await bookVisit(desk(), {
      patient: await createPatient(desk(), { ...PATIENT, phone: '+15550304999' }),
      clinician: 'users/doc-1',
      start: startIn(60 * 60_000 + 3_000, 1000),
    });
    expect(booked.name).toBeTruthy();
    const reminder = await eventually(
      'the SMS reminder',
      () => gateway.sent.find((t) => t.to === '+15550304999'),
      {
        timeoutMs: 30_000,
      },
    );
    expect(reminder.text).toContain('Hillside Clinic');
    expect(reminder.text).toContain('Your join link came by e-mail.');
    expect(reminder.text).not.toMatch(/https?:|join#|passcode/i);
    await new Promise((r) => setTimeout(r, 500));
    expect(gateway.sent.filter((t) => t.to === '+15550304999')).toHaveLength(1);
  });

  it('stops the service at start without an SMS provider, naming the variable', async () => {
    await expect(
      startScheduling(
        testSchedulingConfig(
          suite.nats.env('scheduling'),
          { jwksUrl: suite.jwksUrl, dataDir: suite.dataDir },
          {
            ...catcherSmtpEnv(catcher, MAIL_FROM),
            ...CLINIC_ENV,
            HAVEN_REMINDER_OFFSETS: '',
            HAVEN_PASSCODE_DELIVERY: 'sms',
          },
        ),
        createLogger({ service: 'scheduling', level: 'silent' }),
        { host: '127.0.0.1' },
      ),
    ).rejects.toThrow(/HAVEN_PASSCODE_DELIVERY=sms needs both HAVEN_SMTP_URL and an SMS provider/);
  });
});

describe('the passcode delivery as a clinic setting (over HAVEN_PASSCODE_DELIVERY=sms)', () => {
  const admin = () => suite.as('u-admin', 'admin');
  const deliver = async (passcodeDelivery: scheduling.PasscodeDelivery) =>
    callUnary(
      client,
      'updateClinicSettings',
      scheduling.UpdateClinicSettingsRequest.fromPartial({
        clinicSettings: { passcodeDelivery },
        updateMask: ['passcode_delivery'],
      }),
      await admin(),
    );

  it('applies to the next link without a restart: front desk sends no passcode, SMS again sends it', async () => {
    const booked = await bookVisit(desk(), {
      patient: await createPatient(desk(), { ...PATIENT, phone: '+15550304777' }),
      clinician: 'users/doc-2',
      start: startIn(3 * 86_400_000),
    });
    const issue = () => issueLink(desk(), booked.name);
    const mine = () => gateway.sent.filter((t) => t.to === '+15550304777');

    const changed = await deliver(scheduling.PasscodeDelivery.PASSCODE_DELIVERY_FRONT_DESK);
    expect(changed.clinicSettings?.passcodeDelivery).toBe(
      scheduling.PasscodeDelivery.PASSCODE_DELIVERY_FRONT_DESK,
    );
    const readOut = await issue();
    await new Promise((r) => setTimeout(r, 1_000)); // several sender rounds: no passcode goes
    expect(mine()).toHaveLength(0);

    await deliver(scheduling.PasscodeDelivery.PASSCODE_DELIVERY_SMS);
    const sent = await issue();
    const sms = await eventually('the passcode SMS of the link issued after the change', () =>
      mine().find((t) => t.text.includes(sent.passcode)),
    );
    expect(sms.text).not.toContain(sent.token);
    for (const t of mine()) expect(t.text).not.toContain(readOut.passcode);
  });
});
