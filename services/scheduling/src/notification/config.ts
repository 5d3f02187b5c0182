/**
 * Configuration and wiring of the reminder outbox: the SMTP relay (HAVEN_SMTP_*), clinic settings (name,
 * language, reminder offsets, passcode delivery) and the sender's policy. No relay configured = no outbox.
 */
import { readFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { z } from 'zod';
import type { ConsumerHealth, EventStore, Subscription } from '@haven/eventstore';
import type { SchedulingDeps } from '../deps';
import { DEFAULT_OUTBOX_POLICY } from './decide';
import { ReminderOutbox } from './outbox';
import { SmtpTransport } from './smtp';
import { WebhookSmsTransport } from './sms-webhook';
import { TwilioSmsTransport } from './sms-twilio';
import { inboundSmsRoutes, INBOUND_TWILIO_PATH } from '../contact/inbound-sms';
import type { ContactKeyer, UnsubscribeTokens } from '../contact/contact-key';
import type { AcceptedMarks } from './accepted-marks';
import type { MessageTransport } from './transport';
import { DEFAULT_TEMPLATES } from './template';

const DURATION = /^(\d+)(m|h|d)$/;
const UNIT_MINUTES = { m: 1, h: 60, d: 24 * 60 } as const;

/** `24h,1h,90m` → minutes, largest first. */
export function parseOffsets(raw: string): number[] {
  return [
    ...new Set(
      raw.split(',').map((part) => {
        const m = DURATION.exec(part.trim());
        if (!m) throw new Error('bad offset');
        return Number(m[1]) * UNIT_MINUTES[m[2] as keyof typeof UNIT_MINUTES];
      }),
    ),
  ].sort((a, b) => b - a);
}

const offsets = z
  .string()
  .default('24h,1h')
  .refine(
    (v) => {
      try {
        return v.trim() === '' || parseOffsets(v).every((m) => m > 0 && m <= 30 * 24 * 60);
      } catch {
        return false;
      }
    },
    { message: 'must be a comma-separated list of durations such as 24h,1h or 90m (at most 30d)' },
  );

const flag = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback)
    .transform((v) => v === 'true' || v === '1');

/** The outbox's variables, part of the scheduling service's configuration schema. */
export const notificationConfigShape = {
  /** SMTP relay, `smtp://host:587` (STARTTLS) or `smtps://host:465`; unset = no e-mail (and no outbox). */
  HAVEN_SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  /** SMTP AUTH user (optional). */
  HAVEN_SMTP_USER: z.string().optional(),
  /** SMTP AUTH password (with HAVEN_SMTP_USER). */
  HAVEN_SMTP_PASSWORD: z.string().optional(),
  /** Refuse a relay without STARTTLS on `smtp:` (default true; only a loopback catcher may do without). */
  HAVEN_SMTP_REQUIRE_TLS: flag('true'),
  /** Extra CA certificate (PEM file) for the relay. */
  HAVEN_SMTP_CA_FILE: z.string().min(1).optional(),
  /** The From address of patient messages. */
  HAVEN_SMTP_FROM: z.string().min(3).default('Haven <no-reply@localhost>'),
  /**
   * SMS through a generic HTTP webhook (JSON POST of recipient and text, bearer token, Idempotency-Key);
   * unset = no SMS. `https:` (plain `http:` only on loopback).
   */
  HAVEN_SMS_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The webhook's bearer token (with HAVEN_SMS_WEBHOOK_URL); also the HMAC key of its inbound replies. */
  HAVEN_SMS_WEBHOOK_TOKEN: z.string().min(16).optional(),
  /** Which SMS provider sends: `webhook` (HAVEN_SMS_WEBHOOK_*) or `twilio` (HAVEN_TWILIO_*); unset = none. */
  HAVEN_SMS_PROVIDER: z.enum(['webhook', 'twilio']).optional(),
  /** Twilio account SID (`AC…`), with HAVEN_SMS_PROVIDER=twilio. */
  HAVEN_TWILIO_ACCOUNT_SID: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/)
    .optional(),
  /** Twilio auth token: authenticates sends and checks the signature of inbound replies. */
  HAVEN_TWILIO_AUTH_TOKEN: z.string().min(16).optional(),
  /** The Twilio sender: an E.164 number or a Messaging Service SID (`MG…`). */
  HAVEN_TWILIO_FROM: z.string().min(3).optional(),
  /**
   * The public URL configured at Twilio for inbound messages (its signature covers it); default
   * `<HAVEN_PUBLIC_URL>/sms/inbound/twilio`.
   */
  HAVEN_TWILIO_INBOUND_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Clinic setting: the clinic's name as patients know it (messages name it). */
  HAVEN_CLINIC_NAME: z.string().min(1).max(80).default('Haven clinic'),
  /** Clinic setting: the language of patient messages (templates per language; fallback English). */
  HAVEN_NOTIFY_LANGUAGE: z
    .string()
    .regex(/^[a-z]{2,3}(-[A-Z]{2})?$/)
    .default('en'),
  /** Clinic setting: reminders this long before the start (comma-separated; empty = none). */
  HAVEN_REMINDER_OFFSETS: offsets,
  /**
   * Clinic setting: how the passcode reaches the patient. `front-desk`: staff read it out when they issue the
   * link; `sms`: the link goes by e-mail and the passcode alone by SMS; `email`: the link by SMS and the
   * passcode alone by e-mail (both need the SMTP relay and an SMS provider). Messages with the link wait until
   * it is issued.
   */
  HAVEN_PASSCODE_DELIVERY: z.enum(['front-desk', 'sms', 'email']).default('front-desk'),
  /** Attempts before a retryable send failure is final. */
  HAVEN_REMINDER_MAX_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(20)
    .default(DEFAULT_OUTBOX_POLICY.maxAttempts),
  /** First retry delay (doubling up to 30 min). */
  HAVEN_REMINDER_RETRY_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(3_600_000)
    .default(DEFAULT_OUTBOX_POLICY.minBackoffMs),
  /** How long one send attempt owns a reminder before a restarted or other sender takes it over. */
  HAVEN_REMINDER_LEASE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(DEFAULT_OUTBOX_POLICY.leaseMs),
  /** Reminders one sender has in flight at once (their store appends and SMTP sends overlap). */
  HAVEN_REMINDER_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(ReminderOutbox.DEFAULT_CONCURRENCY),
  /** How often the sender looks for due reminders. */
  HAVEN_REMINDER_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
};

