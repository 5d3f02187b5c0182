/**
 * Wiring of the session service: configuration → event store → Janus pool → booking consumer → gRPC server.
 * The consumer follows the scheduling context of the event store from a persisted checkpoint, so a booking
 * made while the service was down still opens its visit when it comes back.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '@haven/errors';
import { JetStreamEventStore, type Checkpoint, type Subscription } from '@haven/eventstore';
import { PROTO_FILES, PROTO_ROOT, session } from '@haven/proto';
import {
  createBaseConfigSchema,
  createVerifierFromConfig,
  startGrpcService,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { withSpan, contextFromTraceparent } from '@haven/telemetry';
import { context } from '@opentelemetry/api';
import { JanusPool } from './janus/janus-pool';
import { openVisitForAppointment } from './visit/open-visit';

export const SESSION_GRPC_PORT = 50053;
export const sessionConfigSchema = createBaseConfigSchema({ grpcPort: SESSION_GRPC_PORT }).safeExtend({
  HAVEN_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8090),
  HAVEN_JANUS_WS_URLS: z.string().min(1),
  HAVEN_JANUS_TOKEN_SECRET: z.string().min(16),
  HAVEN_JANUS_ROOM_KEY: z.string().min(16).optional(),
  /** The videoroom admin_key (the chart sets it to the Janus admin secret); needed to create rooms when set. */
  HAVEN_JANUS_ADMIN_SECRET: z.string().min(8).optional(),
  HAVEN_DATA_DIR: z.string().min(1),
});
export type SessionConfig = z.output<typeof sessionConfigSchema>;

const BOOKED = 'haven.scheduling.v1.AppointmentBooked';

class CheckpointFile {
  constructor(private readonly path: string) {}
  async load(): Promise<Checkpoint> {
    try {
      return BigInt((await readFile(this.path, 'utf8')).trim());
    } catch {
      return 'start';
    }
  }
  async save(position: bigint): Promise<void> {
    await writeFile(`${this.path}.tmp`, `${position}\n`, { mode: 0o600 });
    await rename(`${this.path}.tmp`, this.path);
  }
}

/** Starts the session service. Throws when NATS, Janus or the ports are unavailable. */
export async function startSession(
  config: SessionConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await JetStreamEventStore.connect({
    servers: config.NATS_URL,
    name: 'haven-session',
    ...(config.NATS_CREDS_FILE ? { credsFile: config.NATS_CREDS_FILE } : {}),
  });
  const nodes = config.HAVEN_JANUS_WS_URLS.split(',').map((wsUrl, i) => ({
    id: `janus-${i}`,
    wsUrl: wsUrl.trim(),
    tokenSecret: config.HAVEN_JANUS_TOKEN_SECRET,
    ...(config.HAVEN_JANUS_ADMIN_SECRET ? { adminKey: config.HAVEN_JANUS_ADMIN_SECRET } : {}),
  }));
  const janus = new JanusPool(nodes, logger);
  await janus.connect();
  const roomKey = config.HAVEN_JANUS_ROOM_KEY ?? config.HAVEN_JANUS_TOKEN_SECRET;

  await mkdir(config.HAVEN_DATA_DIR, { recursive: true, mode: 0o700 });
  const checkpoints = new CheckpointFile(join(config.HAVEN_DATA_DIR, 'visits.checkpoint'));
  const subscription: Subscription = await store.subscribe({
    from: await checkpoints.load(),
    contexts: ['scheduling'],
    handler: async (event) => {
      if (event.type === BOOKED) {
        const parent = event.traceparent ? contextFromTraceparent(event.traceparent) : context.active();
        try {
          await context.with(parent, () =>
            withSpan('haven.session.open_visit', {}, () =>
              openVisitForAppointment({ store, janus, roomKey }, event),
            ),
          );
        } catch (error) {
          // A malformed booking is quarantined (logged without its data) instead of stopping the consumer.
          if (!(error instanceof ValidationError)) throw error;
          logger.error(
            { eventId: event.id, type: event.type, err: error },
            'malformed booking event skipped',
          );
        }
      }
      await checkpoints.save(event.position);
    },
    onError: (error) => logger.error({ err: error }, 'booking consumer stopped'),
  });

  // Janus's HTTP event handler posts here; the media events become visit events in a later part.
  const janusEvents: Server = createServer((req, res) => {
    req.resume();
    res.statusCode = req.method === 'POST' && req.url === '/janus-events' ? 204 : 404;
    res.end();
  });
  await new Promise<void>((resolve) =>
    janusEvents.listen(config.HAVEN_HTTP_PORT, options.host ?? '0.0.0.0', resolve),
  );

  return startGrpcService({
    name: 'session',
    port: config.HAVEN_GRPC_PORT,
    ...(options.host ? { host: options.host } : {}),
    services: [{ definition: session.SessionServiceService, handlers: {} }],
    auth: {
      verifier: createVerifierFromConfig(config),
    },
    logger,
    protoFiles: { root: PROTO_ROOT, files: [...PROTO_FILES] },
    shutdownGraceMs: config.HAVEN_SHUTDOWN_GRACE_MS,
    onShutdown: [
      () => subscription.close(),
      () => new Promise<void>((resolve) => janusEvents.close(() => resolve())),
      () => janus.close(),
      () => store.close(),
    ],
  });
}
