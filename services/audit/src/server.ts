/**
 * Wiring of the audit service: it follows every context of the event store from its own checkpoint (the last
 * record in its log), records each event once as a leaf of its Merkle ledger, anchors signed tree heads in the
 * event store, re-verifies the log, and answers audit queries and proofs over gRPC.
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
import { auditHandlers, auditStreams } from './api/grpc';
import { AuditLog } from './log/audit-log';
import { Ledger } from './log/ledger';
import { LedgerKeeper, type LedgerKeeperOptions } from './log/ledger-keeper';
import { StaffDirectory } from './log/staff-directory';

export const AUDIT_GRPC_PORT = 50055;
export const auditConfigSchema = createBaseConfigSchema({ grpcPort: AUDIT_GRPC_PORT }).safeExtend({
  HAVEN_DATA_DIR: z.string().min(1),
  /**
   * PEM (PKCS#8) Ed25519 key that signs the ledger's tree heads, shared by every replica (the chart mounts it
   * from a secret). Unset: each process makes its own in HAVEN_DATA_DIR on first start.
   */
  HAVEN_AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
});
export type AuditConfig = z.output<typeof auditConfigSchema>;

/** Starts the audit service. Throws when the event store, the data directory or the port is unavailable. */
export async function startAudit(
  config: AuditConfig,
  logger: Logger,
  options: { host?: string; ledger?: LedgerKeeperOptions } = {},
): Promise<RunningGrpcService> {
  const store = await connectEventStore(config, 'audit');
  const log = await AuditLog.open(join(config.HAVEN_DATA_DIR, 'audit-log.ndjson'));
  const ledger = await Ledger.open({
    records: log.all(),
    keyPath: config.HAVEN_AUDIT_SIGNING_KEY_FILE ?? join(config.HAVEN_DATA_DIR, 'ledger-signing-key.pem'),
    createKey: config.HAVEN_AUDIT_SIGNING_KEY_FILE === undefined,
    headsPath: join(config.HAVEN_DATA_DIR, 'tree-heads.ndjson'),
  });
  logger.info({ records: log.size, ledgerKeyId: ledger.keyId }, 'audit log loaded');
  const keeper = await LedgerKeeper.start({ log, ledger, store, logger }, options.ledger);
  const staff = new StaffDirectory();
  const directory = await staff.follow(store, (error) =>
    logger.error({ err: error }, 'staff directory stopped following identity'),
  );
  const subscription: Subscription = await store.subscribe({
    from: log.checkpoint,
    handler: async (event) => {
      const record = await log.ingest(event);
      if (record) ledger.append(record);
    },
    onError: (error) => logger.error({ err: error }, 'audit ingestion stopped'),
  });
  return serveHavenGrpc({
    name: 'audit',
    store,
    config,
    logger,
    host: options.host,
    services: [
      {
        definition: audit.AuditServiceService,
        handlers: auditHandlers({ log, store, ledger, staff }),
        streams: auditStreams({ log, store, ledger }),
      },
    ],
    onShutdown: [
      () => subscription.close(),
      () => directory.close(),
      () => keeper.stop(),
      () => log.close(),
      () => store.close(),
    ],
  });
}
