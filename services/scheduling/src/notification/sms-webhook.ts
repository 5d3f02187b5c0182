/**
 * SMS through a generic HTTP webhook (a hospital's SMS gateway, or a relay in front of any provider): one JSON
 * POST per message, `{ "to", "text", "idempotencyKey" }`, with a bearer token and an `Idempotency-Key` header
 * carrying the reminder's message id, so a gateway that honours it never sends a repeated attempt twice.
 * 2xx = accepted; 408, 429 and 5xx = retry; any other 4xx = final; no answer = retry.
 */
import { ReminderChannel } from './reminder';
import {
  TransportError,
  type MessageTransport,
  type OutboundMessage,
  type TransportReceipt,
} from './transport';

/** Options of {@link WebhookSmsTransport}. */
export interface WebhookSmsOptions {
  /** `https://sms-gateway.hospital.example/send` (`http:` only for loopback). */
  readonly url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token: string;
  /** Per request (default 15 s). */
  readonly timeoutMs?: number;
}

/** The generic webhook adapter of the transport port (channel `sms`). */
export class WebhookSmsTransport implements MessageTransport {
  readonly channel = ReminderChannel.Sms;
  readonly #options: WebhookSmsOptions;

  constructor(options: WebhookSmsOptions) {
    const url = new URL(options.url);
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw new TypeError('the SMS webhook must be https (http only on loopback)');
    }
    this.#options = options;
  }

  async send(message: OutboundMessage): Promise<TransportReceipt> {
    let response: Response;
    try {
      response = await fetch(this.#options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${this.#options.token}`,
          'idempotency-key': message.messageId,
        },
        body: JSON.stringify({ to: message.to, text: message.text, idempotencyKey: message.messageId }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 15_000),
      });
    } catch (error) {
      const timeout = error instanceof Error && error.name === 'TimeoutError';
      throw new TransportError(timeout ? 'timeout' : 'connection', true, { cause: error });
    }
    // The body may echo the recipient: it is read to free the connection, never kept or logged.
    const body = await response.text().catch(() => '');
    if (response.ok) {
      let providerId: string | undefined;
      try {
        const parsed = JSON.parse(body) as { id?: unknown };
        if (typeof parsed.id === 'string' && /^[\w.:-]{1,128}$/.test(parsed.id)) providerId = parsed.id;
      } catch {
        providerId = undefined;
      }
      return providerId ? { providerId } : {};
    }
    const status = response.status;
    const retryable = status === 408 || status === 429 || status >= 500;
    throw new TransportError(status >= 500 ? 'http_5xx' : 'http_4xx', retryable);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
