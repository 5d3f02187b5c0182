/**
 * The store watch, pure: does the event store still hold exactly the events the ledger ingested?
 *
 * The ledger keeps, per entry, the event's store position and the digest of the event as stored. Two
 * observations are compared with it:
 * - `CheckStatus`: what the store says about itself (cheap, every second): gone or recreated, settings that let
 *   it drop events, the oldest position raised (retention limits applied), the newest position lowered
 *   (truncation), positions it reports deleted or lost;
 * - `CheckRange`: a run of stored events read back by position (the sweep): a position gone, another event or
 *   other bytes at a position, an event at a position the ledger skipped.
 * Each finding becomes one `StoreIntegrityViolated` naming the first bad entry (ledger index, event id, store
 * position), how many, and the runs of entries. An entry is reported once per kind of finding; a finding that
 * keeps growing (a limit dropping events as new ones arrive) is reported at most once a minute.
 */

/** The event the audit service appends to the store (stream `audit.ledger-main`) for each finding. */
export const STORE_INTEGRITY_VIOLATED = 'haven.audit.v1.StoreIntegrityViolated';

/** Why the store no longer holds what the ledger ingested. */
export const StoreViolationReason = {
  /** The store (JetStream: HAVEN_ES) does not exist. */
  StreamMissing: 'STREAM_MISSING',
  /** The store was deleted and created again. */
  StreamRecreated: 'STREAM_RECREATED',
  /** A setting lets the store drop or change events (retention limits, deletes or purges allowed, subjects). */
  StreamReconfigured: 'STREAM_RECONFIGURED',
  /** Entries older than the store's first position: dropped by a limit or a purge. */
  OldestEventsDropped: 'OLDEST_EVENTS_DROPPED',
  /** Entries beyond the store's last position: the store was truncated or replaced. */
  NewestEventsGone: 'NEWEST_EVENTS_GONE',
  /** Entries whose position the store no longer holds (deleted, lost to corruption). */
  EventsMissing: 'EVENTS_MISSING',
  /** The store holds another event, other bytes or unreadable bytes at an entry's position. */
  EventChanged: 'EVENT_CHANGED',
  /** The store holds an event at a position the ledger went past without it. */
  UnexpectedEvent: 'UNEXPECTED_EVENT',
} as const;
export type StoreViolationReason = (typeof StoreViolationReason)[keyof typeof StoreViolationReason];

/** Inclusive runs `[first, last]`: ledger indexes, or store positions for UNEXPECTED_EVENT. */
export type Runs = readonly (readonly [number, number])[];

/** A finding: the store does not hold what the ledger ingested. */
export interface StoreIntegrityViolated {
  readonly type: 'StoreIntegrityViolated';
  readonly data: {
    readonly reason: StoreViolationReason;
    /** The first entry concerned (0-based ledger index), when one is. */
    readonly firstBadIndex?: number;
    readonly firstBadEventId?: string;
    /** The store position of that entry (or of the unexpected event), decimal. */
    readonly firstBadPosition?: string;
    /** How many entries (or unexpected events) this report covers. */
    readonly count: number;
    /** The runs of entries covered, ledger indexes (store positions for UNEXPECTED_EVENT); at most 100. */
    readonly runs: Runs;
    /** What was seen, non-PHI (settings, positions, creation times). */
    readonly detail: string;
  };
  readonly metadata: {
    /** When it was found (ms since the epoch). */
    readonly at: number;
    /** For a finding about the whole store: what makes it the same finding when seen again. */
    readonly key?: string;
  };
}

/** The store's identity (creation time) as first seen, or as adopted after reporting a recreation. */
export interface StoreIdentityObserved {
  readonly type: 'StoreIdentityObserved';
  readonly data: { readonly identity: string };
  readonly metadata: { readonly at: number };
}

export type StoreWatchEvent = StoreIntegrityViolated | StoreIdentityObserved;

/** One ledger entry as the watch needs it. */
export interface IngestedEntry {
  readonly index: number;
  readonly eventId: string;
  readonly position: bigint;
  /** Digest of the event as stored when ingested; absent for entries made before digests were kept. */
  readonly digest?: string;
}

