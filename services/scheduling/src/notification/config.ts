/**
 * Configuration and wiring of the reminder outbox: the SMTP relay (HAVEN_SMTP_*), clinic settings (name,
 * language, reminder offsets, passcode delivery) and the sender's policy. No relay configured = no outbox.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ConsumerHealth, EventStore, Subscription } from '@haven/eventstore';
import type { SchedulingDeps } from '../deps';
import { DEFAULT_OUTBOX_POLICY } from './decide';
import { ReminderOutbox } from './outbox';
import { SmtpTransport } from './smtp';
import { WebhookSmsTransport } from './sms-webhook';
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
  /** The webhook's bearer token (with HAVEN_SMS_WEBHOOK_URL). */
  HAVEN_SMS_WEBHOOK_TOKEN: z.string().min(16).optional(),
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
   * link; messages carry the link only and wait until it is issued.
   */
  HAVEN_PASSCODE_DELIVERY: z.enum(['front-desk']).default('front-desk'),
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
  /** Reminders one sender sends at once. */
  HAVEN_REMINDER_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(4),
  /** How often the sender looks for due reminders. */
  HAVEN_REMINDER_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
};

type NotificationConfig = z.output<z.ZodObject<typeof notificationConfigShape>>;

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
  if (config.HAVEN_SMS_WEBHOOK_URL) {
    if (!config.HAVEN_SMS_WEBHOOK_TOKEN)
      throw new Error('HAVEN_SMS_WEBHOOK_TOKEN is required with HAVEN_SMS_WEBHOOK_URL');
    transports.push(
      new WebhookSmsTransport({ url: config.HAVEN_SMS_WEBHOOK_URL, token: config.HAVEN_SMS_WEBHOOK_TOKEN }),
    );
  }
  if (transports.length === 0) return undefined;
  const domain = /@([^>\s]+)>?\s*$/.exec(config.HAVEN_SMTP_FROM)?.[1] ?? 'localhost';
  const outbox = new ReminderOutbox(
    deps,
    transports,
    {
      clinicName: config.HAVEN_CLINIC_NAME,
      language: config.HAVEN_NOTIFY_LANGUAGE,
      passcodeDelivery: config.HAVEN_PASSCODE_DELIVERY,
      messageDomain: domain,
      templates: DEFAULT_TEMPLATES,
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
    { pollMs: config.HAVEN_REMINDER_POLL_MS, concurrency: config.HAVEN_REMINDER_CONCURRENCY },
  );
  const subscription = await outbox.follow(store, deps.logger, health);
  outbox.start();
  return { outbox, subscription };
}
