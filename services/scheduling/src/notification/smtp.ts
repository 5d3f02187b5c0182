/**
 * E-mail through whatever SMTP relay the clinic configures (nodemailer): STARTTLS required unless the URL says
 * `smtps:` (implicit TLS) or the relay is a local catcher on loopback; optional AUTH. The Message-ID is the
 * reminder's, so a relay (or the patient's mailbox) can tell a repeated attempt.
 */
import { createTransport, type SendMailOptions } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { ReminderChannel } from './reminder';
import {
  TransportError,
  type MessageTransport,
  type OutboundMessage,
  type TransportReceipt,
} from './transport';

/** Options of {@link SmtpTransport}. */
export interface SmtpTransportOptions {
  /** `smtp://[user:pass@]host:port` (STARTTLS) or `smtps://…` (implicit TLS). */
  readonly url: string;
  /** The From address (`Clinic <no-reply@clinic.example>`). */
  readonly from: string;
  /** Require STARTTLS on `smtp:` (default true; a loopback catcher may turn it off). */
  readonly requireTls?: boolean;
  /** Extra CA certificates (PEM) to trust for the relay. */
  readonly ca?: string | undefined;
  /** Socket and greeting timeouts (default 30 s). */
  readonly timeoutMs?: number;
  /** Keep a pool of connections (default true). */
  readonly pool?: boolean;
}

interface SmtpErrorShape {
  readonly responseCode?: number;
  readonly code?: string;
}

/** Maps a nodemailer error to a TransportError (4xx and connection problems retry; 5xx and auth do not). */
export function smtpFailure(error: unknown): TransportError {
  const e = (error ?? {}) as SmtpErrorShape;
  const code = e.responseCode;
  if (typeof code === 'number' && code >= 400 && code < 500)
    return new TransportError('smtp_4xx', true, { cause: error });
  if (typeof code === 'number' && code >= 500) {
    return e.code === 'EAUTH'
      ? new TransportError('auth', false, { cause: error })
      : new TransportError('smtp_5xx', false, { cause: error });
  }
  if (e.code === 'EAUTH') return new TransportError('auth', false, { cause: error });
  if (e.code === 'ETIMEDOUT') return new TransportError('timeout', true, { cause: error });
  if (e.code === 'ETLS') return new TransportError('tls', false, { cause: error });
  return new TransportError('connection', true, { cause: error });
}

/** The e-mail adapter of the transport port. */
export class SmtpTransport implements MessageTransport {
  readonly channel = ReminderChannel.Email;
  readonly #transporter: { sendMail(mail: SendMailOptions): Promise<unknown>; close(): void };
  readonly #from: string;

  constructor(options: SmtpTransportOptions) {
    const url = new URL(options.url);
    const secure = url.protocol === 'smtps:';
    const timeout = options.timeoutMs ?? 30_000;
    this.#from = options.from;
    const base: SMTPTransport.Options = {
      host: url.hostname,
      port: Number(url.port || (secure ? 465 : 587)),
      secure,
      requireTLS: !secure && (options.requireTls ?? true),
      ignoreTLS: !secure && options.requireTls === false,
      ...(url.username
        ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
        : {}),
      tls: { minVersion: 'TLSv1.2', ...(options.ca ? { ca: options.ca } : {}) },
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    };
    this.#transporter =
      options.pool === false
        ? createTransport(base)
        : createTransport({ ...base, pool: true, maxConnections: 2 });
  }

  async send(message: OutboundMessage): Promise<TransportReceipt> {
    try {
      await this.#transporter.sendMail({
        from: this.#from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        messageId: message.messageId,
        ...(message.unsubscribeUrl
          ? {
              list: { unsubscribe: message.unsubscribeUrl },
              headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
            }
          : {}),
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      return {};
    } catch (error) {
      throw smtpFailure(error);
    }
  }

  close(): Promise<void> {
    this.#transporter.close();
    return Promise.resolve();
  }
}
