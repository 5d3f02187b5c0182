/**
 * STOP and START over real servers. The generic webhook provider end to end: a scheduling service on a real
 * nats-server sends the invitation SMS to a local gateway; the patient's STOP reply (signed with the webhook's
 * HMAC, computed here with node:crypto, not with our helper) opts the number out (SmsContactOptedOut under a
 * keyed hash, never the number), the next booking's SMS is ReminderSuppressed (opted_out) and the front desk's
 * ListMessageDeliveries says so, START re-subscribes.
 * Twilio's inbound route on the same HTTP server code, signed the way Twilio documents it (HMAC-SHA1 of the URL
 * and the sorted form fields, computed here by hand) and refused when forged.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JetStreamEventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, createLogger, startJwksServer } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { eventually } from '@haven/testing';
import type { RunningScheduling } from '../server';
import {
  bookVisit,
  createPatient,
  issueLink,
  startIn,
  startSchedulingSuite,
  startSmsGatewayStandIn,
  type SchedulingSuite,
  type SmsGatewayStandIn,
  type SmsSent,
} from '../../test/suite';
import { reminderStream } from '../notification/reminder';
import { contactKeyer } from './contact-key';
import { INBOUND_TWILIO_PATH, INBOUND_WEBHOOK_PATH, inboundSmsRoutes } from './inbound-sms';

jest.setTimeout(60_000);

const issuer = createTestIssuer();
const PHONE = '+15550107788';
/**
 * The number in any writing ('+15550107788', '+1 555 010 7788', '555-010-7788'), not its pieces: a bare '555' also
 * turns up in event ids, hashes and times.
 */
const PHONE_WRITTEN = /5\D{0,2}5\D{0,2}5\D{0,2}0\D{0,2}1\D{0,2}0\D{0,2}7\D{0,2}7\D{0,2}8\D{0,2}8/;
const SMS_TOKEN = 'inbound-sms-gateway-token-0123';

let suite: SchedulingSuite;
let dataDir: string;
let service: RunningScheduling;
let client: scheduling.SchedulingServiceClient;
let store: JetStreamEventStore;
let gateway: SmsGatewayStandIn;
let sent: SmsSent[];

const frontDesk = () => suite.as('u-desk', 'front_desk');

beforeAll(async () => {
  gateway = await startSmsGatewayStandIn(SMS_TOKEN);
  sent = gateway.sent;
  suite = await startSchedulingSuite({
    issuer,
    dataDirPrefix: 'haven-inbound-sms-',
    env: {
      HAVEN_SMS_PROVIDER: 'webhook',
      ...gateway.env,
      HAVEN_PASSCODE_DELIVERY: 'front-desk',
      HAVEN_REMINDER_POLL_MS: '50',
      HAVEN_REMINDER_OFFSETS: '',
    },
  });
  ({ dataDir, service, client, store } = suite);
});

afterAll(async () => {
  await suite?.stop();
  await gateway?.close();
});

let offsetDays = 2;
async function bookForPhone(): Promise<string> {
  const desk = { client, metadata: frontDesk };
  const patient = await createPatient(desk, {
    givenName: 'Stop',
    familyName: 'Tester',
    dateOfBirth: '1980-01-01',
    phone: PHONE,
  });
  offsetDays += 1;
  const booked = await bookVisit(desk, {
    patient,
    clinician: 'users/doc-1',
    start: startIn(offsetDays * 86_400_000),
  });
  await issueLink(desk, booked.name);
  return booked.name.slice('appointments/'.length);
}

const lastTypeOf = async (reminderId: string) => (await store.read(reminderStream(reminderId))).at(-1);