type NotificationConfig = z.output<z.ZodObject<typeof notificationConfigShape>>;

/** The provider that sends SMS (HAVEN_SMS_PROVIDER; a webhook URL alone still means `webhook`). */
export function smsProviderOf(config: NotificationConfig): 'webhook' | 'twilio' | undefined {
  return config.HAVEN_SMS_PROVIDER ?? (config.HAVEN_SMS_WEBHOOK_URL ? 'webhook' : undefined);
}

/** The configured SMS transport, if any. Throws naming the variable that is missing. */
export function smsTransport(config: NotificationConfig): MessageTransport | undefined {
  switch (smsProviderOf(config)) {
    case 'webhook':
      if (!config.HAVEN_SMS_WEBHOOK_URL) throw new Error('HAVEN_SMS_WEBHOOK_URL is required for the webhook');
      if (!config.HAVEN_SMS_WEBHOOK_TOKEN)
        throw new Error('HAVEN_SMS_WEBHOOK_TOKEN is required with HAVEN_SMS_WEBHOOK_URL');
      return new WebhookSmsTransport({
        url: config.HAVEN_SMS_WEBHOOK_URL,
        token: config.HAVEN_SMS_WEBHOOK_TOKEN,
      });
    case 'twilio':
      if (!config.HAVEN_TWILIO_ACCOUNT_SID)
        throw new Error('HAVEN_TWILIO_ACCOUNT_SID is required for Twilio');
      if (!config.HAVEN_TWILIO_AUTH_TOKEN) throw new Error('HAVEN_TWILIO_AUTH_TOKEN is required for Twilio');
      if (!config.HAVEN_TWILIO_FROM) throw new Error('HAVEN_TWILIO_FROM is required for Twilio');
      return new TwilioSmsTransport({
        accountSid: config.HAVEN_TWILIO_ACCOUNT_SID,
        authToken: config.HAVEN_TWILIO_AUTH_TOKEN,
        from: config.HAVEN_TWILIO_FROM,
      });
    case undefined:
      return undefined;
  }
}

