/**
 * Wiring of the session service: configuration → event store → Janus pool → booking consumer → gRPC server, and
 * one HTTP port for Janus's event handler (`/janus-events`) and the media proxy (`/media`, websockets; browsers
 * reach it through the gateway). The consumer follows the scheduling context of the event store from a
 * checkpoint kept in NATS, so a booking made while the service was down still opens its visit when it comes back;
 * a relay fans session events out on the bus.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { z } from 'zod';
import { ConcurrencyError, UnavailableError, ValidationError } from '@haven/errors';
import { EventBus, startRelay } from '@haven/bus';
import { ConsumerHealth, followStore, type Subscription } from '@haven/eventstore';
import { session } from '@haven/proto';
import {
  actorOf,
  connectEventStore,
  connectRevocationFeed,
  createAccessRefusalRecorder,
  DEFAULT_GRPC_PORTS,
  createBaseConfigSchema,
  createVerifierFromConfig,
  natsCredentialsOf,
  serveHavenGrpc,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { withSpan, contextFromTraceparent } from '@haven/telemetry';
import { context } from '@opentelemetry/api';
import { JanusPool } from './janus/janus-pool';
import { videoRoomMediaEvents } from './janus/janus-events';
import { signJanusToken } from './janus/janus-token';
import { MediaAccess } from './media/media-access';
import { MEDIA_PATH, MediaProxy } from './media/media-proxy';
import { visitHandlers } from './visit/grpc';
import { bookedAppointment, openVisitForAppointment } from './visit/open-visit';
import { VisitProjection } from './visit/projection';
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
});
export type SessionConfig = z.output<typeof sessionConfigSchema>;

const BOOKED = 'haven.scheduling.v1.AppointmentBooked';
const CANCELLED = 'haven.scheduling.v1.AppointmentCancelled';

/** Starts the session service. Throws when NATS, Janus or the ports are unavailable. */
// eslint-disable-next-line max-lines-per-function -- follow-up (issue 12): thin wiring, adapters built apart
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
  const nodes = config.HAVEN_JANUS_WS_URLS.split(',').map((wsUrl, i) => ({
    id: `janus-${i}`,
    wsUrl: wsUrl.trim(),
    tokenSecret: config.HAVEN_JANUS_TOKEN_SECRET,
    ...(config.HAVEN_JANUS_ADMIN_SECRET ? { adminKey: config.HAVEN_JANUS_ADMIN_SECRET } : {}),
    ...(config.HAVEN_JANUS_RECORDINGS_DIR ? { recordingsDir: config.HAVEN_JANUS_RECORDINGS_DIR } : {}),
  }));
  const roomKey = config.HAVEN_JANUS_ROOM_KEY ?? config.HAVEN_JANUS_TOKEN_SECRET;
  const projection = new VisitProjection();
  // One revocation feed for gRPC callers and media connections: a sign-out or idle logoff ends both.
  const revocations = await connectRevocationFeed({ name: 'session', config, logger, consumers });
  const media = new MediaAccess({
    roomKey,
    projected: (visitId) => projection.get(visitId),
    load: async (visitId) => (await visitService.load(visitId)).state,
    isRevoked: (principal, token) => revocations.isRevoked(principal, token),
  });
  // The pool calls back into the visit service after a reconnect; the service is made right below.
  const janus: JanusPool = new JanusPool(nodes, logger, {
    onReconnected: async (rooms) => visitService.recoverNode(rooms),
  });
  const visitService: VisitService = new VisitService({
    store,
    janus,
    roomKey,
    media,
    mediaUrl: config.HAVEN_MEDIA_PUBLIC_URL,
    onRefused: refusals.record,
    projection,
    logger,
    idleMinutes: config.HAVEN_VISIT_IDLE_MINUTES,
  });
  let core = { token: '', renewAt: 0 };
  const proxy = new MediaProxy({
    access: media,
    upstreamUrl: (nodeId) => janus.nodeConfig(nodeId)?.wsUrl,
    // Janus checks the core token on every request: sign one that outlives any request by an hour.
    coreToken: () => {
      const now = Date.now();
      if (now >= core.renewAt) {
        const expiresAt = new Date(now + 2 * 3600_000);
        core = {
          token: signJanusToken({ secret: config.HAVEN_JANUS_TOKEN_SECRET, expiresAt }),
          renewAt: now + 3600_000,
        };
      }
      return core.token;
    },
    verifier: createVerifierFromConfig(config, { revocations }),
    onRefused: refusals.record,
    logger,
  });
  const stopWatchingVisits = projection.onChange((visitId, state) => proxy.visitChanged(visitId, state));
  const stopWatchingRevocations = revocations.onRevoked((r) => proxy.revoked(r));
  await janus.connect();
  await projection.start(store, { health: consumers, logger });
  const idleTimer = setInterval(() => {
    visitService.endIdleVisits().catch((error: unknown) => logger.warn({ err: error }, 'idle check failed'));
  }, config.HAVEN_VISIT_IDLE_CHECK_SECONDS * 1000);
  idleTimer.unref();

  // The booking consumer's checkpoint lives in NATS (shared by replicas, kept across pod restarts).
  let checkpoints: Awaited<ReturnType<EventBus['checkpoints']>> | undefined;
  const savedCheckpoints = async () => (checkpoints ??= await bus.checkpoints());
  const subscription: Subscription = await followStore(store, {
    name: 'session.bookings',
    from: async () => (await savedCheckpoints()).load('session.bookings'),
    contexts: ['scheduling'],
    health: consumers,
    logger,
    handler: async (event) => {
      if (event.type === BOOKED) {
        const parent = event.traceparent ? contextFromTraceparent(event.traceparent) : context.active();
        try {
          // Janus may be restarting or every node briefly down: retry, bounded (about a minute), before giving up.
          for (let attempt = 0; ; attempt++) {
            try {
              await context.with(parent, () =>
                withSpan('haven.session.open_visit', {}, () =>
                  openVisitForAppointment({ store, janus, roomKey }, event),
                ),
              );
              break;
            } catch (error) {
              if (!(error instanceof UnavailableError) || attempt >= 12) throw error;
              logger.warn(
                { eventId: event.id, attempt: attempt + 1, err: error },
                'opening a visit failed; retrying',
              );
              await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
            }
          }
        } catch (error) {
          // A malformed booking is quarantined (logged without its data) instead of stopping the consumer.
          if (!(error instanceof ValidationError)) throw error;
          logger.error(
            { eventId: event.id, type: event.type, err: error },
            'malformed booking event skipped',
          );
        }
      }
      if (event.type === CANCELLED && typeof event.data['appointmentId'] === 'string') {
        // A cancelled appointment's visit ends: its room is destroyed and nobody can join any more.
        const visitId = event.data['appointmentId'];
        const { state } = await visitService.load(visitId);
        if (state.status === 'open') {
          await visitService.end(
            visitId,
            { type: 'EndVisit', data: { reason: 'appointment_cancelled' } },
            {
              actor: { kind: 'service', id: 'session' },
              correlationId: event.correlationId,
              causationId: event.id,
              ...(event.traceparent ? { traceparent: event.traceparent } : {}),
            },
          );
        }
      }
      await (await savedCheckpoints()).save('session.bookings', event.position);
    },
  });

  // Janus's HTTP event handler posts here; videoroom publisher joins/leaves become visit events, in order.
  let mediaQueue: Promise<void> = Promise.resolve();
  const eventsAuthorization =
    config.HAVEN_JANUS_EVENTS_SECRET !== undefined
      ? Buffer.from(`Basic ${Buffer.from(`janus:${config.HAVEN_JANUS_EVENTS_SECRET}`).toString('base64')}`)
      : undefined;
  if (!eventsAuthorization) {
    logger.warn('HAVEN_JANUS_EVENTS_SECRET is not set: /janus-events accepts posts without authentication');
  }
  const janusEvents: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/janus-events') {
      req.resume();
      res.statusCode = 404;
      res.end();
      return;
    }
    if (eventsAuthorization && !sameSecret(req.headers.authorization, eventsAuthorization)) {
      req.resume();
      res.statusCode = 401;
      res.setHeader('www-authenticate', 'Basic realm="janus-events"');
      res.end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1_000_000) {
        res.statusCode = 413;
        res.end();
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.statusCode = 400;
        res.end();
        return;
      }
      res.statusCode = 204;
      res.end();
      const events = videoRoomMediaEvents(body);
      if (events.length === 0) return;
      mediaQueue = mediaQueue
        .then(() => visitService.onMediaEvents(events))
        .catch((error: unknown) => logger.warn({ err: error }, 'janus events not processed'));
    });
  });
  janusEvents.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://session.invalid').pathname === MEDIA_PATH) {
      proxy.handleUpgrade(req, socket, head);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  await new Promise<void>((resolve) =>
    janusEvents.listen(config.HAVEN_HTTP_PORT, options.host ?? '0.0.0.0', resolve),
  );

  return await serveHavenGrpc({
    name: 'session',
    refusals,
    consumers,
    config,
    logger,
    host: options.host,
    revocations,
    services: [
      {
        definition: session.SessionServiceService,
        handlers: visitHandlers({
          visits: visitService,
          projection,
          clock: () => new Date(),
          // OpenVisit (hospital systems): the booking's facts from the scheduling context, then the same path
          // as a booking; a booking consumer that opened it first wins (the visit is the same either way).
          openForAppointment: async (appointmentId, ctx, principal) => {
            const booked = await bookedAppointment(store, appointmentId, new Date());
            try {
              await openVisitForAppointment({ store, janus, roomKey }, booked, {
                actor: actorOf(principal),
                correlationId: ctx.correlationId,
                ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
              });
            } catch (error) {
              if (!(error instanceof ConcurrencyError)) throw error;
            }
          },
        }),
      },
    ],
    onShutdown: [
      async () => clearInterval(idleTimer),
      () => subscription.close(),
      () => relay.close(),
      async () => {
        stopWatchingVisits();
        stopWatchingRevocations();
      },
      () => projection.close(),
      () => mediaQueue,
      () => proxy.close(),
      () => new Promise<void>((resolve) => janusEvents.close(() => resolve())),
      () => janus.close(),
      () => revocations.close(),
      () => bus.close(),
      () => store.close(),
    ],
  });
}

/** Constant-time comparison of a received Authorization header with the expected one. */
function sameSecret(received: string | undefined, expected: Buffer): boolean {
  const got = Buffer.from(received ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
