/**
 * The SMTP adapter against a real local smtp-server (STARTTLS with the test PKI's certificate, AUTH), parsed
 * with mailparser: the transport contract, plus what only SMTP has (TLS required, wrong credentials).
 */
import { readFileSync } from 'node:fs';
import { freePort, sharedTestPki, startMailCatcher, type MailCatcher } from '@haven/testing';
import { SmtpTransport } from './smtp';
import { testMessageTransport } from './transport.contract';
import { TransportError } from './transport';

jest.setTimeout(30_000);

const AUTH = { user: 'haven', pass: 'relay-secret-1' };

async function tlsCatcher(): Promise<{ catcher: MailCatcher; ca: string }> {
  const pki = await sharedTestPki();
  const catcher = await startMailCatcher({ tls: pki.files('integration'), auth: AUTH });
  return { catcher, ca: readFileSync(pki.caFile, 'utf8') };
}

const transportTo = (port: number, ca: string, over: Partial<{ pass: string; requireTls: boolean }> = {}) =>
  new SmtpTransport({
    url: `smtp://${AUTH.user}:${over.pass ?? AUTH.pass}@localhost:${port}`,
    from: 'Clinic <no-reply@clinic.test>',
    ca,
    requireTls: over.requireTls ?? true,
    timeoutMs: 5_000,
    pool: false,
  });

const SMTP_REFUSALS = {
  retryable: { code: 451, message: 'Try again later' },
  'rate-limited': { code: 450, message: '4.7.1 Too many messages, slow down' },
  permanent: { code: 550, message: 'Mailbox unavailable' },
};

testMessageTransport('SMTP over STARTTLS with AUTH', async () => {
  const { catcher, ca } = await tlsCatcher();
  const transport = transportTo(catcher.port, ca);
  return {
    transport,
    recipient: 'patient@example.test',
    received: () =>
      catcher.messages().map((m) => ({ messageId: m.messageId, to: m.to[0] ?? '', text: m.text })),
    refuse: (kind) => catcher.setFault(kind && (() => SMTP_REFUSALS[kind])),
    unreachable: () => transportTo(1, ca),
    close: async () => {
      await transport.close();
      await catcher.close();
    },
  };
});

describe('SMTP specifics', () => {
  let catcher: MailCatcher;
  let ca: string;
  beforeAll(async () => ({ catcher, ca } = await tlsCatcher()));
  afterAll(async () => catcher?.close());

  it('sends over TLS, authenticated, with the Message-ID it was given', async () => {
    const t = transportTo(catcher.port, ca);
    await t.send({ messageId: '<reminder-x@clinic.test>', to: 'p@example.test', subject: 'S', text: 'T' });
    await t.close();
    const mail = catcher.messages().find((m) => m.messageId === '<reminder-x@clinic.test>');
    expect(mail).toMatchObject({ tls: true, user: AUTH.user, subject: 'S', from: 'no-reply@clinic.test' });
  });

  it('refuses wrong credentials as a final failure', async () => {
    const t = transportTo(catcher.port, ca, { pass: 'wrong-password' });
    const error = await t
      .send({ messageId: '<a@b>', to: 'p@example.test', subject: 'S', text: 'T' })
      .catch((e: unknown) => e);
    await t.close();
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ reason: 'auth', retryable: false });
  });

  it('will not send in the clear to a relay that offers no STARTTLS', async () => {
    const plain = await startMailCatcher({ port: await freePort() });
    const t = transportTo(plain.port, ca);
    const error = await t
      .send({ messageId: '<c@d>', to: 'p@example.test', subject: 'S', text: 'T' })
      .catch((e: unknown) => e);
    await t.close();
    await plain.close();
    expect(error).toBeInstanceOf(TransportError);
    expect(plain.messages()).toHaveLength(0);
  });
});
