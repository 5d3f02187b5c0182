import { given as decider } from '@haven/testing';
import {
  REPORT_AGAIN_AFTER_MS,
  checkRange,
  checkStatus,
  evolve,
  initialStoreWatchState,
  type IngestedEntry,
  type IngestedLedger,
  type ScannedItem,
  type StoreObservation,
  type StoreWatchCommand,
  type StoreWatchEvent,
  type StoreWatchState,
} from './decide';

/** A ledger of entries at the given store positions (event `e<index>`, digest `d<index>`). */
function ledgerAt(positions: readonly number[], withDigests = true): IngestedLedger {
  const entries: IngestedEntry[] = positions.map((p, index) => ({
    index,
    eventId: `e${index}`,
    position: BigInt(p),
    ...(withDigests ? { digest: `d${index}` } : {}),
  }));
  return {
    size: entries.length,
    at: (i) => {
      const e = entries[i];
      if (!e) throw new RangeError(`no entry ${i}`);
      return e;
    },
    lowerBound: (p) => {
      const i = entries.findIndex((e) => e.position >= p);
      return i === -1 ? entries.length : i;
    },
  };
}

const positions = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, k) => from + k);
const HUNDRED = ledgerAt(positions(1, 100));
const T0 = 1_000_000;

const intact: StoreObservation = {
  exists: true,
  identity: 'created-1',
  firstPosition: 1n,
  lastPosition: 120n,
  missingPositions: [],
  deviations: [],
};

/** The entries of the ledger as the store would give them back, at their positions. */
const readBack = (ledger: IngestedLedger, from = 0, to = ledger.size): ScannedItem[] =>
  Array.from({ length: to - from }, (_, k) => {
    const e = ledger.at(from + k);
    return { position: e.position, eventId: e.eventId, ...(e.digest ? { digest: e.digest } : {}) };
  });

type Command<T extends StoreWatchCommand['type']> = Extract<StoreWatchCommand, { type: T }>;
const watch = { evolve, initialState: initialStoreWatchState };
const statusCheck = {
  ...watch,
  decide: (c: Command<'CheckStatus'>, s: StoreWatchState) => checkStatus(s, c),
};
const rangeCheck = { ...watch, decide: (c: Command<'CheckRange'>, s: StoreWatchState) => checkRange(s, c) };

/** The shared given/when/then, with the watch's two commands spelled out. */
function given(...past: StoreWatchEvent[]) {
  return {
    whenStatus: (status: StoreObservation, ledger = HUNDRED, now = T0) =>
      decider(statusCheck, past).when({ type: 'CheckStatus', status, ledger, now }).result(),
    whenRange: (items: readonly ScannedItem[], ledger = HUNDRED, fromIndex = 0, now = T0) =>
      decider(rangeCheck, past).when({ type: 'CheckRange', fromIndex, items, ledger, now }).result(),
  };
}

const seen = (identity = 'created-1'): StoreWatchEvent => ({
  type: 'StoreIdentityObserved',
  data: { identity },
  metadata: { at: T0 - 1 },
});

const violations = (events: readonly StoreWatchEvent[]) =>
  events.flatMap((e) => (e.type === 'StoreIntegrityViolated' ? [e.data] : []));

