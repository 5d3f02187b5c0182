/**
 * Wiring of the audit service: it follows every context of the event store from its own checkpoint (the last
 * record in its log), records each event once as a leaf of its Merkle ledger (with the digest of the event as
 * stored), anchors signed tree heads in the event store, re-verifies the log, watches that the store still holds
 * what it ingested, and answers audit queries and proofs over gRPC.
 */
import { join } from 'node:path';
import { z } from 'zod';
import {
  ConsumerHealth,
  followStore,
  inspectionOf,
  newEvent,
  type EventStore,
  type Subscription,
} from '@haven/eventstore';
import { audit } from '@haven/proto';
import {
  connectEventStore,
  DEFAULT_GRPC_PORTS,
  createBaseConfigSchema,
  serveHavenGrpc,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { auditHandlers, auditStreams } from './api/grpc';
import { AuditLog, UnreadableAuditLogError } from './log/audit-log';
import { eventDigest } from './log/event-digest';
import { Ledger } from './log/ledger';
import {
  LEDGER_INTEGRITY_VIOLATED,
  LEDGER_STREAM,
  LedgerKeeper,
  type LedgerKeeperOptions,
} from './log/ledger-keeper';
import { StaffDirectory } from './log/staff-directory';
import { locateChangedEntry } from './store-watch/locate';
import { StoreWatcher, type StoreWatcherOptions } from './store-watch/store-watcher';

export const AUDIT_GRPC_PORT = DEFAULT_GRPC_PORTS.audit;
export const auditConfigSchema = createBaseConfigSchema({ grpcPort: AUDIT_GRPC_PORT }).safeExtend({
  HAVEN_DATA_DIR: z.string().min(1),
  /**
   * PEM (PKCS#8) Ed25519 key that signs the ledger's tree heads, shared by every replica (the chart mounts it
   * from a secret). Unset: each process makes its own in HAVEN_DATA_DIR on first start.
   */
  HAVEN_AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /** How often the ledger checks the event store's status and the log file for changes (ms). */
  HAVEN_AUDIT_WATCH_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(1_000),
  /** Pace of the background re-read of every stored event, events per second. */
  HAVEN_AUDIT_STORE_SWEEP_PER_SECOND: z.coerce.number().int().min(1).max(1_000_000).default(2_000),
  /** A background pass over the whole store starts at most this often (ms). */
  HAVEN_AUDIT_STORE_PASS_INTERVAL_MS: z.coerce.number().int().min(1_000).max(86_400_000).default(60_000),
  /** How often a signed tree head is anchored in the event store when the ledger grew (ms). */
  HAVEN_AUDIT_ANCHOR_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
});
export type AuditConfig = z.output<typeof auditConfigSchema>;

/**
 * Opens the audit log. A log with an unreadable line before its last is tampering or disk damage, not a torn
 * write: it is recorded as `LedgerIntegrityViolated` (UNREADABLE_ENTRY) before the error stops the start.
 */
async function openLog(path: string, store: EventStore, logger: Logger): Promise<AuditLog> {
  try {
    return await AuditLog.open(path);
  } catch (error) {
    if (!(error instanceof UnreadableAuditLogError)) throw error;
    logger.error(
      { violation: 'UNREADABLE_ENTRY', firstBadIndex: error.index },
      'audit ledger integrity violated',
    );
    await store.append(LEDGER_STREAM, 'any', [
      newEvent({
        type: LEDGER_INTEGRITY_VIOLATED,
        data: {
          treeSize: error.index,
          reason: 'UNREADABLE_ENTRY',
          firstBadIndex: error.index,
          detail: 'a line before the last one is not an audit record; the service does not start on it',
        },
        actor: { kind: 'service', id: 'audit' },
      }),
    ]);
    throw error;
  }
}

/** Starts the audit service. Throws when the event store, the data directory or the port is unavailable. */
export async function startAudit(
  config: AuditConfig,
  logger: Logger,
  options: { host?: string; ledger?: LedgerKeeperOptions; storeWatch?: StoreWatcherOptions } = {},
): Promise<RunningGrpcService> {
  const store = await connectEventStore(config, 'audit', { logger });
  const log = await openLog(join(config.HAVEN_DATA_DIR, 'audit-log.ndjson'), store, logger);
  const ledger = await Ledger.open({
    records: log.all(),
    keyPath: config.HAVEN_AUDIT_SIGNING_KEY_FILE ?? join(config.HAVEN_DATA_DIR, 'ledger-signing-key.pem'),
    createKey: config.HAVEN_AUDIT_SIGNING_KEY_FILE === undefined,
    headsPath: join(config.HAVEN_DATA_DIR, 'tree-heads.ndjson'),
  });
  logger.info({ records: log.size, ledgerKeyId: ledger.keyId }, 'audit log loaded');
  const inspection = inspectionOf(store);
  if (!inspection) logger.warn('the event store offers no inspection: the store watch is off');
  const keeper = await LedgerKeeper.start(
    { log, ledger, store, logger, ...(inspection ? { locate: locateChangedEntry(log, inspection) } : {}) },
    {
      anchorIntervalMs: config.HAVEN_AUDIT_ANCHOR_INTERVAL_MS,
      watchIntervalMs: config.HAVEN_AUDIT_WATCH_INTERVAL_MS,
      ...options.ledger,
    },
  );
  // Both consumers heal themselves after a NATS outage; while one is behind the service is NOT_SERVING.
  const consumers = new ConsumerHealth();
  const staff = new StaffDirectory();
  const directory = await staff.follow(store, { health: consumers, logger });
  const subscription: Subscription = await followStore(store, {
    name: 'audit.intake',
    from: log.checkpoint,
    health: consumers,
    logger,
    handler: async (event) => {
      const record = await log.ingest(event, { sourceDigest: eventDigest(event) });
      if (record) ledger.append(record);
    },
  });
  const watcher = inspection
    ? await StoreWatcher.start(
        { inspection, log, store, logger },
        {
          intervalMs: config.HAVEN_AUDIT_WATCH_INTERVAL_MS,
          sweepPerSecond: config.HAVEN_AUDIT_STORE_SWEEP_PER_SECOND,
          fullPassEveryMs: config.HAVEN_AUDIT_STORE_PASS_INTERVAL_MS,
          ...options.storeWatch,
        },
      )
    : undefined;
  return serveHavenGrpc({
    name: 'audit',
    store,
    consumers,
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
      async () => watcher?.stop(),
      () => directory.close(),
      () => keeper.stop(),
      () => log.close(),
      () => store.close(),
    ],
  });
}
