/**
 * Keeps the audit ledger honest while the service runs:
 * - anchors: every `anchorIntervalMs`, when records other than its own anchors arrived, signs a tree head and
 *   appends `TreeHeadSigned` (size, root, key id) to the event store, whose stream cannot be deleted or purged —
 *   so a head survives even if someone with access to the audit volume rewrites the log and the heads file;
 * - verification: at start and every `verifyIntervalMs` it re-reads the log from disk and checks it against
 *   every anchor in the event store and the latest signed head; any mismatch appends `LedgerIntegrityViolated`,
 *   logs an error and counts `haven.audit.verification_failures` (alert HavenAuditVerificationFailed); each
 *   run sets `haven.audit.last_verification_timestamp` (alert HavenAuditVerificationStale).
 */
import { metrics, type Counter } from '@opentelemetry/api';
import { newEvent, type EventStore } from '@haven/eventstore';
import type { Logger } from '@haven/service';
import { AuditLog } from './audit-log';
import { recordLeafHash, type IntegrityViolation, type Ledger } from './ledger';
import { MerkleLog } from './merkle';

export const TREE_HEAD_SIGNED = 'haven.audit.v1.TreeHeadSigned';
export const LEDGER_INTEGRITY_VIOLATED = 'haven.audit.v1.LedgerIntegrityViolated';
/** The event-store stream holding the anchors (`TreeHeadSigned`) and integrity alarms. */
export const LEDGER_STREAM = 'audit.ledger-main';

const ACTOR = { kind: 'service', id: 'audit' } as const;

/** Options of {@link LedgerKeeper.start}. */
export interface LedgerKeeperOptions {
  /** How often a new head is anchored when the log grew (default 30 s). */
  readonly anchorIntervalMs?: number;
  /** How often the log on disk is re-verified (default 10 min). */
  readonly verifyIntervalMs?: number;
}

export class LedgerKeeper {
  private anchorTimer: NodeJS.Timeout | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private lastVerifiedSec = 0;
  private readonly failures: Counter;
  private busy: Promise<unknown> = Promise.resolve();
  /** Every anchor read so far (size, root hex), and the stream revision to read on from. */
  private readonly anchors: { treeSize: number; rootHash: string }[] = [];
  private anchorsRead = 0n;
  private stopped = false;

  private constructor(
    private readonly log: AuditLog,
    private readonly ledger: Ledger,
    private readonly store: EventStore,
    private readonly logger: Logger,
  ) {
    const meter = metrics.getMeter('@haven/audit');
    this.failures = meter.createCounter('haven.audit.verification_failures', {
      description: 'Audit ledger verifications that found the log inconsistent with a signed head',
    });
    meter
      .createObservableGauge('haven.audit.last_verification_timestamp', {
        description: 'When the audit ledger last verified (whatever the outcome)',
        unit: 's',
      })
      .addCallback((r) => {
        if (this.lastVerifiedSec > 0) r.observe(this.lastVerifiedSec);
      });
    meter
      .createObservableGauge('haven.audit.ledger_size', {
        description: 'Entries in the audit ledger',
        unit: '{event}',
      })
      .addCallback((r) => r.observe(this.ledger.size));
  }

  /** Verifies once (including what the ledger found when it opened), then starts the timers. */
  static async start(
    deps: { log: AuditLog; ledger: Ledger; store: EventStore; logger: Logger },
    options: LedgerKeeperOptions = {},
  ): Promise<LedgerKeeper> {
    const keeper = new LedgerKeeper(deps.log, deps.ledger, deps.store, deps.logger);
    // The ledger has just hashed the log as it is on disk: check the anchors against it, no second read.
    await keeper.verify(deps.ledger.violations, deps.ledger);
    keeper.anchorTimer = setInterval(
      () => void keeper.serial(() => keeper.anchor()),
      options.anchorIntervalMs ?? 30_000,
    );
    keeper.verifyTimer = setInterval(
      () => void keeper.serial(() => keeper.verify()),
      options.verifyIntervalMs ?? 600_000,
    );
    keeper.anchorTimer.unref();
    keeper.verifyTimer.unref();
    return keeper;
  }

  /** Runs one task at a time; a failed task is logged, never thrown into a timer. */
  private serial(task: () => Promise<unknown>): Promise<unknown> {
    this.busy = this.busy.then(async () => {
      if (this.stopped) return;
      try {
        await task();
      } catch (error) {
        this.logger.error({ err: error }, 'audit ledger task failed');
      }
    });
    return this.busy;
  }