describe('the store watch, from what the store says about itself', () => {
  describe('given a store that holds everything the ledger ingested', () => {
    it('learns its identity the first time and finds nothing', () => {
      expect(given().whenStatus(intact)).toEqual([
        { type: 'StoreIdentityObserved', data: { identity: 'created-1' }, metadata: { at: T0 } },
      ]);
      expect(given(seen()).whenStatus(intact)).toEqual([]);
    });
  });

  describe('when the stream is gone', () => {
    it('reports STREAM_MISSING once, naming every entry', () => {
      const gone: StoreObservation = {
        exists: false,
        lastPosition: 0n,
        missingPositions: [],
        deviations: [],
      };
      const events = given(seen()).whenStatus(gone);
      expect(violations(events)).toEqual([
        {
          reason: 'STREAM_MISSING',
          firstBadIndex: 0,
          firstBadEventId: 'e0',
          firstBadPosition: '1',
          count: 100,
          runs: [[0, 99]],
          detail: 'the event store does not exist',
        },
      ]);
      expect(given(seen(), ...events).whenStatus(gone)).toEqual([]);
    });
  });

  describe('when the stream was deleted and created again', () => {
    it('reports STREAM_RECREATED with both creation times, then the entries the new one lacks', () => {
      const events = given(seen()).whenStatus({
        ...intact,
        identity: 'created-2',
        firstPosition: 1n,
        lastPosition: 3n,
      });
      expect(violations(events).map((v) => [v.reason, v.firstBadIndex, v.count, v.detail])).toEqual([
        ['STREAM_RECREATED', 0, 100, 'the event store was created again: created created-1, now created-2'],
        ['NEWEST_EVENTS_GONE', 3, 97, 'the store ends at position 3, before entries it held'],
      ]);
      expect(events).toContainEqual(expect.objectContaining({ type: 'StoreIdentityObserved' }));
    });
  });

  describe('when max_msgs is lowered to 60 and the oldest 40 events dropped', () => {
    const limited: StoreObservation = {
      ...intact,
      firstPosition: 41n,
      lastPosition: 100n,
      deviations: [{ setting: 'max_msgs', value: '60', expected: '-1' }],
    };

    it('reports the setting and names the first dropped entry and how many', () => {
      expect(violations(given(seen()).whenStatus(limited))).toEqual([
        {
          reason: 'STREAM_RECONFIGURED',
          count: 0,
          runs: [],
          detail: 'settings that let the store drop or change events: max_msgs=60 (expected -1)',
        },
        {
          reason: 'OLDEST_EVENTS_DROPPED',
          firstBadIndex: 0,
          firstBadEventId: 'e0',
          firstBadPosition: '1',
          count: 40,
          runs: [[0, 39]],
          detail: 'the store now starts at position 41',
        },
      ]);
    });

    it('does not report the same entries or setting twice; more drops wait a minute, then only the new ones', () => {
      const first = given(seen()).whenStatus(limited);
      const later = { ...limited, firstPosition: 46n };
      expect(given(seen(), ...first).whenStatus(limited, HUNDRED, T0 + 1_000)).toEqual([]);
      expect(given(seen(), ...first).whenStatus(later, HUNDRED, T0 + 1_000)).toEqual([]);
      const again = violations(
        given(seen(), ...first).whenStatus(later, HUNDRED, T0 + REPORT_AGAIN_AFTER_MS),
      );
      expect(again.map((v) => [v.reason, v.firstBadIndex, v.count, v.runs])).toEqual([
        ['OLDEST_EVENTS_DROPPED', 40, 5, [[40, 44]]],
      ]);
    });
  });

  describe('when the block file was truncated (the newest 34 events gone)', () => {
    it('reports NEWEST_EVENTS_GONE from the first entry past the new end', () => {
      const truncated = { ...intact, lastPosition: 66n, missingPositions: positions(67, 100).map(BigInt) };
      expect(violations(given(seen()).whenStatus(truncated))).toEqual([
        {
          reason: 'NEWEST_EVENTS_GONE',
          firstBadIndex: 66,
          firstBadEventId: 'e66',
          firstBadPosition: '67',
          count: 34,
          runs: [[66, 99]],
          detail: 'the store ends at position 66, before entries it held',
        },
      ]);
    });
  });

  describe('when the store reports positions deleted or lost', () => {
    it('names the entries at those positions (and ignores positions the ledger never had)', () => {
      const events = given(seen()).whenStatus({ ...intact, missingPositions: [10n, 11n, 51n, 110n] });
      expect(violations(events)).toEqual([
        expect.objectContaining({
          reason: 'EVENTS_MISSING',
          firstBadIndex: 9,
          firstBadEventId: 'e9',
          count: 3,
          runs: [
            [9, 10],
            [50, 50],
          ],
        }),
      ]);
    });
  });

  describe('given a long history', () => {
    it('names a million dropped entries as one run, once', () => {
      const size = 1_000_000;
      const big: IngestedLedger = {
        size,
        at: (i) => ({ index: i, eventId: `e${i}`, position: BigInt(i + 1) }),
        lowerBound: (p) => Math.min(size, Math.max(0, Number(p) - 1)),
      };
      const purged = { ...intact, firstPosition: BigInt(size + 1), lastPosition: BigInt(size + 10) };
      const first = given(seen()).whenStatus(purged, big);
      expect(violations(first)).toEqual([
        expect.objectContaining({ reason: 'OLDEST_EVENTS_DROPPED', count: size, runs: [[0, size - 1]] }),
      ]);
      expect(given(seen(), ...first).whenStatus(purged, big, T0 + 5 * REPORT_AGAIN_AFTER_MS)).toEqual([]);
    });
  });

  describe('given an empty ledger', () => {
    it('reports only store-level findings', () => {
      const empty = ledgerAt([]);
      expect(
        violations(given(seen()).whenStatus({ ...intact, firstPosition: 5n, lastPosition: 3n }, empty)),
      ).toEqual([]);
    });
  });
});

