/**
 * Keeps the audit ledger honest while the service runs:
 * - anchors: every `anchorIntervalMs`, when records other than its own anchors arrived, signs a tree head and
 *   appends `TreeHeadSigned` (size, root, key id) to the event store, whose stream cannot be deleted or purged —
 *   so a head survives even if someone with access to the audit volume rewrites the log and the heads file;
 * - verification: at start and every `verifyIntervalMs` it re-reads the log from disk and checks it against
 *   every anchor in the event store, the latest signed head and the entries it ingested; every
 *   `watchIntervalMs` it looks at the file (one stat) and verifies at once when anyone else changed it. Any
 *   mismatch appends `LedgerIntegrityViolated` naming the first bad entry, logs an error and counts
 *   `haven.audit.verification_failures` (alert HavenAuditVerificationFailed); each run sets
 *   `haven.audit.last_verification_timestamp` (alert HavenAuditVerificationStale);
 * - an anchor larger than the ledger is checked once the ledger has caught up with it (a log rebuilt into a
 *   fresh volume raises no false TRUNCATED): it is a real truncation only once the anchor event itself has been
 *   ingested and the ledger is still shorter.
 */
import { metrics, type Counter } from '@opentelemetry/api';
import { newEvent, type EventStore } from '@haven/eventstore';
import type { Logger } from '@haven/service';
import { AuditLog, type LogRepair } from './audit-log';
import { recordLeafHash, type IntegrityViolation, type Ledger } from './ledger';
import { MerkleLog, type Hash } from './merkle';
import { LastRunGauge } from '../metrics';

export const TREE_HEAD_SIGNED = 'haven.audit.v1.TreeHeadSigned';
export const LEDGER_INTEGRITY_VIOLATED = 'haven.audit.v1.LedgerIntegrityViolated';
export const AUDIT_LOG_REPAIRED = 'haven.audit.v1.AuditLogRepaired';
/** The event-store stream holding the anchors (`TreeHeadSigned`) and integrity alarms. */
export const LEDGER_STREAM = 'audit.ledger-main';

const ACTOR = { kind: 'service', id: 'audit' } as const;

/** Options of {@link LedgerKeeper.start}. */
export interface LedgerKeeperOptions {
  /** How often a new head is anchored when the log grew (default 30 s). */
  readonly anchorIntervalMs?: number;
  /** How often the log on disk is re-read and re-verified whatever happened (default 10 min). */
  readonly verifyIntervalMs?: number;
  /** How often the log file is looked at for changes made by others (default 1 s). */
  readonly watchIntervalMs?: number;
}

/**
 * Finds the first entry in `[from, to)` whose record differs from the one the event store's event at its
 * position gives (see store-watch/locate.ts); undefined when none does or the store cannot tell.
 */
export type LocateChangedEntry = (
  from: number,
  to: number,
) => Promise<{ index: number; eventId: string } | undefined>;

interface Anchor {
  readonly treeSize: number;
  readonly rootHash: string;
  /** The anchor's own event id: once it is in the ledger, the ledger must hold `treeSize` entries. */
  readonly eventId: string;
}

/** A tree over the log on disk, and what reading it found against the entries ingested. */
interface DiskTree extends Pick<MerkleLog, 'size' | 'root'> {
  /** The first entry that differs from the one the ledger ingested, if any. */
  readonly firstChanged?: { index: number; eventId: string };
}

export class LedgerKeeper {
  private anchorTimer: NodeJS.Timeout | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private readonly lastVerified = new LastRunGauge(
    'haven.audit.last_verification_timestamp',
    'When the audit ledger last verified (whatever the outcome)',
  );
  private readonly failures: Counter;
  private busy: Promise<unknown> = Promise.resolve();
  /** Every anchor read so far, and the stream revision to read on from. */
  private readonly anchors: Anchor[] = [];
  private anchorsRead = 0n;
  /** The largest tree size anchored in the store (a head signed for an auditor's request is not an anchor). */
  private anchoredSize = 0;
  /** Anchors larger than the ledger at the last check, waiting for ingestion to catch up. */
  private pending = 0;
  /** Violations already reported by checks that are not the periodic full verification. */
  private readonly reported = new Set<string>();
  private stopped = false;

