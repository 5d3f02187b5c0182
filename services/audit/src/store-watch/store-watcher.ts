/**
 * The store watch, wired: checks continuously that the event store still holds exactly the events the ledger
 * ingested (see ./decide for what counts as a finding).
 *
 * Cost, by design independent of history on the fast path:
 * - every `intervalMs` (1 s) one status call (JetStream: stream info): store gone or recreated, settings
 *   changed, first or last position moved, positions reported deleted or lost — O(1), so these are seen within
 *   about a second whatever the size of the store;
 * - a sweep reads the stored events back by position and compares id and digest with each entry. It runs at
 *   once, as fast as it can (about a second of work per tick), when the watch starts, when the server answering
 *   changed (a restart: block files may have been edited meanwhile), when the store was recreated and when its
 *   count no longer adds up; otherwise it re-reads everything at most `sweepPerSecond` events a second, a pass
 *   starting at most every `fullPassEveryMs`. An edit that the server does not itself report is therefore found
 *   within the time of one pass after a server restart, and within one paced pass otherwise.
 * Each finding appends `StoreIntegrityViolated` to the store (kept and retried while the store cannot take
 * it), logs an error and counts `haven.audit.store_integrity_violations` (alert HavenAuditStoreIntegrityViolated).
 */
import { metrics, type Counter } from '@opentelemetry/api';
import {
  newEvent,
  type EventStore,
  type NewEvent,
  type StoreInspection,
  type StoreStatus,
} from '@haven/eventstore';
import type { Logger } from '@haven/service';
import type { AuditLog } from '../log/audit-log';
import { eventDigest } from '../log/event-digest';
import { LEDGER_STREAM } from '../log/ledger-keeper';
import { LastRunGauge } from '../metrics';
import {
  STORE_INTEGRITY_VIOLATED,
  checkRange,
  checkStatus,
  evolve,
  initialStoreWatchState,
  type IngestedLedger,
  type ScannedItem,
  type StoreWatchEvent,
  type StoreWatchState,
} from './decide';

const ACTOR = { kind: 'service', id: 'audit' } as const;
/** Findings kept for the store while it cannot take them; the oldest go first beyond this. */
const MAX_UNSENT = 1_000;

/** Options of {@link StoreWatcher.start}. */
export interface StoreWatcherOptions {
  /** How often the store's status is checked (default 1 s). */
  readonly intervalMs?: number;
  /** Pace of the background re-read, events per second (default 2 000). */
  readonly sweepPerSecond?: number;
  /** A background pass starts at most this often (default 60 s). */
  readonly fullPassEveryMs?: number;
  /** Events read per request (default 1 000). */
  readonly chunk?: number;
}

/** The audit log's records as the watch sees them. */
export function ledgerView(log: AuditLog): IngestedLedger {
  const records = log.all();
  const size = records.length;
  const positionAt = (i: number): bigint => BigInt(records[i]!.sourcePosition);
  return {
    size,
    at: (index) => {
      const r = records[index];
      if (!r || index >= size) throw new RangeError(`no ledger entry ${index}`);
      return {
        index,
        eventId: r.eventId,
        position: BigInt(r.sourcePosition),
        ...(r.sourceDigest !== undefined ? { digest: r.sourceDigest } : {}),
      };
    },
    lowerBound: (position) => {
      let lo = 0;
      let hi = size;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (positionAt(mid) < position) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    },
  };
}

interface Pass {
  nextIndex: number;
  readonly urgent: boolean;
  readonly startedAt: number;
  read: number;
}