/** The inbound SMS routes of the configured provider (STOP / START replies), empty without SMS. */
export function smsInboundRoutes(
  config: NotificationConfig & { readonly HAVEN_PUBLIC_URL: string },
  deps: Pick<SchedulingDeps, 'store' | 'clock' | 'logger'>,
  keyer: ContactKeyer,
): Map<string, RequestListener> {
  const provider = smsProviderOf(config);
  if (provider === undefined) return new Map();
  return inboundSmsRoutes({
    ...deps,
    keyer,
    twilio:
      provider === 'twilio' && config.HAVEN_TWILIO_AUTH_TOKEN
        ? {
            authToken: config.HAVEN_TWILIO_AUTH_TOKEN,
            url:
              config.HAVEN_TWILIO_INBOUND_URL ??
              `${config.HAVEN_PUBLIC_URL.replace(/\/+$/, '')}${INBOUND_TWILIO_PATH}`,
          }
        : undefined,
    webhook:
      provider === 'webhook' && config.HAVEN_SMS_WEBHOOK_TOKEN
        ? { token: config.HAVEN_SMS_WEBHOOK_TOKEN }
        : undefined,
  });
}

/** A running outbox. */
export interface RunningNotifications {
  readonly outbox: ReminderOutbox;
  readonly subscription: Subscription;
}

/**
 * Starts the outbox when a relay or an SMS webhook is configured; undefined otherwise. Throws when the CA file
 * is unreadable or the webhook has no token.
 */
export async function startNotifications(
  config: NotificationConfig,
  deps: SchedulingDeps,
  store: EventStore,
  health: ConsumerHealth,
  keyer?: ContactKeyer,
  unsubscribe?: UnsubscribeTokens,
  openMarks?: () => Promise<AcceptedMarks | undefined>,
): Promise<RunningNotifications | undefined> {
  const transports: MessageTransport[] = [];
  if (config.HAVEN_SMTP_URL) {
    const url = new URL(config.HAVEN_SMTP_URL);
    if (config.HAVEN_SMTP_USER) {
      url.username = encodeURIComponent(config.HAVEN_SMTP_USER);
      url.password = encodeURIComponent(config.HAVEN_SMTP_PASSWORD ?? '');
    }
    transports.push(
      new SmtpTransport({
        url: url.toString(),
        from: config.HAVEN_SMTP_FROM,
        requireTls: config.HAVEN_SMTP_REQUIRE_TLS,
        ca: config.HAVEN_SMTP_CA_FILE ? readFileSync(config.HAVEN_SMTP_CA_FILE, 'utf8') : undefined,
      }),
    );
  }
  const sms = smsTransport(config);
  if (sms) transports.push(sms);
  if (config.HAVEN_PASSCODE_DELIVERY !== 'front-desk' && (!config.HAVEN_SMTP_URL || !sms)) {
    throw new Error(
      `HAVEN_PASSCODE_DELIVERY=${config.HAVEN_PASSCODE_DELIVERY} needs both HAVEN_SMTP_URL and an SMS provider ` +
        '(the passcode never goes by the channel of the link)',
    );
  }
  if (transports.length === 0) return undefined;
  const marks = await openMarks?.();
  const domain = /@([^>\s]+)>?\s*$/.exec(config.HAVEN_SMTP_FROM)?.[1] ?? 'localhost';
  const outbox = new ReminderOutbox(
    deps,
    transports,
    {
      clinicName: config.HAVEN_CLINIC_NAME,
      language: config.HAVEN_NOTIFY_LANGUAGE,
      // The clinic settings' when an admin saved one (read on every use), else HAVEN_PASSCODE_DELIVERY.
      get passcodeDelivery() {
        return deps.settings.passcodeDelivery ?? config.HAVEN_PASSCODE_DELIVERY;
      },
      messageDomain: domain,
      templates: DEFAULT_TEMPLATES,
      ...(keyer ? { contactKeyer: keyer } : {}),
      ...(unsubscribe && config.HAVEN_SMTP_URL ? { unsubscribe } : {}),
      policy: {
        ...DEFAULT_OUTBOX_POLICY,
        offsetsMinutes:
          config.HAVEN_REMINDER_OFFSETS.trim() === '' ? [] : parseOffsets(config.HAVEN_REMINDER_OFFSETS),
        channels: transports.map((t) => t.channel),
        maxAttempts: config.HAVEN_REMINDER_MAX_ATTEMPTS,
        minBackoffMs: config.HAVEN_REMINDER_RETRY_MS,
        leaseMs: config.HAVEN_REMINDER_LEASE_MS,
      },
    },
    {
      pollMs: config.HAVEN_REMINDER_POLL_MS,
      concurrency: config.HAVEN_REMINDER_CONCURRENCY,
      ...(marks ? { marks } : {}),
    },
  );
  const subscription = await outbox.follow(store, deps.logger, health);
  outbox.start();
  return { outbox, subscription };
}
