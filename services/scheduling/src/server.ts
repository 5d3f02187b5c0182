/**
 * Wiring of the scheduling service: configuration → event store → gRPC server. Used by index.ts and by tests.
 */
import type { z } from 'zod';
import { JetStreamEventStore } from '@haven/eventstore';
import {
  createBaseConfigSchema,
  createVerifierFromConfig,
  startGrpcService,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { PROTO_FILES, PROTO_ROOT, scheduling } from '@haven/proto';
import { bookAppointment, getAppointment } from './appointment/grpc';

export const SCHEDULING_GRPC_PORT = 50052;
export const schedulingConfigSchema = createBaseConfigSchema({ grpcPort: SCHEDULING_GRPC_PORT });
export type SchedulingConfig = z.output<typeof schedulingConfigSchema>;

/** Starts the scheduling service. Throws when NATS or the port is unavailable. */
export async function startScheduling(
  config: SchedulingConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await JetStreamEventStore.connect({
    servers: config.NATS_URL,
    name: 'haven-scheduling',
    ...(config.NATS_CREDS_FILE ? { credsFile: config.NATS_CREDS_FILE } : {}),
  });
  const deps = { store, clock: () => new Date() };
  return startGrpcService({
    name: 'scheduling',
    port: config.HAVEN_GRPC_PORT,
    ...(options.host ? { host: options.host } : {}),
    services: [
      {
        definition: scheduling.SchedulingServiceService,
        handlers: { bookAppointment: bookAppointment(deps), getAppointment: getAppointment(deps) },
      },
    ],
    auth: {
      verifier: createVerifierFromConfig(config),
    },
    logger,
    protoFiles: { root: PROTO_ROOT, files: [...PROTO_FILES] },
    shutdownGraceMs: config.HAVEN_SHUTDOWN_GRACE_MS,
    onShutdown: [() => store.close()],
  });
}
