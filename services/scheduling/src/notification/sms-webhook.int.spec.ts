/**
 * The SMS webhook adapter against a real local HTTP server standing in for a hospital's SMS gateway: the
 * transport contract, plus the request shape (bearer token, Idempotency-Key = the message id, JSON body).
 */
import type { IncomingMessage } from 'node:http';
import { serveRefusableStandIn, type RefusableStandIn } from '@haven/testing';
import { WebhookSmsTransport } from './sms-webhook';
import { HTTP_REFUSALS, testMessageTransport } from './transport.contract';

jest.setTimeout(30_000);

const TOKEN = 'sms-gateway-token-0123456789';

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: { to: string; text: string; idempotencyKey: string };
}

/** A hospital's SMS gateway on loopback: it checks the bearer token and keeps the JSON bodies. */
function startGateway(): Promise<RefusableStandIn<Received>> {
  return serveRefusableStandIn<Received>((req, body, res, { refusal, received }) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
    if (refusal !== undefined) return void res.writeHead(refusal).end('{"error":"refused"}');
    received.push({
      headers: req.headers,
      body: JSON.parse(body.toString('utf8')) as Received['body'],
    });
    res.writeHead(202, { 'content-type': 'application/json' }).end(`{"id":"sms-${received.length}"}`);
  });
}

testMessageTransport('SMS webhook', async () => {
  const gateway = await startGateway();
  return {
    transport: new WebhookSmsTransport({ url: `${gateway.origin}/send`, token: TOKEN, timeoutMs: 5_000 }),
    recipient: '+15550001111',
    received: () =>
      gateway.received.map((r) => ({ messageId: r.body.idempotencyKey, to: r.body.to, text: r.body.text })),
    refuse: (kind) => gateway.refuse(kind && HTTP_REFUSALS[kind]),
    unreachable: () =>
      new WebhookSmsTransport({ url: 'http://127.0.0.1:1/send', token: TOKEN, timeoutMs: 2_000 }),
    close: () => gateway.close(),
  };
});

describe('the SMS webhook request', () => {
  it('carries the bearer token, the message id as Idempotency-Key, and only the recipient and text', async () => {
    const gateway = await startGateway();
    try {
      const sms = new WebhookSmsTransport({ url: `${gateway.origin}/send`, token: TOKEN });
      const receipt = await sms.send({
        messageId: '<reminder-a@x>',
        to: '+15550002222',
        subject: 'unused',
        text: 'Hi',
      });
      expect(receipt).toEqual({ providerId: 'sms-1' });
      const [got] = gateway.received;
      expect(got?.headers['idempotency-key']).toBe('<reminder-a@x>');
      expect(got?.headers['content-type']).toBe('application/json');
      expect(got?.body).toEqual({ to: '+15550002222', text: 'Hi', idempotencyKey: '<reminder-a@x>' });
    } finally {
      await gateway.close();
    }
  });

  it('refuses a plain-http webhook that is not on loopback', () =>
    expect(() => new WebhookSmsTransport({ url: 'http://sms.example.test/send', token: TOKEN })).toThrow(
      /https/,
    ));
});
