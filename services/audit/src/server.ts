/**
 * Wiring of the audit service: it follows every context of the event store from its own checkpoint (the last
 * record in its log), records each event once, and answers audit queries over gRPC.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { JetStreamEventStore, type Subscription } from '@haven/eventstore';
import { audit, PROTO_FILES, PROTO_ROOT } from '@haven/proto';
import {
  createBaseConfigSchema,
  createVerifierFromConfig,
  startGrpcService,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { auditHandlers } from './api/grpc';
import { AuditLog } from './log/audit-log';

export const AUDIT_GRPC_PORT = 50055;
export const auditConfigSchema = createBaseConfigSchema({ grpcPort: AUDIT_GRPC_PORT }).safeExtend({
  HAVEN_DATA_DIR: z.string().min(1),
});
export type AuditConfig = z.output<typeof auditConfigSchema>;

/** Starts the audit service. Throws when NATS, the data directory or the port is unavailable. */
export async function startAudit(
  config: AuditConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await JetStreamEventStore.connect({
    servers: config.NATS_URL,
    name: 'haven-audit',
    ...(config.NATS_CREDS_FILE ? { credsFile: config.NATS_CREDS_FILE } : {}),
  });
  const log = await AuditLog.open(join(config.HAVEN_DATA_DIR, 'audit-log.ndjson'));
  logger.info({ records: log.size }, 'audit log loaded');
  const subscription: Subscription = await store.subscribe({
    from: log.checkpoint,
    handler: async (event) => {
      await log.ingest(event);
    },
    onError: (error) => logger.error({ err: error }, 'audit ingestion stopped'),
  });

  return startGrpcService({
    name: 'audit',
    port: config.HAVEN_GRPC_PORT,
    ...(options.host ? { host: options.host } : {}),
    services: [{ definition: audit.AuditServiceService, handlers: auditHandlers({ log, store }) }],
    auth: {
      verifier: createVerifierFromConfig(config),
    },
    logger,
    protoFiles: { root: PROTO_ROOT, files: [...PROTO_FILES] },
    shutdownGraceMs: config.HAVEN_SHUTDOWN_GRACE_MS,
    onShutdown: [() => subscription.close(), () => log.close(), () => store.close()],
  });
}