/** The ledger's entries, in position order (ingestion follows the store's order). */
export interface IngestedLedger {
  readonly size: number;
  at(index: number): IngestedEntry;
  /** The first index whose position is ≥ `position` (`size` when none). */
  lowerBound(position: bigint): number;
}

/** What the store said about itself (the port's StoreStatus). */
export interface StoreObservation {
  readonly exists: boolean;
  readonly identity?: string;
  readonly firstPosition?: bigint;
  readonly lastPosition: bigint;
  readonly missingPositions: readonly bigint[];
  readonly deviations: readonly { setting: string; value: string; expected: string }[];
}

/** A stored event read back: its id and digest, or why it does not decode. */
export interface ScannedItem {
  readonly position: bigint;
  readonly eventId?: string;
  readonly digest?: string;
  readonly unreadable?: string;
}

export type StoreWatchCommand =
  | {
      readonly type: 'CheckStatus';
      readonly status: StoreObservation;
      readonly ledger: IngestedLedger;
      readonly now: number;
    }
  | {
      readonly type: 'CheckRange';
      /** Where this run starts in the ledger. */
      readonly fromIndex: number;
      readonly items: readonly ScannedItem[];
      readonly ledger: IngestedLedger;
      readonly now: number;
    };

type Interval = readonly [number, number];

/** What the watch has reported so far. */
export interface StoreWatchState {
  readonly identity?: string;
  /** Store-level findings reported (reason and detail). */
  readonly reportedStore: readonly string[];
  /** Ledger indexes reported gone (missing, dropped, beyond the end), whatever the reason. */
  readonly gone: readonly Interval[];
  /** Ledger indexes reported changed. */
  readonly changed: readonly Interval[];
  /** Store positions reported as unexpected events. */
  readonly unexpected: readonly Interval[];
  /** When each growing finding (oldest dropped, newest gone) was last reported (ms), for the once-a-minute limit. */
  readonly lastReportAt: Readonly<Partial<Record<StoreViolationReason, number>>>;
}

export const initialStoreWatchState: StoreWatchState = {
  reportedStore: [],
  gone: [],
  changed: [],
  unexpected: [],
  lastReportAt: {},
};

/**
 * A finding that keeps growing by itself — a limit dropping the oldest events as new ones arrive, a store that
 * ends before the ledger — is reported again at most this often. Other findings name distinct entries each
 * time (a pass reads each position once) and are reported as found.
 */
export const REPORT_AGAIN_AFTER_MS = 60_000;
const GROWING: readonly StoreViolationReason[] = [
  StoreViolationReason.OldestEventsDropped,
  StoreViolationReason.NewestEventsGone,
];
const MAX_RUNS = 100;