export class StoreWatcher {
  private timer: NodeJS.Timeout | undefined;
  private state: StoreWatchState = initialStoreWatchState;
  private pass: Pass | undefined;
  private lastPassStartedAt = 0;
  private epoch: string | undefined;
  private countMismatch: string | undefined;
  /** Findings as events for the store, each with its id fixed so a retried append never doubles it. */
  private unsent: NewEvent[] = [];
  private running: Promise<void> | undefined;
  private readonly lastCheck = new LastRunGauge(
    'haven.audit.store_last_check_timestamp',
    'When the audit service last compared the event store with its ledger',
  );
  private readonly lastPass = new LastRunGauge(
    'haven.audit.store_last_full_pass_timestamp',
    'When the audit service last finished re-reading every stored event',
  );
  private stopped = false;
  private readonly violations: Counter;
  private readonly intervalMs: number;
  private readonly sweepPerSecond: number;
  private readonly fullPassEveryMs: number;
  private readonly chunk: number;

  private constructor(
    private readonly inspection: StoreInspection,
    private readonly log: AuditLog,
    private readonly store: EventStore,
    private readonly logger: Logger,
    options: StoreWatcherOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.sweepPerSecond = options.sweepPerSecond ?? 2_000;
    this.fullPassEveryMs = options.fullPassEveryMs ?? 60_000;
    this.chunk = options.chunk ?? 1_000;
    const meter = metrics.getMeter('@haven/audit');
    this.violations = meter.createCounter('haven.audit.store_integrity_violations', {
      description: 'Findings that the event store no longer holds exactly the events the ledger ingested',
    });
  }

  /** Checks once (and starts the first full pass), then every `intervalMs`. */
  static async start(
    deps: { inspection: StoreInspection; log: AuditLog; store: EventStore; logger: Logger },
    options: StoreWatcherOptions = {},
  ): Promise<StoreWatcher> {
    const watcher = new StoreWatcher(deps.inspection, deps.log, deps.store, deps.logger, options);
    await watcher.tick();
    watcher.timer = setInterval(() => void watcher.tick(), watcher.intervalMs);
    watcher.timer.unref();
    return watcher;
  }

  /** One check (skipped while the previous one still runs). Resolves when it is done. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.check()
      .catch((error: unknown) => this.logger.error({ err: error }, 'event store watch failed'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async check(): Promise<void> {
    let status: StoreStatus;
    try {
      status = await this.inspection.status();
    } catch (error) {
      this.logger.warn({ err: error }, 'event store watch: the store cannot be asked now');
      return;
    }
    const now = Date.now();
    const ledger = ledgerView(this.log);
    const before = this.state.identity;
    this.apply(checkStatus(this.state, { type: 'CheckStatus', status, ledger, now }));
    this.lastCheck.mark(now);
    if (!status.exists) {
      this.pass = undefined;
    } else {
      const why = this.urgency(status, ledger, before);
      if (why) {
        this.logger.info({ why, entries: ledger.size }, 'event store watch: reading every stored event back');
        this.startPass(status, ledger, true, now);
      } else if (!this.pass && now - this.lastPassStartedAt >= this.fullPassEveryMs) {
        this.startPass(status, ledger, false, now);
      }
      await this.sweep();
    }
    await this.flush();
  }

  /** Why everything must be re-read now, if it must. */
  private urgency(
    status: StoreStatus,
    ledger: IngestedLedger,
    identityBefore: string | undefined,
  ): string | undefined {
    let why: string | undefined;
    if (this.lastPassStartedAt === 0) why = 'the watch started';
    if (status.epoch !== undefined && this.epoch !== undefined && status.epoch !== this.epoch)
      why = 'the server answering changed (restarted or replaced)';
    if (identityBefore !== undefined && status.identity !== identityBefore)
      why = 'the store was created again';
    if (status.epoch !== undefined) this.epoch = status.epoch;
    if (status.count !== undefined && ledger.size > 0) {
      // Every stored event up to the last ingested one is an entry; everything after it is not ingested yet.
      const first = status.firstPosition ?? status.lastPosition + 1n;
      const lastIngested = ledger.at(ledger.size - 1).position;
      const held =
        BigInt(ledger.lowerBound(status.lastPosition + 1n) - ledger.lowerBound(first)) +
        (status.lastPosition > lastIngested ? status.lastPosition - lastIngested : 0n);
      const mismatch = status.count === held ? undefined : `${status.count}/${held}/${status.lastPosition}`;
      if (mismatch !== undefined && mismatch !== this.countMismatch) {
        why ??= `the store holds ${status.count} events where ${held} were expected`;
      }
      this.countMismatch = mismatch;
    }
    return why;
  }