  /**
   * Signs and anchors a head of the whole log if records other than anchors arrived since the last one.
   * Returns the anchored tree size, or undefined when there was nothing new.
   */
  async anchor(): Promise<number | undefined> {
    const latest = this.ledger.latestHead;
    const size = this.ledger.size; // the ledger's leaves, never ahead of the log
    const from = latest?.treeSize ?? 0;
    if (
      this.log
        .all()
        .slice(from, size)
        .every((r) => r.type === TREE_HEAD_SIGNED)
    )
      return undefined;
    const head = await this.ledger.head(size);
    await this.store.append(LEDGER_STREAM, 'any', [
      newEvent({
        type: TREE_HEAD_SIGNED,
        data: { treeSize: head.treeSize, rootHash: head.rootHash.toString('hex'), keyId: head.keyId },
        actor: ACTOR,
      }),
    ]);
    return head.treeSize;
  }

  /**
   * Checks the log on disk (re-read, unless `onDisk` is a tree just built from it) against every anchor in the
   * event store and the latest signed head (plus `known`, problems found elsewhere). Returns what it found;
   * reports each problem.
   */
  async verify(
    known: readonly IntegrityViolation[] = [],
    tree?: Pick<MerkleLog, 'size' | 'root'>,
  ): Promise<IntegrityViolation[]> {
    const found: IntegrityViolation[] = [...known];
    const onDisk = tree ?? (await this.readTree(found));
    const check = (treeSize: number, rootHex: string): void => {
      if (treeSize > onDisk.size) found.push({ treeSize, reason: 'TRUNCATED' });
      else if (onDisk.root(treeSize).toString('hex') !== rootHex)
        found.push({ treeSize, reason: 'ROOT_MISMATCH' });
    };
    // Anchors never change once stored: read only the ones appended since the last run, check them all.
    for (const anchor of await this.store.read(LEDGER_STREAM, { fromRevision: this.anchorsRead })) {
      this.anchorsRead = anchor.revision + 1n;
      if (anchor.type !== TREE_HEAD_SIGNED) continue;
      const { treeSize, rootHash } = anchor.data as { treeSize?: unknown; rootHash?: unknown };
      if (typeof treeSize === 'number' && typeof rootHash === 'string') {
        this.anchors.push({ treeSize, rootHash });
      }
    }
    for (const a of this.anchors) check(a.treeSize, a.rootHash);
    const latest = this.ledger.latestHead;
    if (latest) check(latest.treeSize, latest.rootHash.toString('hex'));
    const unique = [...new Map(found.map((v) => [`${v.reason}:${v.treeSize}`, v])).values()];
    this.lastVerifiedSec = Math.floor(Date.now() / 1000);
    if (unique.length === 0) {
      this.logger.info({ entries: onDisk.size }, 'audit ledger verified');
      return [];
    }
    this.failures.add(1);
    for (const v of unique) {
      this.logger.error({ treeSize: v.treeSize, reason: v.reason }, 'audit ledger integrity violated');
      await this.store.append(LEDGER_STREAM, 'any', [
        newEvent({
          type: LEDGER_INTEGRITY_VIOLATED,
          data: { treeSize: v.treeSize, reason: v.reason },
          actor: ACTOR,
        }),
      ]);
    }
    return unique;
  }

  /** The tree of the entries the ledger holds now, re-read from disk; an out-of-order index goes to `found`. */
  private async readTree(found: IntegrityViolation[]): Promise<MerkleLog> {
    const onDisk = new MerkleLog();
    // Only the entries the ledger holds now: a line being appended meanwhile may be incomplete.
    const limit = this.ledger.size;
    let index = 0;
    for await (const record of AuditLog.readRecords(this.log.path)) {
      if (index >= limit) break;
      if (record.index !== index && found.every((v) => v.reason !== 'INDEX_MISMATCH')) {
        found.push({ treeSize: index, reason: 'INDEX_MISMATCH' });
      }
      onDisk.append(recordLeafHash(record));
      index += 1;
    }
    return onDisk;
  }

  /** Stops the timers after the running task. */
  async stop(): Promise<void> {
    clearInterval(this.anchorTimer);
    clearInterval(this.verifyTimer);
    this.stopped = true;
    await this.busy;
  }
}
