/**
 * The contract every MessageTransport adapter meets (one suite, run against each adapter with its own real
 * local server): a message arrives once with its id and text; a retryable refusal or a rate limit is a
 * retryable TransportError, a permanent one is not; an unreachable server is retryable; nothing is delivered by a failure.
 */
import { TransportError, type MessageTransport, type OutboundMessage } from './transport';

/** What the suite needs from one adapter and the local server behind it. */
export interface TransportHarness {
  readonly transport: MessageTransport;
  /** A recipient the server accepts. */
  readonly recipient: string;
  /**
   * The messages the server accepted, with the id the adapter gave it (undefined for a provider whose API has
   * no place for it: Twilio's Messages API).
   */
  received(): readonly { readonly messageId?: string; readonly to: string; readonly text: string }[];
  /**
   * The server refuses the next messages: `retryable`, a temporary refusal; `rate-limited`, too many messages
   * (HTTP 429, an SMTP 4xx); `permanent`, a final one.
   */
  refuse(kind: 'retryable' | 'rate-limited' | 'permanent' | undefined): void;
  /** A transport of the same kind pointed at a port nobody listens on. */
  unreachable(): MessageTransport;
  close(): Promise<void>;
}

/** The HTTP status an HTTP provider's stand-in answers for each kind of refusal. */
export const HTTP_REFUSALS = { retryable: 503, 'rate-limited': 429, permanent: 400 } as const;

/** Registers the contract suite for one adapter. */
export function testMessageTransport(name: string, factory: () => Promise<TransportHarness>): void {
  describe(`${name} (transport contract)`, () => {
    let h: TransportHarness;
    beforeAll(async () => {
      h = await factory();
    });
    afterAll(async () => {
      await h?.close();
    });
    afterEach(() => h.refuse(undefined));
    const message = (n: string): OutboundMessage => ({
      messageId: `<reminder-contract-${n}@clinic.test>`,
      to: h.recipient,
      subject: `Contract ${n}`,
      text: `Contract message ${n}`,
    });

    it('delivers a message once, with its id and text', async () => {
      await h.transport.send(message('one'));
      const got = h
        .received()
        .filter((m) =>
          m.messageId === undefined
            ? m.text.includes('Contract message one')
            : m.messageId === '<reminder-contract-one@clinic.test>',
        );
      expect(got).toHaveLength(1);
      expect(got[0]?.text).toContain('Contract message one');
      expect(got[0]?.to).toBe(h.recipient);
    });

    it('turns a temporary refusal into a retryable TransportError and delivers nothing', async () => {
      h.refuse('retryable');
      const error = await h.transport.send(message('temp')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportError);
      expect(error).toMatchObject({ retryable: true });
      expect(h.received().some((m) => (m.messageId ?? m.text).includes('temp'))).toBe(false);
    });

    it('turns a rate limit into a retryable TransportError of the 4xx kind and delivers nothing', async () => {
      h.refuse('rate-limited');
      const error = await h.transport.send(message('slow')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportError);
      expect(error).toMatchObject({ retryable: true });
      expect((error as TransportError).reason).toMatch(/^(http|smtp)_4xx$/);
      expect(h.received().some((m) => (m.messageId ?? m.text).includes('slow'))).toBe(false);
    });

    it('turns a permanent refusal into a final TransportError', async () => {
      h.refuse('permanent');
      const error = await h.transport.send(message('perm')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportError);
      expect(error).toMatchObject({ retryable: false });
    });

    it('reports an unreachable server as retryable, without the recipient in the error', async () => {
      const down = h.unreachable();
      try {
        const error = await down.send(message('down')).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TransportError);
        expect(error).toMatchObject({ retryable: true });
        expect(String((error as Error).message)).not.toContain(h.recipient);
      } finally {
        await down.close();
      }
    });
  });
}
