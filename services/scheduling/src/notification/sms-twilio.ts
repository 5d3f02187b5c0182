/**
 * SMS through Twilio's Messages API with the official `twilio` package: one `messages.create` per message
 * (To, From or MessagingServiceSid, Body), authenticated with the account SID and auth token. The package's own
 * retries are off: the outbox decides when to try again. 429 and 5xx = retry; any other 4xx (bad number, an
 * unsubscribed recipient: Twilio error 21610) = final; no answer = retry. Twilio has no idempotency key for
 * Messages, so the residual window of ADR 0015 (accepted, then the sender died before ReminderSent) applies.
 */
import twilio from 'twilio';
import { ReminderChannel } from './reminder';
import {
  TransportError,
  type MessageTransport,
  type OutboundMessage,
  type TransportReceipt,
} from './transport';

/** The HTTP client seam of the `twilio` package (its RequestClient, or one pointed at a local server). */
export type TwilioHttpClient = NonNullable<twilio.ClientOpts['httpClient']>;

/** Options of {@link TwilioSmsTransport}. */
export interface TwilioSmsOptions {
  /** `AC…` */
  readonly accountSid: string;
  readonly authToken: string;
  /** The sender: an E.164 number (`+1555…`) or a Messaging Service SID (`MG…`). */
  readonly from: string;
  /** Per request (default 15 s). */
  readonly timeoutMs?: number;
  /** Replaces the package's HTTP client (tests point it at a local server). */
  readonly httpClient?: TwilioHttpClient;
}

const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;

/** The Twilio adapter of the transport port (channel `sms`). */
export class TwilioSmsTransport implements MessageTransport {
  readonly channel = ReminderChannel.Sms;
  readonly #client: twilio.Twilio;
  readonly #from: { from: string } | { messagingServiceSid: string };
  readonly #timeoutMs: number;

  /** Throws TypeError when the account SID or the sender is not shaped like Twilio's. */
  constructor(options: TwilioSmsOptions) {
    if (!ACCOUNT_SID.test(options.accountSid)) throw new TypeError('the Twilio account SID must be AC…');
    if (/^MG[0-9a-fA-F]{32}$/.test(options.from)) this.#from = { messagingServiceSid: options.from };
    else if (/^\+[1-9]\d{6,14}$/.test(options.from)) this.#from = { from: options.from };
    else throw new TypeError('the Twilio sender must be an E.164 number or a Messaging Service SID (MG…)');
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#client = twilio(options.accountSid, options.authToken, {
      autoRetry: false,
      timeout: this.#timeoutMs,
      ...(options.httpClient ? { httpClient: options.httpClient } : {}),
    });
  }

  async send(message: OutboundMessage): Promise<TransportReceipt> {
    try {
      const created = await this.#client.messages.create({
        to: message.to,
        body: message.text,
        ...this.#from,
      });
      return /^SM[0-9a-fA-F]{32}$/.test(created.sid) ? { providerId: created.sid } : {};
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400) {
        const retryable = status === 408 || status === 429 || status >= 500;
        // The error's message may name the number: it is kept only as the cause, never logged by the outbox.
        throw new TransportError(status >= 500 ? 'http_5xx' : 'http_4xx', retryable, { cause: error });
      }
      const timeout = /timeout|ETIMEDOUT|ECONNABORTED/i.test(String((error as Error)?.message ?? ''));
      throw new TransportError(timeout ? 'timeout' : 'connection', true, { cause: error });
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
