/**
 * Wiring of the session service: configuration → event store → Janus pool → booking consumer → gRPC server, and
 * one HTTP port for Janus's event handler (`/janus-events`) and the media proxy (`/media`, websockets; browsers
 * reach it through the gateway). The adapters are built apart (visit/booking-consumer.ts,
 * janus/janus-events-server.ts); this file only connects them. A relay fans session events out on the bus.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { mkdir } from 'node:fs/promises';
import { FilePatientKeyStore, openKmsFromEnv, type ClosableKms } from '@haven/crypto';
import { EventBus, startRelay } from '@haven/bus';
import { ConsumerHealth, type EventStore } from '@haven/eventstore';
import { session } from '@haven/proto';
import {
  CLINIC_SETTING_DEFAULTS,
  connectEventStore,
  connectRevocationFeed,
  createAccessRefusalRecorder,
  DEFAULT_GRPC_PORTS,
  createBaseConfigSchema,
  createVerifierFromConfig,
  followClinicSettings,
  FsObjectStore,
  type ClinicSettingsFeed,
  kmsConfigShape,
  kmsEnvOf,
  natsCredentialsOf,
  serveHavenGrpc,
  type Logger,
  type RevocationFeed,
  type RunningGrpcService,
} from '@haven/service';
import { startJanusEventsServer } from './janus/janus-events-server';
import { JanusPool } from './janus/janus-pool';
import type { JanusNode } from './janus/janus-rooms';
import { coreTokenSource } from './janus/janus-token';
import { MediaAccess } from './media/media-access';
import { MEDIA_PATH, MediaProxy } from './media/media-proxy';
import { followBookings } from './visit/booking-consumer';
import { DEFAULT_CHAT_FILE_MAX_BYTES } from './visit/chat-files';
import { ChatFileService } from './visit/chat-file-service';
import { followErasures } from './visit/erasure-consumer';
import { chatFileStreams, chatHandlers } from './visit/chat-grpc';
import { ChatService, TranscriptService } from './visit/chat-service';
import { lobbyNoticeHandlers } from './visit/lobby-notice-grpc';
import { LobbyNoticeService } from './visit/lobby-notice-service';
import { visitHandlers } from './visit/grpc';
import { openVisitOnRequest } from './visit/open-visit';
import { VisitProjection } from './visit/projection';
import { StaffNames } from './visit/staff-names';
import { VisitService } from './visit/visit-service';

export const SESSION_GRPC_PORT = DEFAULT_GRPC_PORTS.session;
export const sessionConfigSchema = createBaseConfigSchema({ grpcPort: SESSION_GRPC_PORT }).safeExtend({
  HAVEN_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8090),
  HAVEN_JANUS_WS_URLS: z.string().min(1),
  HAVEN_JANUS_TOKEN_SECRET: z.string().min(16),
  HAVEN_JANUS_ROOM_KEY: z.string().min(16).optional(),
  /** The videoroom admin_key (the chart sets it to the Janus admin secret); needed to create rooms when set. */
  HAVEN_JANUS_ADMIN_SECRET: z.string().min(8).optional(),
  /**
   * Password Janus's HTTP event handler sends (HTTP Basic, user `janus`) when posting to /janus-events; posts
   * without it are refused with 401. Unset: events are accepted from anyone who can reach the port (a warning
   * says so at start) — the chart always sets it.
   */
  HAVEN_JANUS_EVENTS_SECRET: z.string().min(16).optional(),
  /**
   * Where the Janus nodes write recordings (a path on the Janus side): every room is created with this `rec_dir`
   * and `lock_record`. Unset: Janus's default directory (recording stays locked to the room secret).
   */
  HAVEN_JANUS_RECORDINGS_DIR: z.string().min(1).optional(),
  /** The recordings directory shared with the recording service: `rec_dir` when HAVEN_JANUS_RECORDINGS_DIR is unset. */
  HAVEN_RECORDINGS_DIR: z.string().min(1).optional(),
  /**
   * The clinic's recording policy: `off` (StartRecording is refused), `on-request` (the clinician asks, everyone
   * present consents), `required` (nobody enters the media room without consenting; recording starts by itself
   * once everyone present has). See README "Recording".
   */
  HAVEN_RECORDING_POLICY: z.enum(['off', 'on-request', 'required']).default('on-request'),
  /**
   * Where browsers reach the media proxy (JoinMedia's server_url): the gateway's path, resolved by the page
   * against its own origin. The proxy itself listens on HAVEN_HTTP_PORT at /media.
   */
  HAVEN_MEDIA_PUBLIC_URL: z.string().min(1).default('/api/media'),
  /** A visit with nobody in the media room for this long ends by itself. */
  HAVEN_VISIT_IDLE_MINUTES: z.coerce
    .number()
    .positive()
    .max(24 * 60)
    .default(10),
  /** How often idle visits are looked for. */
  HAVEN_VISIT_IDLE_CHECK_SECONDS: z.coerce.number().positive().max(3600).default(30),
  /**
   * Where the service keeps its patient data keys (`chat-keys/`, wrapped by the keyring): the visit chat seals
   * each message with the patient's key. Unset: the chat answers UNAVAILABLE.
   */
  HAVEN_DATA_DIR: z.string().min(1).optional(),
  /**
   * The largest file a visit member may share in the chat, in bytes (default 10 MiB, at most 64 MiB). Files are
   * kept encrypted under `<HAVEN_DATA_DIR>/objects/chat-files/`.
   */
  HAVEN_CHAT_FILE_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024)
    .default(DEFAULT_CHAT_FILE_MAX_BYTES),
  /**
   * The KMS that wraps those keys: HAVEN_KMS local | pkcs11 | vault-transit and its settings (the local keyring
   * defaults to `<HAVEN_DATA_DIR>/keyring.json`).
   */
  ...kmsConfigShape,
});
export type SessionConfig = z.output<typeof sessionConfigSchema>;

