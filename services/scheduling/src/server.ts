/**
 * Wiring of the scheduling service: configuration → event store, keyring, patient key store, patient-token
 * key → read model and session follower → gRPC server + JWKS over HTTP. Used by index.ts and by tests.
 */
import type { RequestListener } from 'node:http';
import { join, resolve } from 'node:path';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import { FilePatientKeyStore, openKmsFromEnv } from '@haven/crypto';
import {
  ConsumerHealth,
  connectNats,
  FileSnapshotStore,
  type EventStore,
  type SnapshotStore,
  type Subscription,
} from '@haven/eventstore';
import {
  CLINIC_SETTING_DEFAULTS,
  connectEventStore,
  createBaseConfigSchema,
  DEFAULT_GRPC_PORTS,
  kmsConfigShapeRequiringKeyring,
  kmsEnvOf,
  natsCredentialsOf,
  portSchema,
  serveHavenGrpc,
  startJwksServer,
  type ClinicSettingValues,
  type JwksServer,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { EventBus, startRelay } from '@haven/bus';
import { scheduling } from '@haven/proto';
import {
  bookAppointment,
  cancelAppointment,
  getAppointment,
  listAppointments,
  markNoShow,
  rescheduleAppointment,
} from './appointment/grpc';
import {
  contactKeyer,
  openContactSecret,
  unsubscribeTokens,
  type ContactKeyer,
  type UnsubscribeTokens,
} from './contact/contact-key';
import { emailUnsubscribeRoutes } from './contact/email-unsubscribe';
import type { SchedulingDeps, SchedulingSettings } from './deps';
import { issuePatientLink, redeemPatientLink } from './link/grpc';
import { messageHandlers } from './message/grpc';
import { MessageThreadIndex } from './message/thread-index';
import { issueGuestLink, redeemGuestLink } from './guest-link/grpc';
import { openPatientTokenSigner, type PatientTokenSigner } from './link/patient-token';
import { createPatient, getPatient, listPatients } from './patient/grpc';
import { erasePatient, ErasureFinisher } from './patient/erase';
import { NatsAcceptedMarks } from './notification/accepted-marks';
import { DeliveryStatusIndex, listMessageDeliveries } from './notification/delivery-status';
import { SchedulingReadModel } from './read-model';
import { hostTimeZone, isTimeZone } from './schedule/clinic-time';
import { BookingReconciler, type BookingReconcilerOptions } from './schedule/reconciler';
import { followSessions } from './session-follower';
import {
  notificationConfigShape,
  smsInboundRoutes,
  smsProviderOf,
  startNotifications,
  type RunningNotifications,
} from './notification/config';
import { getMessageTemplateSet, previewMessageTemplate, updateMessageTemplateSet } from './notification/grpc';
import { getClinicSettings, updateClinicSettings } from './settings/grpc';
import { getUsageReport } from './usage/grpc';

export const SCHEDULING_GRPC_PORT = DEFAULT_GRPC_PORTS.scheduling;
export const SCHEDULING_HTTP_PORT = 8083;

const booleanFlag = z
  .enum(['true', 'false', '1', '0'])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

export const schedulingConfigSchema = createBaseConfigSchema({ grpcPort: SCHEDULING_GRPC_PORT }).extend({
  /** The patient-token JWKS over HTTP (`/.well-known/jwks.json`). */
  HAVEN_HTTP_PORT: portSchema(SCHEDULING_HTTP_PORT),
  /** The service's own state (patient keys, patient-token signing key). */
  HAVEN_DATA_DIR: z.string().min(1),
  /**
   * The KMS that wraps the patient data keys: HAVEN_KMS local | pkcs11 | vault-transit and its settings. The
   * local keyring (HAVEN_KEYRING_FILE, required with `local`) is created (0600) on first start.
   */
  ...kmsConfigShapeRequiringKeyring,
  /** Clinic setting: every patient link also asks for the date of birth. */
  HAVEN_REQUIRE_DOB_CHECK: booleanFlag,
  /** Base URL of the web app; patient join links are `<url>/join#<token>`. */
  HAVEN_PUBLIC_URL: z.url({ protocol: /^https?$/ }).default('http://localhost:8080'),
  /**
   * Clinic setting: the IANA time zone the clinic works in (`Europe/Berlin`); messages name times in it, with
   * its UTC offset at that date (DST-safe). Default: the host's time zone.
   */
  HAVEN_CLINIC_TIME_ZONE: z
    .string()
    .refine(isTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin' })
    .default(() => hostTimeZone()),
  ...notificationConfigShape,
});
export type SchedulingConfig = z.output<typeof schedulingConfigSchema>;

/** A running scheduling service: gRPC plus the JWKS HTTP server. */
export interface RunningScheduling extends RunningGrpcService {
  readonly httpPort: number;
  readonly deps: SchedulingDeps;
  readonly reconciler: BookingReconciler;
  /** The reminder outbox, when a transport is configured (HAVEN_SMTP_URL). */
  readonly notifications: RunningNotifications | undefined;
}

/** Test hooks of {@link startScheduling}. */
export interface StartSchedulingOptions {
  readonly host?: string;
  /** Wraps the event store the handlers use (fault injection in tests). */
  readonly wrapStore?: (store: EventStore) => EventStore;
  readonly clock?: () => Date;
  /** Timing of the booking reconciler (tests shorten it). */
  readonly reconciler?: BookingReconcilerOptions;
  /** Where clinician-schedule snapshots go (default: files under HAVEN_DATA_DIR/snapshots). */
  readonly snapshots?: SnapshotStore;
}

/** One secret keys phone numbers (the STOP list) and e-mail addresses (the unsubscribe tokens). */
async function openContacts(
  config: SchedulingConfig,
  dataDir: string,
): Promise<{ keyer?: ContactKeyer | undefined; unsubscribe?: UnsubscribeTokens | undefined }> {
  const sms = smsProviderOf(config) !== undefined;
  if (!sms && !config.HAVEN_SMTP_URL) return {};
  const secret = await openContactSecret(dataDir);
  return {
    keyer: sms ? contactKeyer(secret) : undefined,
    unsubscribe: config.HAVEN_SMTP_URL ? unsubscribeTokens(secret) : undefined,
  };
}

/** The HTTP routes of patients' replies: SMS STOP / START webhooks and the e-mail unsubscribe. */
function contactRoutes(
  config: SchedulingConfig,
  deps: SchedulingDeps,
  keyer: ContactKeyer | undefined,
  unsubscribe: UnsubscribeTokens | undefined,
): Map<string, RequestListener> {
  return new Map([
    ...(keyer ? smsInboundRoutes(config, deps, keyer) : []),
    ...(unsubscribe
      ? emailUnsubscribeRoutes({ ...deps, tokens: unsubscribe, clinicName: config.HAVEN_CLINIC_NAME })
      : []),
  ]);
}

/**
 * The settings the handlers read: the clinic settings an admin saved (read through the read model on every use,
 * so a change applies at once), else the deployment's environment.
 */
function schedulingSettingsOf(config: SchedulingConfig, readModel: SchedulingReadModel): SchedulingSettings {
  const defaults: ClinicSettingValues = {
    ...CLINIC_SETTING_DEFAULTS,
    timeZone: config.HAVEN_CLINIC_TIME_ZONE,
    passcodeDelivery: config.HAVEN_PASSCODE_DELIVERY,
  };
  const inForce = () => readModel.clinicSettings(defaults);
  return {
    requireDobCheck: config.HAVEN_REQUIRE_DOB_CHECK,
    publicUrl: config.HAVEN_PUBLIC_URL,
    get timeZone() {
      return inForce().timeZone;
    },
    get passcodeDelivery() {
      return inForce().passcodeDelivery;
    },
    get linkGraceMinutes() {
      return inForce().linkGraceMinutes;
    },
    clinic: {
      defaults,
      canSendPasscode: Boolean(config.HAVEN_SMTP_URL) && smsProviderOf(config) !== undefined,
    },
  };
}

/**
 * Starts the scheduling service. Throws when NATS, the keyring, the data directory or a port is unavailable.
 */
export async function startScheduling(
  config: SchedulingConfig,
  logger: Logger,
  options: StartSchedulingOptions = {},
): Promise<RunningScheduling> {
  const dataDir = resolve(config.HAVEN_DATA_DIR);
  const kms = await openKmsFromEnv(kmsEnvOf(config), { create: true });
  const keys = new FilePatientKeyStore({ dir: join(dataDir, 'patient-keys'), kms });
  const patientTokens: PatientTokenSigner = await openPatientTokenSigner({
    dataDir,
    audience: config.HAVEN_JWT_AUDIENCE,
  });
  const nc = await connectNats({ ...natsCredentialsOf(config), name: 'haven-scheduling' });
  let rawStore: EventStore;
  try {
    rawStore = await connectEventStore(config, 'scheduling', { logger });
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
  const store = options.wrapStore ? options.wrapStore(rawStore) : rawStore;
  const subscriptions: Subscription[] = [];
  let http: JwksServer | undefined;
  let reconciler: BookingReconciler | undefined;
  let notifications: RunningNotifications | undefined;
  try {
    const readModel = new SchedulingReadModel();
    const deps: SchedulingDeps = {
      store,
      clock: options.clock ?? (() => new Date()),
      keys,
      logger,
      settings: schedulingSettingsOf(config, readModel),
      patientTokens,
      readModel,
      snapshots:
        options.snapshots ??
        new FileSnapshotStore({
          dir: join(dataDir, 'snapshots'),
          onError: (error) => logger.warn({ err: error }, 'could not write a schedule snapshot'),
        }),
    };
    // Each consumer heals itself after a NATS outage; while one is behind the service is NOT_SERVING.
    const consumers = new ConsumerHealth();
    const bookings = new BookingReconciler(deps, options.reconciler);
    reconciler = bookings;
    const threads = new MessageThreadIndex();
    const deliveries = new DeliveryStatusIndex();
    // A PatientErased whose key destruction a crash interrupted is finished when the read model replays it.
    const erasures = new ErasureFinisher(keys, logger);
    subscriptions.push(
      await readModel.follow(rawStore, logger, {
        observer: (event) => {
          bookings.observe(event);
          threads.apply(event);
          deliveries.apply(event);
          erasures.observe(event);
        },
        health: consumers,
      }),
    );
    bookings.start();
    subscriptions.push(await followSessions(deps, rawStore, logger, consumers));
    const { keyer, unsubscribe } = await openContacts(config, dataDir);
    notifications = await startNotifications(config, deps, rawStore, consumers, keyer, unsubscribe, () =>
      NatsAcceptedMarks.open(nc, 'scheduling', logger),
    );
    if (notifications) subscriptions.push(notifications.subscription);
    const outbox = notifications?.outbox;
    http = await startJwksServer({
      port: config.HAVEN_HTTP_PORT,
      ...(options.host ? { host: options.host } : {}),
      jwks: patientTokens.jwks,
      logger,
      routes: contactRoutes(config, deps, keyer, unsubscribe),
    });
    const httpServer = http;
    // Scheduling events fan out on haven.bus.scheduling.* for other services and hospital systems.
    const bus = await EventBus.create(nc, { logger, replicas: config.HAVEN_JETSTREAM_REPLICAS });
    subscriptions.push(
      await startRelay({ store: rawStore, bus, context: 'scheduling', logger, health: consumers }),
    );
    const grpcService = await serveHavenGrpc({
      name: 'scheduling',
      store: rawStore,
      consumers,
      config,
      logger,
      host: options.host,
      publicMethods: [
        '/haven.scheduling.v1.SchedulingService/RedeemPatientLink',
        '/haven.scheduling.v1.SchedulingService/RedeemGuestLink',
      ],
      services: [
        {
          definition: scheduling.SchedulingServiceService,
          handlers: schedulingHandlers(deps, threads, deliveries, config.HAVEN_CLINIC_NAME),
        },
      ],
      onShutdown: [
        () => bookings.stop(),
        async () => outbox?.stop(),
        () => httpServer.close(),
        () => closeStore(rawStore, subscriptions, nc),
      ],
    });
    return { ...grpcService, httpPort: http.port, deps, reconciler: bookings, notifications };
  } catch (error) {
    await reconciler?.stop();
    await notifications?.outbox.stop();
    await http?.close();
    await closeStore(rawStore, subscriptions, nc);
    throw error;
  }
}

/** The SchedulingService handlers. */
function schedulingHandlers(
  deps: SchedulingDeps,
  threads: MessageThreadIndex,
  deliveries: DeliveryStatusIndex,
  clinicName: string,
) {
  return {
    createPatient: createPatient(deps),
    getPatient: getPatient(deps),
    listPatients: listPatients(deps),
    bookAppointment: bookAppointment(deps),
    getAppointment: getAppointment(deps),
    listAppointments: listAppointments(deps),
    rescheduleAppointment: rescheduleAppointment(deps),
    cancelAppointment: cancelAppointment(deps),
    markNoShow: markNoShow(deps),
    issuePatientLink: issuePatientLink(deps),
    redeemPatientLink: redeemPatientLink(deps),
    issueGuestLink: issueGuestLink(deps),
    redeemGuestLink: redeemGuestLink(deps),
    getMessageTemplateSet: getMessageTemplateSet(deps),
    updateMessageTemplateSet: updateMessageTemplateSet(deps),
    previewMessageTemplate: previewMessageTemplate(deps, clinicName),
    getUsageReport: getUsageReport(deps),
    getClinicSettings: getClinicSettings(deps),
    updateClinicSettings: updateClinicSettings(deps),
    erasePatient: erasePatient(deps),
    listMessageDeliveries: listMessageDeliveries(deps, deliveries),
    ...messageHandlers({ ...deps, threads }),
  };
}

const within = (ms: number, work: Promise<unknown>) =>
  Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, ms).unref())]);

/** Closes subscriptions, the store and the connection, bounded in time even when NATS is gone. */
async function closeStore(
  store: EventStore,
  subscriptions: readonly Subscription[],
  nc: NatsConnection,
): Promise<void> {
  await within(2_000, Promise.all(subscriptions.map((s) => s.close())));
  await within(2_000, store.close());
  if (!nc.isClosed()) await within(2_000, nc.drain());
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}
