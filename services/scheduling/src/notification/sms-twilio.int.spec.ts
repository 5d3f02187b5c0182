/**
 * The Twilio adapter against a real local HTTP server standing in for api.twilio.com: the package's httpClient
 * is pointed at it. The server checks what Twilio checks (the account SID path, Basic auth with SID and token,
 * a form body with To, From and Body) and answers like Twilio does (201 with a message resource; a JSON error
 * with a status otherwise). Then the transport contract.
 */
import type { IncomingMessage } from 'node:http';
import { serveRefusableStandIn, type RefusableStandIn } from '@haven/testing';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { TwilioSmsTransport, type TwilioHttpClient } from './sms-twilio';
import { HTTP_REFUSALS, testMessageTransport } from './transport.contract';

jest.setTimeout(30_000);

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'twilio-auth-token-0123456789abcd';
const FROM = '+15550009999';

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly form: URLSearchParams;
}

/** Twilio's Messages API on loopback: it checks the account path, Basic auth and a form body. */
function startFakeTwilio(): Promise<RefusableStandIn<Received>> {
  return serveRefusableStandIn<Received>((req, body, res, { refusal, received }) => {
    const json = (status: number, answer: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    const basic = `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`;
    if (req.headers.authorization !== basic) return void json(401, { code: 20003, status: 401 });
    if (req.method !== 'POST' || req.url !== `/2010-04-01/Accounts/${SID}/Messages.json`) {
      return void json(404, { code: 20404, status: 404 });
    }
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return void json(400, { code: 20001, status: 400 });
    }
    if (refusal !== undefined)
      return void json(refusal, { code: refusal === 400 ? 21211 : 20500, status: refusal });
    const form = new URLSearchParams(body.toString('utf8'));
    received.push({ path: req.url, headers: req.headers, form });
    const sid = `SM${received.length.toString(16).padStart(32, '0')}`;
    json(201, { sid, account_sid: SID, to: form.get('To'), from: form.get('From'), status: 'queued' });
  });
}

/** The package's RequestClient with every request sent to `base` instead of Twilio's hosts. */
function localHttpClient(base: string): TwilioHttpClient {
  class LocalRequestClient extends twilio.RequestClient {
    override request<T>(opts: RequestClient.RequestOptions<T>) {
      const uri = new URL(opts.uri);
      return super.request<T>({ ...opts, uri: `${base}${uri.pathname}${uri.search}` });
    }
  }
  return new LocalRequestClient({ timeout: 2_000 });
}

testMessageTransport('Twilio', async () => {
  const api = await startFakeTwilio();
  return {
    transport: new TwilioSmsTransport({
      accountSid: SID,
      authToken: TOKEN,
      from: FROM,
      httpClient: localHttpClient(api.origin),
    }),
    recipient: '+15550001111',
    received: () => api.received.map((r) => ({ to: r.form.get('To') ?? '', text: r.form.get('Body') ?? '' })),
    refuse: (kind) => api.refuse(kind && HTTP_REFUSALS[kind]),
    unreachable: () =>
      new TwilioSmsTransport({
        accountSid: SID,
        authToken: TOKEN,
        from: FROM,
        httpClient: localHttpClient('http://127.0.0.1:1'),
      }),
    close: () => api.close(),
  };
});

describe('the Twilio request', () => {
  it('posts To, From and Body only, to the account’s Messages resource, and returns the message SID', async () => {
    const api = await startFakeTwilio();
    try {
      const sms = new TwilioSmsTransport({
        accountSid: SID,
        authToken: TOKEN,
        from: FROM,
        httpClient: localHttpClient(api.origin),
      });
      const receipt = await sms.send({
        messageId: '<r@x>',
        to: '+15550002222',
        subject: 'unused',
        text: 'Hi',
      });
      expect(receipt).toEqual({ providerId: `SM${'1'.padStart(32, '0')}` });
      const [got] = api.received;
      expect(got?.path).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
      expect(Object.fromEntries(got?.form ?? [])).toEqual({ To: '+15550002222', From: FROM, Body: 'Hi' });
    } finally {
      await api.close();
    }
  });

  it('sends by a Messaging Service when the sender is one', async () => {
    const api = await startFakeTwilio();
    try {
      const service = `MG${'ab'.repeat(16)}`;
      await new TwilioSmsTransport({
        accountSid: SID,
        authToken: TOKEN,
        from: service,
        httpClient: localHttpClient(api.origin),
      }).send({ messageId: '<m@x>', to: '+15550003333', subject: '', text: 'Hello' });
      expect(Object.fromEntries(api.received[0]?.form ?? [])).toEqual({
        To: '+15550003333',
        MessagingServiceSid: service,
        Body: 'Hello',
      });
    } finally {
      await api.close();
    }
  });

  it('is refused with a wrong token (the local server checks the credentials)', async () => {
    const api = await startFakeTwilio();
    try {
      const wrong = new TwilioSmsTransport({
        accountSid: SID,
        authToken: 'not-the-token',
        from: FROM,
        httpClient: localHttpClient(api.origin),
      });
      await expect(
        wrong.send({ messageId: '<w@x>', to: '+15550004444', subject: '', text: 'x' }),
      ).rejects.toMatchObject({ reason: 'http_4xx', retryable: false });
      expect(api.received).toHaveLength(0);
    } finally {
      await api.close();
    }
  });

  it('refuses a malformed account SID or sender', () => {
    expect(() => new TwilioSmsTransport({ accountSid: 'AC1', authToken: TOKEN, from: FROM })).toThrow(/SID/);
    expect(() => new TwilioSmsTransport({ accountSid: SID, authToken: TOKEN, from: 'Clinic' })).toThrow(
      /sender/,
    );
  });
});
