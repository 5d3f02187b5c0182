/**
 * Test support: the configuration scheduling's integration suites start it with, and the outbox's fixture (a
 * registered patient, a booking with its link, a transport that keeps what it is given) for its specs and bench.
 */
import { join } from 'node:path';
import { sealPhi, type PatientKeyStore } from '@haven/crypto';
import { newEvent, type EventStore } from '@haven/eventstore';
import { loadConfig, type Logger } from '@haven/service';
import { DEFAULT_OUTBOX_POLICY, reminderIdOf, type OutboxPolicy } from './notification/decide';
import { ReminderOutbox, type NotificationSettings, type ReminderOutboxOptions } from './notification/outbox';
import {
  ReminderChannel,
  ReminderEventType,
  ReminderKind,
  reminderStream,
  type ReminderPlan,
} from './notification/reminder';
import { SmtpTransport } from './notification/smtp';
import { DEFAULT_TEMPLATES } from './notification/template';
import type { MessageTransport, OutboundMessage } from './notification/transport';
import { schedulingConfigSchema, type SchedulingConfig } from './server';

/**
 * The service's configuration for a suite: `natsEnv` (the suite's NATS user), the suite's JWKS, ephemeral
 * ports, data and local keyring under `dataDir`, a short shutdown grace; `extra` adds or overrides variables.
 */
export function testSchedulingConfig(
  natsEnv: Readonly<Record<string, string>>,
  options: { readonly jwksUrl: string; readonly dataDir: string },
  extra: Readonly<Record<string, string>> = {},
): SchedulingConfig {
  return loadConfig(schedulingConfigSchema, {
    ...natsEnv,
    HAVEN_GRPC_PORT: '0',
    HAVEN_HTTP_PORT: '0',
    HAVEN_JWKS_URL: options.jwksUrl,
    HAVEN_DATA_DIR: join(options.dataDir, 'scheduling'),
    HAVEN_KEYRING_FILE: join(options.dataDir, 'keyring.json'),
    HAVEN_SHUTDOWN_GRACE_MS: '500',
    ...extra,
  });
}

/**
 * A `wrapStore` for the service: appends to the patient-access streams (PhiAccessed) fail while `failing()` says
 * so, everything else passes through — to prove that no PHI leaves when its access cannot be recorded.
 */
export function failingPhiAccessAppends(failing: () => boolean): (inner: EventStore) => EventStore {
  return (inner) => ({
    append: (stream, expected, events) =>
      failing() && stream.startsWith('scheduling.patient_access-')
        ? Promise.reject(new Error('injected: the store is down'))
        : inner.append(stream, expected, events),
    read: (stream, options) => inner.read(stream, options),
    subscribe: (options) => inner.subscribe(options),
    head: (options) => inner.head(options),
    deleteStream: (stream) => inner.deleteStream(stream),
    close: () => inner.close(),
  });
}

const actor = { kind: 'service', id: 'scheduling' } as const;

/** Appends the PatientRegistered of `patientId`, `fields` (names, contact) sealed under the patient's key. */
export async function givenRegisteredPatient(
  store: Pick<EventStore, 'append'>,
  keys: PatientKeyStore,
  patientId: string,
  fields: Readonly<Record<string, string>>,
): Promise<void> {
  const phi = await sealPhi(keys, patientId, fields);
  await store.append(`scheduling.patient-${patientId}`, 'no_stream', [
    newEvent({
      type: 'haven.scheduling.v1.PatientRegistered',
      data: { patientId, keyId: phi.keyId },
      phi,
      actor,
    }),
  ]);
}

/** An appointment and its patient link, as {@link givenBookingWithLink} stores them. */
export interface BookingWithLink {
  readonly appointmentId: string;
  readonly patientId: string;
  readonly clinicianId: string;
  readonly startTime: string;
  readonly endTime: string;
  readonly linkId: string;
  /** The link's token, sealed with the link (and the passcode, when given). */
  readonly linkToken: string;
  readonly passcode?: string;
}

/** Appends AppointmentBooked and PatientLinkIssued on the appointment's stream (a new one). */
export async function givenBookingWithLink(
  store: Pick<EventStore, 'append'>,
  keys: PatientKeyStore,
  b: BookingWithLink,
): Promise<void> {
  const { appointmentId, patientId, clinicianId, startTime, endTime } = b;
  const phi = await sealPhi(keys, patientId, {
    linkToken: b.linkToken,
    ...(b.passcode !== undefined ? { passcode: b.passcode } : {}),
  });
  await store.append(`scheduling.appointment-${appointmentId}`, 'no_stream', [
    newEvent({
      type: 'haven.scheduling.v1.AppointmentBooked',
      data: { appointmentId, clinicianId, patientId, startTime, endTime },
      actor,
    }),
    newEvent({
      type: 'haven.scheduling.v1.PatientLinkIssued',
      data: {
        appointmentId,
        linkId: b.linkId,
        tokenSha256: 'x',
        passcodeHash: 'x',
        dateOfBirthRequired: false,
        issuedAt: new Date().toISOString(),
      },
      phi,
      actor,
    }),
  ]);
}

