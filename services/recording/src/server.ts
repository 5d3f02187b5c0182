/**
 * The recording service, first part: it boots on the shared harness (configuration, auth, health, reflection,
 * shutdown) and serves the RecordingService contract. Its RPCs answer UNIMPLEMENTED until the recording
 * pipeline (Janus recordings → media file → envelope encryption) lands.
 */
import type { z } from 'zod';
import { recording } from '@haven/proto';
import { createBaseConfigSchema, serveHavenGrpc, type Logger, type RunningGrpcService } from '@haven/service';

export const RECORDING_GRPC_PORT = 50054;
export const recordingConfigSchema = createBaseConfigSchema({ grpcPort: RECORDING_GRPC_PORT });
export type RecordingConfig = z.output<typeof recordingConfigSchema>;

/** Starts the recording service. Throws when the port is unavailable. */
export async function startRecording(
  config: RecordingConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  return serveHavenGrpc({
    name: 'recording',
    config,
    logger,
    host: options.host,
    services: [{ definition: recording.RecordingServiceService, handlers: {} }],
  });
}