  private constructor(
    private readonly log: AuditLog,
    private readonly ledger: Ledger,
    private readonly store: EventStore,
    private readonly logger: Logger,
    private readonly locate: LocateChangedEntry | undefined,
  ) {
    const meter = metrics.getMeter('@haven/audit');
    this.failures = meter.createCounter('haven.audit.verification_failures', {
      description: 'Audit ledger verifications that found the log inconsistent with a signed head',
    });
    meter
      .createObservableGauge('haven.audit.ledger_size', {
        description: 'Entries in the audit ledger',
        unit: '{event}',
      })
      .addCallback((r) => r.observe(this.ledger.size));
  }

  /**
   * Records a torn last line the log cut off when it opened, verifies once (including what the ledger found
   * when it opened), then starts the timers.
   */
  static async start(
    deps: {
      log: AuditLog;
      ledger: Ledger;
      store: EventStore;
      logger: Logger;
      locate?: LocateChangedEntry;
    },
    options: LedgerKeeperOptions = {},
  ): Promise<LedgerKeeper> {
    const keeper = new LedgerKeeper(deps.log, deps.ledger, deps.store, deps.logger, deps.locate);
    if (deps.log.repaired) await keeper.reportRepair(deps.log.repaired);
    // The ledger has just hashed the log as it is on disk: check the anchors against it, no second read.
    await keeper.verify(deps.ledger.violations, { tree: deps.ledger });
    keeper.anchorTimer = setInterval(
      () => void keeper.serial(() => keeper.anchor()),
      options.anchorIntervalMs ?? 30_000,
    );
    keeper.verifyTimer = setInterval(
      () => void keeper.serial(() => keeper.verify([], { repeat: true })),
      options.verifyIntervalMs ?? 600_000,
    );
    keeper.watchTimer = setInterval(() => void keeper.watch(), options.watchIntervalMs ?? 1_000);
    keeper.anchorTimer.unref();
    keeper.verifyTimer.unref();
    keeper.watchTimer.unref();
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

  /** One look at the file and the pending anchors; verifies when either calls for it. */
  private async watch(): Promise<void> {
    if (this.stopped) return;
    try {
      if (await this.log.changedOnDisk()) {
        this.logger.warn({ entries: this.ledger.size }, 'audit log changed on disk by another writer');
        await this.serial(() => this.verify());
      } else if (this.pending > 0) {
        await this.serial(() => this.verify([], { tree: this.ledger, quiet: true }));
      }
    } catch (error) {
      this.logger.error({ err: error }, 'audit log watch failed');
    }
  }

  private async reportRepair(repair: LogRepair): Promise<void> {
    this.logger.warn(
      { atIndex: repair.atIndex, droppedBytes: repair.droppedBytes },
      'audit log: torn last line cut off; that entry is recorded again from the event store',
    );
    await this.store.append(LEDGER_STREAM, 'any', [
      newEvent({
        type: AUDIT_LOG_REPAIRED,
        data: {
          reason: 'TORN_LAST_LINE',
          atIndex: repair.atIndex,
          droppedBytes: repair.droppedBytes,
          source: 'event store',
        },
        actor: ACTOR,
      }),
    ]);
  }

  /**
   * Signs and anchors a head of the whole log if records other than anchors arrived since the last one.
   * Returns the anchored tree size, or undefined when there was nothing new.
   */
  async anchor(): Promise<number | undefined> {
    const size = this.ledger.size; // the ledger's leaves, never ahead of the log
    const from = Math.min(this.anchoredSize, size);
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
    this.anchoredSize = Math.max(this.anchoredSize, head.treeSize);
    return head.treeSize;
  }

  /**
   * Checks the log on disk (re-read, unless `tree` is one just built from it or the ledger itself) against
   * every anchor in the event store, the latest signed head and the entries ingested (plus `known`, problems
   * found elsewhere). Returns what it found and reports it — everything with `repeat` (the periodic run, so an
   * unresolved problem keeps alerting), otherwise only what was not reported before. `quiet` logs a clean
   * result at debug level (the per-second checks of pending anchors).
   */
  async verify(
    known: readonly IntegrityViolation[] = [],
    options: { tree?: Pick<MerkleLog, 'size' | 'root'>; repeat?: boolean; quiet?: boolean } = {},
  ): Promise<IntegrityViolation[]> {
    // Heads that no longer match (found when the ledger opened) join the anchors that do not: one report
    // naming the first changed entry.
    const found: IntegrityViolation[] = known.filter((v) => v.reason !== 'ROOT_MISMATCH');
    const mismatched: number[] = known.filter((v) => v.reason === 'ROOT_MISMATCH').map((v) => v.treeSize);
    const onDisk: DiskTree = options.tree ?? (await this.readTree(found));
    await this.readAnchors();
    const passed = this.ledger.verifiedHeadSizes;
    const truncated: number[] = [];
    let pending = 0;
    const check = (treeSize: number, rootHex: string, anchorEventId?: string): void => {
      if (treeSize > onDisk.size) {
        // Not there yet (a log being rebuilt), unless the anchor itself was ingested already.
        if (anchorEventId !== undefined && !this.log.get(anchorEventId)) pending += 1;
        else truncated.push(treeSize);
      } else if (onDisk.root(treeSize).toString('hex') !== rootHex) mismatched.push(treeSize);
      else passed.push(treeSize);
    };
    for (const a of this.anchors) check(a.treeSize, a.rootHash, a.eventId);
    const latest = this.ledger.latestHead;
    if (latest) check(latest.treeSize, latest.rootHash.toString('hex'));
    this.pending = pending;
    if (truncated.length > 0) {
      const largest = Math.max(...truncated);
      found.push({
        treeSize: largest,
        reason: 'TRUNCATED',
        firstBadIndex: onDisk.size,
        count: largest - onDisk.size,
        detail: `${truncated.length} signed head(s) or anchor(s) cover more entries than the log holds`,
      });
    }
    if (mismatched.length > 0) found.push(await this.rootMismatch(mismatched, passed, onDisk));
    const unique = [...new Map(found.map((v) => [violationKey(v), v])).values()];
    this.lastVerified.mark();
    const toReport = options.repeat ? unique : unique.filter((v) => !this.reported.has(violationKey(v)));
    if (unique.length === 0) {
      const level = options.quiet ? 'debug' : 'info';
      this.logger[level]({ entries: onDisk.size, pendingAnchors: pending }, 'audit ledger verified');
      return [];
    }
    if (toReport.length > 0) this.failures.add(1);
    for (const v of toReport) {
      this.reported.add(violationKey(v));
      this.logger.error(
        {
          violation: v.reason,
          treeSize: v.treeSize,
          firstBadIndex: v.firstBadIndex,
          firstBadEventId: v.firstBadEventId,
          count: v.count,
          detail: v.detail,
        },
        'audit ledger integrity violated',
      );
      await this.store.append(LEDGER_STREAM, 'any', [
        newEvent({
          type: LEDGER_INTEGRITY_VIOLATED,
          data: {
            treeSize: v.treeSize,
            reason: v.reason,
            ...(v.firstBadIndex !== undefined ? { firstBadIndex: v.firstBadIndex } : {}),
            ...(v.firstBadEventId !== undefined ? { firstBadEventId: v.firstBadEventId } : {}),
            ...(v.count !== undefined ? { count: v.count } : {}),
            ...(v.detail !== undefined ? { detail: v.detail } : {}),
          },
          actor: ACTOR,
        }),
      ]);
    }
    return unique;
  }

  /**
   * One ROOT_MISMATCH for every head and anchor that no longer matches, naming the first changed entry: the one
   * the re-read found, or else the first entry between the last matching head and the first failing one that
   * differs from what the event store holds at its position.
   */
  private async rootMismatch(
    mismatched: readonly number[],
    passed: readonly number[],
    onDisk: DiskTree,
  ): Promise<IntegrityViolation> {
    const firstFail = Math.min(...mismatched);
    const lastPass = Math.max(0, ...passed.filter((s) => s < firstFail));
    const located =
      onDisk.firstChanged && onDisk.firstChanged.index < firstFail
        ? onDisk.firstChanged
        : await this.locate?.(lastPass, firstFail).catch((error: unknown) => {
            this.logger.warn({ err: error }, 'audit ledger: could not compare entries with the event store');
            return undefined;
          });
    const span = `${mismatched.length} signed head(s) or anchor(s) from size ${firstFail} to ${Math.max(...mismatched)} do not match`;
    return {
      treeSize: firstFail,
      reason: 'ROOT_MISMATCH',
      firstBadIndex: located?.index ?? lastPass,
      ...(located ? { firstBadEventId: located.eventId } : {}),
      detail: located ? span : `${span}; the first changed entry is between ${lastPass} and ${firstFail - 1}`,
    };
  }

  /** Reads the anchors appended since the last run (they never change once stored). */
  private async readAnchors(): Promise<void> {
    for (const anchor of await this.store.read(LEDGER_STREAM, { fromRevision: this.anchorsRead })) {
      this.anchorsRead = anchor.revision + 1n;
      if (anchor.type !== TREE_HEAD_SIGNED) continue;
      const { treeSize, rootHash } = anchor.data as { treeSize?: unknown; rootHash?: unknown };
      if (typeof treeSize === 'number' && typeof rootHash === 'string') {
        this.anchors.push({ treeSize, rootHash, eventId: anchor.id });
        this.anchoredSize = Math.max(this.anchoredSize, treeSize);
      }
    }
  }

  /**
   * The tree of the entries the ledger holds now, re-read from disk and compared entry by entry with the leaves
   * ingested: a changed, unreadable, out-of-place or missing entry goes to `found`.
   */
  private async readTree(found: IntegrityViolation[]): Promise<DiskTree> {
    // The file as it is from now on is what this run judges: a change after this point triggers another run.
    await this.log.acceptDiskState();
    const onDisk = new MerkleLog();
    // Only the entries the ledger holds now: a line being appended meanwhile may be incomplete.
    const limit = this.ledger.size;
    const records = this.log.all();
    let firstChanged: { index: number; eventId: string } | undefined;
    let changed = 0;
    let index = 0;
    let unreadable = false;
    let misplaced = false;
    for await (const line of AuditLog.readLines(this.log.path)) {
      if (index >= limit) break;
      const ingested = records[index];
      let leaf: Hash;
      if ('unreadable' in line) {
        if (!unreadable) {
          found.push({
            treeSize: limit,
            reason: 'UNREADABLE_ENTRY',
            firstBadIndex: index,
            ...(ingested ? { firstBadEventId: ingested.eventId } : {}),
          });
        }
        unreadable = true;
        leaf = Buffer.alloc(32);
      } else {
        if (line.index !== index && !misplaced) {
          misplaced = true;
          found.push({
            treeSize: limit,
            reason: 'INDEX_MISMATCH',
            firstBadIndex: index,
            firstBadEventId: line.eventId,
            detail: `the record at position ${index} says index ${line.index}`,
          });
        }
        leaf = recordLeafHash(line);
      }
      if (!leaf.equals(this.ledger.leafHash(index))) {
        changed += 1;
        firstChanged ??= { index, eventId: ingested?.eventId ?? '' };
      }
      onDisk.append(leaf);
      index += 1;
    }
    if (firstChanged) {
      found.push({
        treeSize: limit,
        reason: 'ENTRY_CHANGED',
        firstBadIndex: firstChanged.index,
        firstBadEventId: firstChanged.eventId,
        count: changed,
        detail: 'the entry on disk differs from the one ingested',
      });
    }
    const missing = records[index];
    if (index < limit) {
      found.push({
        treeSize: limit,
        reason: 'TRUNCATED',
        firstBadIndex: index,
        ...(missing ? { firstBadEventId: missing.eventId } : {}),
        count: limit - index,
        detail: 'the log on disk holds fewer entries than were ingested',
      });
    }
    return Object.assign(onDisk, firstChanged ? { firstChanged } : {});
  }

  /** Stops the timers after the running task. */
  async stop(): Promise<void> {
    clearInterval(this.anchorTimer);
    clearInterval(this.verifyTimer);
    clearInterval(this.watchTimer);
    this.stopped = true;
    await this.busy;
  }
}

/** What makes two reports the same finding: the first bad entry when there is one, else the tree size. */
function violationKey(v: IntegrityViolation): string {
  return v.firstBadIndex !== undefined ? `${v.reason}@${v.firstBadIndex}` : `${v.reason}:${v.treeSize}`;
}