/** The Janus nodes of HAVEN_JANUS_WS_URLS (comma-separated), `janus-0`, `janus-1`… */
function janusNodesOf(config: SessionConfig): JanusNode[] {
  const recordingsDir = config.HAVEN_JANUS_RECORDINGS_DIR ?? config.HAVEN_RECORDINGS_DIR;
  return config.HAVEN_JANUS_WS_URLS.split(',').map((wsUrl, i) => ({
    id: `janus-${i}`,
    wsUrl: wsUrl.trim(),
    tokenSecret: config.HAVEN_JANUS_TOKEN_SECRET,
    ...(config.HAVEN_JANUS_ADMIN_SECRET ? { adminKey: config.HAVEN_JANUS_ADMIN_SECRET } : {}),
    // The shared recordings directory (HAVEN_RECORDINGS_DIR) unless Janus sees it under another path.
    ...(recordingsDir ? { recordingsDir } : {}),
  }));
}

/** The visit side, built together because its parts call each other (the pool recovers rooms through the service). */
interface VisitSide {
  readonly roomKey: string;
  readonly projection: VisitProjection;
  readonly media: MediaAccess;
  readonly janus: JanusPool;
  readonly visits: VisitService;
}

function buildVisitSide(
  config: SessionConfig,
  logger: Logger,
  adapters: {
    store: EventStore;
    revocations: RevocationFeed;
    onRefused: ReturnType<typeof createAccessRefusalRecorder>['record'];
    clinic: ClinicSettingsFeed;
  },
): VisitSide {
  const { store, revocations } = adapters;
  const roomKey = config.HAVEN_JANUS_ROOM_KEY ?? config.HAVEN_JANUS_TOKEN_SECRET;
  const projection = new VisitProjection();
  const media = new MediaAccess({
    roomKey,
    projected: (visitId) => projection.get(visitId),
    load: async (visitId) => (await visits.load(visitId)).state,
    isRevoked: (principal, token) => revocations.isRevoked(principal, token),
  });
  // The pool calls back into the visit service after a reconnect; the service is made right below.
  const janus: JanusPool = new JanusPool(janusNodesOf(config), logger, {
    onReconnected: async (rooms) => visits.recoverNode(rooms),
  });
  const visits: VisitService = new VisitService({
    store,
    janus,
    roomKey,
    media,
    mediaUrl: config.HAVEN_MEDIA_PUBLIC_URL,
    onRefused: adapters.onRefused,
    projection,
    logger,
    idleMinutes: config.HAVEN_VISIT_IDLE_MINUTES,
    // The clinic settings' policy when an admin saved one (read on every use), else HAVEN_RECORDING_POLICY.
    get recordingPolicy() {
      return adapters.clinic.current().recordingPolicy;
    },
  });
  return { roomKey, projection, media, janus, visits };
}

