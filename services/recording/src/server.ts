/**
 * The recording service, first part: it boots on the shared harness (configuration, auth, health, reflection,
 * shutdown) and serves the RecordingService contract. Its RPCs answer UNIMPLEMENTED until the recording
 * pipeline (Janus recordings → media file → envelope encryption) lands; the calls it refuses (no token, the
 * access policy) are recorded as AccessRefused events in its event store like every other service's.
 */
import type { z } from 'zod';
import { recording } from '@haven/proto';
import {
  connectEventStore,
  DEFAULT_GRPC_PORTS,
  createBaseConfigSchema,
  serveHavenGrpc,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';

export const RECORDING_GRPC_PORT = DEFAULT_GRPC_PORTS.recording;
export const recordingConfigSchema = createBaseConfigSchema({ grpcPort: RECORDING_GRPC_PORT });
export type RecordingConfig = z.output<typeof recordingConfigSchema>;

/** Starts the recording service. Throws when the event store or the port is unavailable. */
export async function startRecording(
  config: RecordingConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await connectEventStore(config, 'recording');
  try {
    return await serveHavenGrpc({
      name: 'recording',
      store,
      config,
      logger,
      host: options.host,
      services: [{ definition: recording.RecordingServiceService, handlers: {} }],
      onShutdown: [() => store.close()],
    });
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