function contains(set: readonly Interval[], x: number): boolean {
  let lo = 0;
  let hi = set.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = set[mid]!;
    if (x < a) hi = mid - 1;
    else if (x > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** The parts of sorted, disjoint `runs` not covered by `set`: O(runs + set), whatever the runs' lengths. */
function subtract(runs: Runs, set: readonly Interval[]): [number, number][] {
  const out: [number, number][] = [];
  let k = 0;
  for (const [a0, b] of runs) {
    let a = a0;
    while (k < set.length && set[k]![1] < a) k += 1;
    for (let j = k; j < set.length && set[j]![0] <= b && a <= b; j += 1) {
      const [c, d] = set[j]!;
      if (c > a) out.push([a, c - 1]);
      a = Math.max(a, d + 1);
    }
    if (a <= b) out.push([a, b]);
  }
  return out;
}

function addRuns(set: readonly Interval[], runs: Runs): Interval[] {
  const all = [...set, ...runs].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of all) {
    const last = out.at(-1);
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Sorted numbers as runs of consecutive values. */
function toRuns(values: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const v of values) {
    const last = runs.at(-1);
    if (last && v === last[1] + 1) last[1] = v;
    else runs.push([v, v]);
  }
  return runs;
}

const GONE_REASONS: readonly StoreViolationReason[] = [
  StoreViolationReason.OldestEventsDropped,
  StoreViolationReason.NewestEventsGone,
  StoreViolationReason.EventsMissing,
];

/** The interval set a reason's entries are recorded in. */
function bucketOf(reason: StoreViolationReason): 'gone' | 'changed' | 'unexpected' {
  if (GONE_REASONS.includes(reason)) return 'gone';
  return reason === StoreViolationReason.UnexpectedEvent ? 'unexpected' : 'changed';
}

/** Builds a report from candidate runs of ledger indexes (sorted, disjoint), leaving out those already reported. */
function entryReport(
  state: StoreWatchState,
  reason: StoreViolationReason,
  candidates: Runs,
  ledger: IngestedLedger,
  now: number,
  detail: string,
): StoreIntegrityViolated | undefined {
  const fresh = subtract(candidates, state[bucketOf(reason)]);
  if (fresh.length === 0) return undefined;
  const last = GROWING.includes(reason) ? state.lastReportAt[reason] : undefined;
  if (last !== undefined && now - last < REPORT_AGAIN_AFTER_MS) return undefined;
  const runs = fresh.slice(0, MAX_RUNS);
  const first = ledger.at(runs[0]![0]);
  return {
    type: 'StoreIntegrityViolated',
    data: {
      reason,
      firstBadIndex: first.index,
      firstBadEventId: first.eventId,
      firstBadPosition: first.position.toString(),
      count: runs.reduce((n, [a, b]) => n + b - a + 1, 0),
      runs,
      detail,
    },
    metadata: { at: now },
  };
}

/** The run `[from, to)` (none when empty). */
function span(from: number, to: number): Runs {
  return to > from ? [[from, to - 1]] : [];
}

/** What the store says about itself, against the ledger. */
export function checkStatus(
  state: StoreWatchState,
  command: Extract<StoreWatchCommand, { type: 'CheckStatus' }>,
): StoreWatchEvent[] {
  const { status, ledger, now } = command;
  const out: StoreWatchEvent[] = [];
  const storeLevel = (reason: StoreViolationReason, detail: string, key = `${reason}:${detail}`): void => {
    if (state.reportedStore.includes(key)) return;
    const first = ledger.size > 0 ? ledger.at(0) : undefined;
    out.push({
      type: 'StoreIntegrityViolated',
      data: {
        reason,
        ...(first
          ? {
              firstBadIndex: first.index,
              firstBadEventId: first.eventId,
              firstBadPosition: first.position.toString(),
            }
          : {}),
        count: ledger.size,
        runs: ledger.size > 0 ? [[0, ledger.size - 1]] : [],
        detail,
      },
      metadata: { at: now, key },
    });
  };
  if (!status.exists) {
    storeLevel(
      StoreViolationReason.StreamMissing,
      'the event store does not exist',
      `${StoreViolationReason.StreamMissing}:${state.identity ?? ''}`,
    );
    return out;
  }
  if (status.identity !== undefined && status.identity !== state.identity) {
    if (state.identity !== undefined) {
      storeLevel(
        StoreViolationReason.StreamRecreated,
        `the event store was created again: created ${state.identity}, now ${status.identity}`,
      );
    }
    out.push({ type: 'StoreIdentityObserved', data: { identity: status.identity }, metadata: { at: now } });
  }
  if (status.deviations.length > 0) {
    const settings = status.deviations
      .map((d) => `${d.setting}=${d.value} (expected ${d.expected})`)
      .join(', ');
    const key = `${StoreViolationReason.StreamReconfigured}:${settings}`;
    if (!state.reportedStore.includes(key)) {
      out.push({
        type: 'StoreIntegrityViolated',
        data: {
          reason: StoreViolationReason.StreamReconfigured,
          count: 0,
          runs: [],
          detail: `settings that let the store drop or change events: ${settings}`,
        },
        metadata: { at: now, key },
      });
    }
  }
  if (ledger.size === 0) return out;
  // Later findings of this check leave out the entries earlier ones named.
  let reported = state;
  const entries = (reason: StoreViolationReason, candidates: Runs, detail: string): void => {
    const report = entryReport(reported, reason, candidates, ledger, now, detail);
    if (!report) return;
    out.push(report);
    reported = evolve(reported, report);
  };
  const afterLast = ledger.lowerBound(status.lastPosition + 1n);
  entries(
    StoreViolationReason.NewestEventsGone,
    span(afterLast, ledger.size),
    `the store ends at position ${status.lastPosition}, before entries it held`,
  );
  const first = status.firstPosition ?? status.lastPosition + 1n;
  entries(
    StoreViolationReason.OldestEventsDropped,
    span(0, Math.min(ledger.lowerBound(first), afterLast)),
    `the store now starts at position ${first}`,
  );
  const missing: number[] = [];
  for (const p of status.missingPositions) {
    const i = ledger.lowerBound(p);
    if (i < ledger.size && ledger.at(i).position === p) missing.push(i);
  }
  entries(
    StoreViolationReason.EventsMissing,
    toRuns(missing.sort((a, b) => a - b)),
    'the store reports these positions deleted or lost',
  );
  return out;
}

/** Where a {@link checkRange} got to: the next ledger index to compare, and its findings. */
export interface RangeOutcome {
  readonly events: StoreWatchEvent[];
  readonly nextIndex: number;
}

/** A run of stored events read back by position, against the ledger entries from `fromIndex` on. */
export function checkRange(
  state: StoreWatchState,
  command: Extract<StoreWatchCommand, { type: 'CheckRange' }>,
): RangeOutcome {
  const { ledger, items, now } = command;
  const lastIngested = ledger.size > 0 ? ledger.at(ledger.size - 1).position : -1n;
  const gone: number[] = [];
  const changed: number[] = [];
  const how = new Set<string>();
  const unexpected: { position: bigint; eventId?: string }[] = [];
  let i = command.fromIndex;
  for (const item of items) {
    while (i < ledger.size && ledger.at(i).position < item.position) gone.push(i++);
    const entry = i < ledger.size ? ledger.at(i) : undefined;
    if (entry && entry.position === item.position) {
      const difference =
        item.unreadable !== undefined
          ? 'unreadable bytes'
          : item.eventId !== entry.eventId
            ? 'another event'
            : entry.digest !== undefined && item.digest !== entry.digest
              ? 'other bytes'
              : undefined;
      if (difference) {
        how.add(difference);
        changed.push(i);
      }
      i += 1;
    } else if (item.position <= lastIngested) {
      unexpected.push({ position: item.position, ...(item.eventId ? { eventId: item.eventId } : {}) });
    } else {
      break; // not ingested yet
    }
  }
  const events: StoreWatchEvent[] = [];
  const missing = entryReport(
    state,
    StoreViolationReason.EventsMissing,
    toRuns(gone),
    ledger,
    now,
    'read back by position, the store no longer holds these entries',
  );
  if (missing) events.push(missing);
  const edited = entryReport(
    state,
    StoreViolationReason.EventChanged,
    toRuns(changed),
    ledger,
    now,
    `read back by position, the store holds ${[...how].sort().join(' and ')}`,
  );
  if (edited) events.push(edited);
  const freshUnexpected = unexpected.filter((u) => !contains(state.unexpected, Number(u.position)));
  if (freshUnexpected.length > 0) {
    const runs = toRuns(freshUnexpected.map((u) => Number(u.position))).slice(0, MAX_RUNS);
    const first = freshUnexpected[0]!;
    events.push({
      type: 'StoreIntegrityViolated',
      data: {
        reason: StoreViolationReason.UnexpectedEvent,
        ...(first.eventId ? { firstBadEventId: first.eventId } : {}),
        firstBadPosition: first.position.toString(),
        count: runs.reduce((n, [a, b]) => n + b - a + 1, 0),
        runs,
        detail: 'the store holds events at positions the ledger went past without them',
      },
      metadata: { at: now },
    });
  }
  return { events, nextIndex: i };
}

/** Folds a finding into what has been reported. */
export function evolve(state: StoreWatchState, event: StoreWatchEvent): StoreWatchState {
  if (event.type === 'StoreIdentityObserved') return { ...state, identity: event.data.identity };
  const { key, at } = event.metadata;
  if (key !== undefined) return { ...state, reportedStore: [...state.reportedStore, key] };
  const { reason, runs } = event.data;
  const bucket = bucketOf(reason);
  return {
    ...state,
    [bucket]: addRuns(state[bucket], runs),
    lastReportAt: { ...state.lastReportAt, [reason]: at },
  };
}