/** Looks for idle visits every HAVEN_VISIT_IDLE_CHECK_SECONDS; returns the timer (unref'd). */
function startIdleCheck(visits: VisitService, config: SessionConfig, logger: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    visits.endIdleVisits().catch((error: unknown) => logger.warn({ err: error }, 'idle check failed'));
  }, config.HAVEN_VISIT_IDLE_CHECK_SECONDS * 1000);
  timer.unref();
  return timer;
}

/**
 * The KMS of HAVEN_KMS for the chat's patient keys (under HAVEN_DATA_DIR/chat-keys); undefined without
 * HAVEN_DATA_DIR (the chat and typed waiting-room notes then answer UNAVAILABLE).
 */
async function openChatKms(config: SessionConfig, logger: Logger): Promise<ClosableKms | undefined> {
  if (!config.HAVEN_DATA_DIR) {
    logger.warn('HAVEN_DATA_DIR is not set: the visit chat is unavailable');
    return undefined;
  }
  const dataDir = resolve(config.HAVEN_DATA_DIR);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  return openKmsFromEnv(kmsEnvOf(config, { defaultKeyringFile: join(dataDir, 'keyring.json') }), {
    create: true,
  });
}

/** The chat side: the patients' chat keys (under HAVEN_DATA_DIR/chat-keys), messages, transcripts, files, notes. */
function buildChatSide(
  config: SessionConfig,
  kms: ClosableKms | undefined,
  deps: { store: EventStore; visits: VisitService; projection: VisitProjection },
) {
  const { store, visits, projection } = deps;
  const keys =
    kms && config.HAVEN_DATA_DIR
      ? new FilePatientKeyStore({ dir: join(resolve(config.HAVEN_DATA_DIR), 'chat-keys'), kms })
      : undefined;
  const chat = new ChatService({ store, visits, keys });
  const transcripts = new TranscriptService({ store, visits, keys }, chat);
  const files = new ChatFileService({
    store,
    visits,
    keys,
    objects: config.HAVEN_DATA_DIR
      ? new FsObjectStore(join(resolve(config.HAVEN_DATA_DIR), 'objects'))
      : undefined,
    maxBytes: config.HAVEN_CHAT_FILE_MAX_BYTES,
  });
  const notices = new LobbyNoticeService({ store, visits, projection, keys });
  return { keys, chat, transcripts, files, notices };
}