  private startPass(status: StoreStatus, ledger: IngestedLedger, urgent: boolean, now: number): void {
    const first = status.firstPosition ?? 0n;
    this.pass = { nextIndex: ledger.lowerBound(first), urgent, startedAt: now, read: 0 };
    this.lastPassStartedAt = now;
  }

  /** Reads the next part of the pass: about a second of work when urgent, the paced budget otherwise. */
  private async sweep(): Promise<void> {
    const started = Date.now();
    let budget = Math.max(1, Math.round((this.sweepPerSecond * this.intervalMs) / 1000));
    while (this.pass && !this.stopped) {
      const pass = this.pass;
      if (pass.urgent ? Date.now() - started > this.intervalMs : budget <= 0) return;
      const ledger = ledgerView(this.log);
      if (pass.nextIndex >= ledger.size) {
        this.finishPass(pass, ledger.size);
        return;
      }
      const limit = pass.urgent ? this.chunk : Math.min(this.chunk, budget);
      const range = await this.inspection.readFrom(ledger.at(pass.nextIndex).position, limit);
      const items: ScannedItem[] = range.items.map((x) =>
        x.event
          ? { position: x.position, eventId: x.event.id, digest: eventDigest(x.event) }
          : { position: x.position, unreadable: x.unreadable ?? 'undecodable' },
      );
      const outcome = checkRange(this.state, {
        type: 'CheckRange',
        fromIndex: pass.nextIndex,
        items,
        ledger,
        now: Date.now(),
      });
      this.apply(outcome.events);
      budget -= Math.max(1, items.length);
      pass.read += items.length;
      const stuck = outcome.nextIndex === pass.nextIndex;
      pass.nextIndex = outcome.nextIndex;
      // Past the store's end, what is left is the status check's to judge (NEWEST_EVENTS_GONE).
      if (range.end || stuck) {
        this.finishPass(pass, ledger.size);
        return;
      }
    }
  }

  private finishPass(pass: Pass, entries: number): void {
    this.pass = undefined;
    this.lastPass.mark();
    this.logger.debug(
      { read: pass.read, entries, ms: Date.now() - pass.startedAt, urgent: pass.urgent },
      'event store watch: pass done',
    );
  }

  private apply(events: readonly StoreWatchEvent[]): void {
    for (const event of events) {
      this.state = evolve(this.state, event);
      if (event.type !== 'StoreIntegrityViolated') continue;
      const { reason, firstBadIndex, firstBadEventId, firstBadPosition, count, detail } = event.data;
      this.violations.add(1);
      this.logger.error(
        { violation: reason, firstBadIndex, firstBadEventId, firstBadPosition, count, detail },
        'event store integrity violated',
      );
      this.unsent.push(newEvent({ type: STORE_INTEGRITY_VIOLATED, data: { ...event.data }, actor: ACTOR }));
      if (this.unsent.length > MAX_UNSENT) this.unsent.shift();
    }
  }

  /** Appends the findings not yet in the store; keeps them when it cannot take them now. */
  private async flush(): Promise<void> {
    while (this.unsent.length > 0) {
      const event = this.unsent[0]!;
      try {
        await this.store.append(LEDGER_STREAM, 'any', [event]);
      } catch (error) {
        this.logger.warn(
          { err: error, unsent: this.unsent.length },
          'event store watch: findings kept until the store takes them',
        );
        return;
      }
      this.unsent.shift();
    }
  }

  /** Stops the timer after the running check. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