describe('the store watch, reading events back by position', () => {
  describe('given the store holds exactly the ingested events', () => {
    it('finds nothing and moves past the last entry', () => {
      const outcome = given(seen()).whenRange(readBack(HUNDRED));
      expect(outcome).toEqual({ events: [], nextIndex: 100 });
    });
  });

  describe('when a stored event was dropped by nats-server after a byte flip', () => {
    it('names the entry whose position is no longer there', () => {
      const items = readBack(HUNDRED).filter((x) => x.position !== 51n);
      const outcome = given(seen()).whenRange(items);
      expect(violations(outcome.events)).toEqual([
        {
          reason: 'EVENTS_MISSING',
          firstBadIndex: 50,
          firstBadEventId: 'e50',
          firstBadPosition: '51',
          count: 1,
          runs: [[50, 50]],
          detail: 'read back by position, the store no longer holds these entries',
        },
      ]);
      expect(outcome.nextIndex).toBe(100);
    });
  });

  describe('when the store holds something else at an entry position', () => {
    it('reports EVENT_CHANGED for another event, other bytes and unreadable bytes', () => {
      const items = readBack(HUNDRED).map((x) =>
        x.position === 5n
          ? { ...x, eventId: 'forged' }
          : x.position === 6n
            ? { ...x, digest: 'other' }
            : x.position === 7n
              ? { position: 7n, unreadable: 'not JSON' }
              : x,
      );
      expect(violations(given(seen()).whenRange(items).events)).toEqual([
        {
          reason: 'EVENT_CHANGED',
          firstBadIndex: 4,
          firstBadEventId: 'e4',
          firstBadPosition: '5',
          count: 3,
          runs: [[4, 6]],
          detail: 'read back by position, the store holds another event and other bytes and unreadable bytes',
        },
      ]);
    });

    it('compares only the event id for entries ingested before digests were kept', () => {
      const old = ledgerAt(positions(1, 10), false);
      const items = readBack(old).map((x) => ({ ...x, digest: 'whatever' }));
      expect(given(seen()).whenRange(items, old).events).toEqual([]);
    });
  });

  describe('when the store holds an event the ledger went past without', () => {
    it('reports UNEXPECTED_EVENT by store position, and ignores events not ingested yet', () => {
      const sparse = ledgerAt([10, 20, 30]);
      const items: ScannedItem[] = [
        { position: 10n, eventId: 'e0', digest: 'd0' },
        { position: 15n, eventId: 'x' },
        { position: 20n, eventId: 'e1', digest: 'd1' },
        { position: 30n, eventId: 'e2', digest: 'd2' },
        { position: 31n, eventId: 'later' },
      ];
      const outcome = given(seen()).whenRange(items, sparse);
      expect(violations(outcome.events)).toEqual([
        {
          reason: 'UNEXPECTED_EVENT',
          firstBadEventId: 'x',
          firstBadPosition: '15',
          count: 1,
          runs: [[15, 15]],
          detail: 'the store holds events at positions the ledger went past without them',
        },
      ]);
      expect(outcome.nextIndex).toBe(3);
    });
  });

  describe('given entries already reported', () => {
    it('does not report them again on the next pass', () => {
      const items = readBack(HUNDRED).filter((x) => x.position !== 51n);
      const first = given(seen()).whenRange(items).events;
      expect(
        given(seen(), ...first).whenRange(items, HUNDRED, 0, T0 + 5 * REPORT_AGAIN_AFTER_MS).events,
      ).toEqual([]);
      // …whichever check found them first: the status check's report covers the sweep's too.
      const byStatus = given(seen()).whenStatus({ ...intact, missingPositions: [51n] });
      expect(given(seen(), ...byStatus).whenRange(items).events).toEqual([]);
    });
  });

  describe('when one pass finds missing entries in two reads a moment apart', () => {
    it("names the second read's entries at once (only growing findings wait a minute)", () => {
      const first = given(seen()).whenRange(
        readBack(HUNDRED, 0, 50).filter((x) => x.position !== 11n),
      ).events;
      const second = given(seen(), ...first).whenRange(
        readBack(HUNDRED, 50, 100).filter((x) => x.position !== 71n),
        HUNDRED,
        50,
        T0 + 1_000,
      );
      expect(violations(second.events).map((v) => [v.reason, v.firstBadIndex, v.count])).toEqual([
        ['EVENTS_MISSING', 70, 1],
      ]);
    });
  });

  describe('given a run that starts in the middle of the ledger', () => {
    it('compares from that entry on', () => {
      const outcome = given(seen()).whenRange(readBack(HUNDRED, 40, 60), HUNDRED, 40);
      expect(outcome).toEqual({ events: [], nextIndex: 60 });
    });
  });
});