async function reply(text: string, options: { signWith?: string; at?: number } = {}): Promise<number> {
  const body = JSON.stringify({ from: '+1 555 010 7788', text });
  const timestamp = String(Math.floor((options.at ?? Date.now()) / 1000));
  const signature = createHmac('sha256', options.signWith ?? SMS_TOKEN)
    .update(`${timestamp}.${body}`)
    .digest('hex');
  const response = await fetch(`http://127.0.0.1:${service.httpPort}${INBOUND_WEBHOOK_PATH}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-haven-timestamp': timestamp,
      'x-haven-signature': `sha256=${signature}`,
    },
    body,
  });
  return response.status;
}

/** The number's stream, found with the installation's secret read from the data directory. */
function contactStreamOfPhone(): string {
  const secret = readFileSync(join(dataDir, 'scheduling', 'sms-contact.key'), 'utf8').trim();
  return `scheduling.sms_contact-${createHmac('sha256', Buffer.from(secret, 'hex')).update(PHONE).digest('hex').slice(0, 40)}`;
}

describe('a STOP reply through the generic webhook', () => {
  it('opts the number out: the next invitation by SMS is suppressed, START sends again', async () => {
    const first = await bookForPhone();
    await eventually(
      'the first invitation SMS',
      async () => (await lastTypeOf(`${first}_invitation_sms`))?.type === 'haven.scheduling.v1.ReminderSent',
    );
    expect(sent.filter((s) => s.to === PHONE)).toHaveLength(1);

    expect(await reply('STOP', { signWith: 'not-the-webhook-token-000000' })).toBe(403);
    expect(await reply('STOP', { at: Date.now() - 10 * 60_000 })).toBe(403);
    expect(await store.read(contactStreamOfPhone())).toHaveLength(0);

    expect(await reply('Stop')).toBe(204);
    expect(await reply('STOP')).toBe(204); // a provider's retry: still one event
    const events = await store.read(contactStreamOfPhone());
    expect(events.map((e) => [e.type, e.data['keyword']])).toEqual([
      ['haven.scheduling.v1.SmsContactOptedOut', 'STOP'],
    ]);
    expect(JSON.stringify(events.map((e) => e.data))).not.toMatch(PHONE_WRITTEN);

    const second = await bookForPhone();
    await eventually('the second invitation suppressed', async () => {
      const last = await lastTypeOf(`${second}_invitation_sms`);
      return last?.type === 'haven.scheduling.v1.ReminderSuppressed' && last.data['reason'] === 'opted_out';
    });
    expect(sent.filter((s) => s.to === PHONE)).toHaveLength(1);
    // The front desk reads why (ListMessageDeliveries: codes and times, not the number or the name).
    const deliveries = async () =>
      (
        await callUnary(
          client,
          'listMessageDeliveries',
          scheduling.ListMessageDeliveriesRequest.fromPartial({ parent: `appointments/${second}` }),
          await frontDesk(),
        )
      ).messageDeliveries;
    await eventually('the read model saw it', async () =>
      (await deliveries()).some((d) => d.reason === 'opted_out'),
    );
    const messageDeliveries = await deliveries();
    expect(messageDeliveries).toContainEqual(
      expect.objectContaining({
        name: `appointments/${second}/messageDeliveries/${second}_invitation_sms`,
        kind: scheduling.MessageKind.MESSAGE_KIND_INVITATION,
        channel: scheduling.MessageChannel.MESSAGE_CHANNEL_SMS,
        state: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SUPPRESSED,
        reason: 'opted_out',
      }),
    );
    const delivered = JSON.stringify(messageDeliveries);
    expect(delivered).not.toMatch(PHONE_WRITTEN);
    expect(delivered).not.toMatch(/Stop|Tester|1980-01-01|0?1\/0?1\/1980/);

    expect(await reply('START')).toBe(204);
    const third = await bookForPhone();
    await eventually(
      'the third invitation SMS',
      async () => (await lastTypeOf(`${third}_invitation_sms`))?.type === 'haven.scheduling.v1.ReminderSent',
    );
    expect(sent.filter((s) => s.to === PHONE)).toHaveLength(2);
  });

  it('ignores other text without storing it', async () => {
    const before = (await store.read(contactStreamOfPhone())).length;
    expect(await reply('my rash is worse, please call')).toBe(204);
    expect(await store.read(contactStreamOfPhone())).toHaveLength(before);
  });

  it('refuses a body over 16 KiB with 413 before reading any more of it', async () => {
    const response = await fetch(`http://127.0.0.1:${service.httpPort}${INBOUND_WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(17 * 1024),
    }).catch(() => undefined);
    // The server answers 413 and destroys the request, so the client sees the 413 or a reset; never a 2xx (a
    // body read whole would be answered 204, as "other text").
    expect(String(response?.status ?? 'connection closed')).toMatch(/^(413|connection closed)$/);
    expect(await reply('STOP')).toBe(204); // the route still works
  });
});

describe('a STOP reply from Twilio', () => {
  const AUTH = 'twilio-auth-token-for-inbound-01';
  const URL_AT_TWILIO = 'https://visits.clinic.test/sms/inbound/twilio';
  /** Twilio's documented signature: base64 HMAC-SHA1 of the URL followed by each field name and value, sorted. */
  const twilioSignature = (token: string, params: Record<string, string>) =>
    createHmac('sha1', token)
      .update(
        URL_AT_TWILIO +
          Object.keys(params)
            .sort()
            .map((k) => k + params[k])
            .join(''),
      )
      .digest('base64');

  it('opts out only with a valid X-Twilio-Signature, and answers with TwiML', async () => {
    const keyer = contactKeyer(Buffer.alloc(32, 7));
    const server = await startJwksServer({
      port: 0,
      host: '127.0.0.1',
      jwks: { keys: [] },
      routes: inboundSmsRoutes({
        store,
        clock: () => new Date(),
        logger: createLogger({ service: 'test', level: 'silent' }),
        keyer,
        twilio: { authToken: AUTH, url: URL_AT_TWILIO },
      }),
    });
    try {
      const params = {
        From: '+15550200001',
        To: '+15550009999',
        Body: 'STOP',
        MessageSid: `SM${'1'.repeat(32)}`,
      };
      const post = (signature: string) =>
        fetch(`http://127.0.0.1:${server.port}${INBOUND_TWILIO_PATH}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
          body: new URLSearchParams(params).toString(),
        });
      const stream = `scheduling.sms_contact-${keyer('+15550200001')}`;
      expect((await post(twilioSignature('forged-token-0000000000000000', params))).status).toBe(403);
      expect(await store.read(stream)).toHaveLength(0);
      const ok = await post(twilioSignature(AUTH, params));
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toContain('text/xml');
      expect(await ok.text()).toContain('<Response>');
      expect((await store.read(stream)).map((e) => [e.type, e.data['source']])).toEqual([
        ['haven.scheduling.v1.SmsContactOptedOut', 'twilio'],
      ]);
    } finally {
      await server.close();
    }
  });
});
