/**
 * Wiring of the recording service: configuration → event store → bus (checkpoints) → the recordings read model
 * → the follower of the session's RecordingStarted / RecordingStopped → gRPC. The slices are built apart
 * (recording/); this file only connects them. The calls it refuses (no token, the access policy) are recorded
 * as AccessRefused events in its event store like every other service's.
 */
import { z } from 'zod';
import { EventBus } from '@haven/bus';
import { ConsumerHealth } from '@haven/eventstore';
import { recording } from '@haven/proto';
import {
  connectEventStore,
  DEFAULT_GRPC_PORTS,
  createBaseConfigSchema,
  natsCredentialsOf,
  serveHavenGrpc,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { recordingHandlers } from './recording/grpc';
import { RecordingProjection } from './recording/projection';
import { Recordings } from './recording/recordings';
import { followSessionRecordings } from './recording/session-follower';
import { playbackConfigShape, startAccess } from './playback/wiring';

export const RECORDING_GRPC_PORT = DEFAULT_GRPC_PORTS.recording;
export const recordingConfigSchema = createBaseConfigSchema({ grpcPort: RECORDING_GRPC_PORT }).safeExtend({
  /**
   * The recordings directory Janus writes into (shared with the session service's Janus nodes; memory-backed
   * in the chart): the raw files of recording `R` are every `*.mjr` in `<dir>/R/`.
   */
  HAVEN_RECORDINGS_DIR: z.string().min(1).optional(),
  ...playbackConfigShape,
});
export type RecordingConfig = z.output<typeof recordingConfigSchema>;

/** Starts the recording service. Throws when the event store, NATS or the port is unavailable. */
export async function startRecording(
  config: RecordingConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await connectEventStore(config, 'recording', { logger });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  try {
    const bus = await EventBus.connect({
      ...natsCredentialsOf(config),
      name: 'haven-recording-bus',
      replicas: config.HAVEN_JETSTREAM_REPLICAS,
      logger,
    });
    closers.unshift(() => bus.close());
    // Every consumer below heals itself after a NATS outage; while one is down or behind, NOT_SERVING.
    const consumers = new ConsumerHealth();
    const recordings = new Recordings(store);
    const projection = new RecordingProjection();
    await projection.start(store, { health: consumers, logger });
    closers.unshift(() => projection.close());
    const follower = await followSessionRecordings({
      store,
      bus,
      recordings,
      health: consumers,
      logger,
      onProcessing: (recordingId) => logger.info({ recordingId }, 'recording stopped; processing'),
    });
    closers.unshift(() => follower.close());
    const access = await startAccess(config, { store, recordings, projection, logger });
    if (access) closers.unshift(access.close);
    return await serveHavenGrpc({
      name: 'recording',
      store,
      consumers,
      config,
      logger,
      host: options.host,
      services: [
        {
          definition: recording.RecordingServiceService,
          handlers: {
            ...recordingHandlers({ recordings, projection }),
            ...access?.handlers,
          },
          ...(access ? { streams: access.streams } : {}),
        },
      ],
      onShutdown: closers,
    });
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
}
