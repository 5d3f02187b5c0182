/**
 * Wiring of the audit service: it follows every context of the event store from its own checkpoint (the last
 * record in its log), records each event once, and answers audit queries over gRPC.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { Subscription } from '@haven/eventstore';
import { audit } from '@haven/proto';
import {
  connectEventStore,
  createBaseConfigSchema,
  serveHavenGrpc,
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

/** Starts the audit service. Throws when the event store, the data directory or the port is unavailable. */
export async function startAudit(
  config: AuditConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await connectEventStore(config, 'audit');
  const log = await AuditLog.open(join(config.HAVEN_DATA_DIR, 'audit-log.ndjson'));
  logger.info({ records: log.size }, 'audit log loaded');
  const subscription: Subscription = await store.subscribe({
    from: log.checkpoint,
    handler: async (event) => {
      await log.ingest(event);
    },
    onError: (error) => logger.error({ err: error }, 'audit ingestion stopped'),
  });
  return serveHavenGrpc({
    name: 'audit',
    store,
    config,
    logger,
    host: options.host,
    services: [{ definition: audit.AuditServiceService, handlers: auditHandlers({ log, store }) }],
    onShutdown: [() => subscription.close(), () => log.close(), () => store.close()],
  });
}