/** Starts the session service. Throws when NATS, Janus or the ports are unavailable. */
export async function startSession(
  config: SessionConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await connectEventStore(config, 'session', { logger });
  // The service's one refusal recorder: the gRPC harness reports into it (policy, ownership, kicked…), and so
  // can every other part of the service that says no (the media side).
  const refusals = createAccessRefusalRecorder({ store, service: 'session', logger });
  const bus = await EventBus.connect({
    ...natsCredentialsOf(config),
    name: 'haven-session-bus',
    replicas: config.HAVEN_JETSTREAM_REPLICAS,
    logger,
  });
  // Every consumer below heals itself after a NATS outage (resuming from its position with back-off); while
  // one is down or behind, the service reports NOT_SERVING.
  const consumers = new ConsumerHealth();
  // Session events fan out on haven.bus.session.* (the gateway pushes lobby and visit changes from there).
  const relay = await startRelay({ store, bus, context: 'session', logger, health: consumers });
  // One revocation feed for gRPC callers and media connections: a sign-out or idle logoff ends both.
  const revocations = await connectRevocationFeed({ name: 'session', config, logger, consumers });
  // The clinic's settings (scheduling's ClinicSettingsChanged over HAVEN_RECORDING_POLICY): read at start, then
  // followed, so an admin's change applies without a restart and without asking scheduling on every Record.
  const clinic = await followClinicSettings(store, {
    name: 'session.clinic-settings',
    defaults: { ...CLINIC_SETTING_DEFAULTS, recordingPolicy: config.HAVEN_RECORDING_POLICY },
    health: consumers,
    logger,
  });
  const { roomKey, projection, media, janus, visits } = buildVisitSide(config, logger, {
    store,
    revocations,
    onRefused: refusals.record,
    clinic,
  });
  const proxy = new MediaProxy({
    access: media,
    upstreamUrl: (nodeId) => janus.nodeConfig(nodeId)?.wsUrl,
    coreToken: coreTokenSource(config.HAVEN_JANUS_TOKEN_SECRET),
    verifier: createVerifierFromConfig(config, { revocations }),
    onRefused: refusals.record,
    logger,
  });
  const stopWatchingVisits = projection.onChange((visitId, state) => proxy.visitChanged(visitId, state));
  const stopWatchingRevocations = revocations.onRevoked((r) => proxy.revoked(r));
  await janus.connect();
  await projection.start(store, { health: consumers, logger });
  const idleTimer = startIdleCheck(visits, config, logger);
  const kms = await openChatKms(config, logger);
  const { keys, chat, transcripts, files, notices } = buildChatSide(config, kms, {
    store,
    visits,
    projection,
  });
  const bookings = await followBookings({ store, bus, janus, roomKey, visits, health: consumers, logger });
  // An erased patient's chat key is destroyed here too (the chat is sealed with this service's own keys).
  const erasures = await followErasures({ store, bus, keys, health: consumers, logger });
  const janusEvents = await startJanusEventsServer({
    port: config.HAVEN_HTTP_PORT,
    host: options.host ?? '0.0.0.0',
    secret: config.HAVEN_JANUS_EVENTS_SECRET,
    onMediaEvents: (events) => visits.onMediaEvents(events),
    upgrade: { path: MEDIA_PATH, handle: (req, socket, head) => proxy.handleUpgrade(req, socket, head) },
    logger,
  });

  return await serveHavenGrpc({
    name: 'session',
    refusals,
    consumers,
    config,
    logger,
    host: options.host,
    revocations,
    // A shared file arrives in one message: room for the clinic's largest and the request around it.
    serverOptions: { 'grpc.max_receive_message_length': config.HAVEN_CHAT_FILE_MAX_BYTES + 64 * 1024 },
    services: [
      {
        definition: session.SessionServiceService,
        handlers: {
          ...visitHandlers({
            visits,
            projection,
            clock: () => new Date(),
            openForAppointment: openVisitOnRequest({ store, janus, roomKey }),
            staffNames: new StaffNames(store),
          }),
          ...chatHandlers(chat, files, transcripts),
          ...lobbyNoticeHandlers(notices),
        },
        streams: chatFileStreams(files),
      },
    ],
    onShutdown: [
      async () => clearInterval(idleTimer),
      () => bookings.close(),
      () => clinic.close(),
      () => erasures.close(),
      () => relay.close(),
      async () => {
        stopWatchingVisits();
        stopWatchingRevocations();
      },
      () => projection.close(),
      () => janusEvents.drained(),
      () => proxy.close(),
      () => janusEvents.close(),
      () => janus.close(),
      () => revocations.close(),
      () => bus.close(),
      () => store.close(),
      async () => kms?.close(),
    ],
  });
}