/** Appends the ReminderScheduled of `plan`, due a second ago; resolves with its reminder id. */
export async function givenDueReminder(
  store: Pick<EventStore, 'append'>,
  plan: Omit<ReminderPlan, 'reminderId' | 'dueAt'>,
): Promise<string> {
  const reminderId = reminderIdOf(plan);
  await store.append(reminderStream(reminderId), 'no_stream', [
    newEvent({
      type: ReminderEventType.Scheduled,
      data: { ...plan, reminderId, dueAt: new Date(Date.now() - 1000).toISOString() },
      actor,
    }),
  ]);
  return reminderId;
}

/**
 * Appends a due "new message" notice to `patientId` (kind `message`: no appointment, so nothing blocks an
 * erasure), by e-mail unless `channel` says otherwise; resolves with its reminder id.
 */
export function givenDueMessageNotice(
  store: Pick<EventStore, 'append'>,
  notice: { patientId: string; threadId: string; secureMessageId: string; channel?: ReminderChannel },
): Promise<string> {
  return givenDueReminder(store, {
    appointmentId: '',
    patientId: notice.patientId,
    clinicianId: '',
    kind: ReminderKind.Message,
    channel: notice.channel ?? ReminderChannel.Email,
    startTime: new Date().toISOString(),
    threadId: notice.threadId,
    secureMessageId: notice.secureMessageId,
  });
}

/** A transport for `channel` that accepts every message and keeps it in `sent`. */
export class CapturingTransport implements MessageTransport {
  readonly sent: OutboundMessage[] = [];
  constructor(readonly channel: ReminderChannel) {}
  send(message: OutboundMessage) {
    this.sent.push(message);
    return Promise.resolve({});
  }
  close() {
    return Promise.resolve();
  }
}

/** What a spec changes in {@link testOutbox}'s settings: any of them, and the policy field by field. */
export type TestOutboxSettings = Partial<Omit<NotificationSettings, 'policy'>> & {
  readonly policy?: Partial<OutboxPolicy>;
};

/**
 * A reminder outbox as the specs and the bench run it, sending through `transports`: linking to
 * `https://visits.<domain>` with `<domain>` in its Message-IDs, English default templates, the passcode read out by
 * the front desk and the default policy, unless `settings` says otherwise.
 */
export function testOutbox(
  deps: { store: EventStore; keys: PatientKeyStore; logger: Logger; clock?: () => Date },
  transports: readonly MessageTransport[],
  site: { domain: string; clinicName: string },
  settings: TestOutboxSettings = {},
  options: ReminderOutboxOptions = {},
): ReminderOutbox {
  const { store, keys, logger, clock = () => new Date() } = deps;
  const { policy, ...rest } = settings;
  return new ReminderOutbox(
    {
      store,
      clock,
      keys,
      logger,
      settings: { requireDobCheck: false, publicUrl: `https://visits.${site.domain}`, timeZone: 'UTC' },
    },
    transports,
    {
      clinicName: site.clinicName,
      language: 'en',
      passcodeDelivery: 'front-desk',
      messageDomain: site.domain,
      templates: DEFAULT_TEMPLATES,
      ...rest,
      policy: { ...DEFAULT_OUTBOX_POLICY, ...policy },
    },
    options,
  );
}

/**
 * A {@link testOutbox} sending e-mail to a local catcher on `smtp.port`, as the outbox's crash and erasure specs run
 * it: no reminder offsets (invitations only) unless `policy` says otherwise.
 */
export function catcherOutbox(
  deps: { store: EventStore; keys: PatientKeyStore; logger: Logger; clock?: () => Date },
  smtp: { port: number; domain: string; clinicName: string },
  policy: Partial<OutboxPolicy> = {},
  options: ReminderOutboxOptions = {},
): ReminderOutbox {
  const transport = new SmtpTransport({
    url: `smtp://127.0.0.1:${smtp.port}`,
    from: `C <no-reply@${smtp.domain}>`,
    requireTls: false,
  });
  return testOutbox(deps, [transport], smtp, { policy: { offsetsMinutes: [], ...policy } }, options);
}
