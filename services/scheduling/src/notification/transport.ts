/**
 * The transport port of the notification outbox: e-mail (SMTP) and SMS adapters implement it, and one
 * contract suite (`transport.contract.ts`) runs against each. An adapter translates its vendor's errors into
 * {@link TransportError} with a retryable flag and a fixed reason code: never the recipient or the text.
 */
import type { ReminderChannel } from './reminder';

/** One message to one recipient. */
export interface OutboundMessage {
  /** Stable across attempts: derived from the reminder id (SMTP `Message-ID`, an idempotency key for HTTP). */
  readonly messageId: string;
  /** An e-mail address or an E.164 phone number. PHI: never logged, never stored in an event. */
  readonly to: string;
  /** E-mail only. */
  readonly subject: string;
  readonly text: string;
  /**
   * E-mail only: the one-click unsubscribe URL (RFC 8058: `List-Unsubscribe: <url>` and
   * `List-Unsubscribe-Post: List-Unsubscribe=One-Click`). Names no address.
   */
  readonly unsubscribeUrl?: string;
}

/** What a transport says when it took the message. */
export interface TransportReceipt {
  /** The provider's own id, when it gives one (no PHI). */
  readonly providerId?: string;
}

/** A send that did not go through. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    /** A fixed code: `smtp_4xx`, `smtp_5xx`, `connection`, `timeout`, `auth`, `http_4xx`, `http_5xx`. */
    readonly reason: string,
    /** True when the same message may succeed later (4xx, connection, timeout). */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(`transport failed: ${reason}${retryable ? ' (will retry)' : ''}`, options);
  }
}

/** A way to reach a patient. */
export interface MessageTransport {
  readonly channel: ReminderChannel;
  /** Sends one message. Throws TransportError when it was not accepted. */
  send(message: OutboundMessage): Promise<TransportReceipt>;
  /** Releases connections. */
  close(): Promise<void>;
}
