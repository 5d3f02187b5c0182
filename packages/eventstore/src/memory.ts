import { EventStoreAdapter } from './adapter-base';
import { ConcurrencyError } from '@haven/errors';
import type { NewEvent } from './envelope';
import { contextOfFilter, parseStreamName } from './ids';
import { describeExpected, toEnvelope } from './codec';
import type {
  AppendResult,
  ExpectedRevision,
  InspectableEventStore,
  PositionedEvent,
  ReadOptions,
  StoreInspection,
  Checkpoint,
  StoreHead,
  SubscribeOptions,
  Subscription,
} from './port';
import { PENDING_COUNT_LIMIT } from './port';

/**
 * An in-process {@link EventStore} for unit tests only (nothing is persisted). Same semantics as the real
 * adapters: positions start at 1, idempotent on event id, deleteStream refused.
 */
export class InMemoryEventStore extends EventStoreAdapter implements InspectableEventStore {
  private readonly streams = new Map<string, PositionedEvent[]>();
  private readonly all: PositionedEvent[] = [];
  private readonly waiters = new Set<() => void>();

  /** Throws ValidationError on a bad stream name or batch, ConcurrencyError when the stream is not at `expected`. */
  async append(
    stream: string,
    expected: ExpectedRevision,
    events: readonly NewEvent[],
  ): Promise<AppendResult> {
    this.assertAppendable(stream, events);
    const existing = this.streams.get(stream) ?? [];
    const last = existing[existing.length - 1];
    // Idempotency: a prefix of the batch may already be stored (a retried or half-finished append).
    const byId = new Map(existing.map((e) => [e.id, e]));
    let stored = 0;
    while (stored < events.length && byId.has(events[stored]!.id)) stored += 1;
    if (stored === events.length) {
      const done = byId.get(events[events.length - 1]!.id)!;
      return { nextRevision: done.revision, position: done.position };
    }
    if (stored > 0) {
      const prefixEnd = byId.get(events[stored - 1]!.id)!;
      if (last !== prefixEnd) {
        throw new ConcurrencyError(
          stream,
          describeExpected(expected),
          last ? last.revision.toString() : 'no_stream',
        );
      }
    } else if (expected === 'no_stream') {
      if (last) throw new ConcurrencyError(stream, 'no_stream', last.revision.toString());
    } else if (typeof expected === 'bigint') {
      if (!last || last.revision !== expected) {
        throw new ConcurrencyError(
          stream,
          expected.toString(),
          last ? last.revision.toString() : 'no_stream',
        );
      }
    }
    let revision = last ? last.revision + 1n : 0n;
    let result: AppendResult = { nextRevision: -1n, position: 0n };
    for (const event of events.slice(stored)) {
      const positioned: PositionedEvent = {
        ...toEnvelope(stream, revision, event),
        position: BigInt(this.all.length + 1),
      };
      existing.push(positioned);
      this.all.push(positioned);
      result = { nextRevision: revision, position: positioned.position };
      revision += 1n;
    }
    this.streams.set(stream, existing);
    for (const wake of [...this.waiters]) wake();
    return result;
  }

  /** Throws ValidationError on a bad stream name. */
  async read(stream: string, options?: ReadOptions): Promise<PositionedEvent[]> {
    this.assertOpen();
    parseStreamName(stream);
    const from = options?.fromRevision ?? 0n;
    const limit = options?.limit ?? Number.MAX_SAFE_INTEGER;
    return (this.streams.get(stream) ?? [])
      .filter((e) => e.revision >= from)
      .slice(0, limit)
      .map((e) => ({ ...e }));
  }

  /** Delivers stored then live events after `from`, in order, awaiting the handler. */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    const contexts = options.contexts?.map(contextOfFilter);
    let next = options.from === 'start' ? 0 : Number(options.from); // index into `all`
    let stopped = false;
    let wake: (() => void) | undefined;
    const loop = (async () => {
      while (!stopped) {
        const event = this.all[next];
        if (!event) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            this.waiters.add(resolve);
          });
          if (wake) this.waiters.delete(wake);
          continue;
        }
        next += 1;
        if (contexts && !contexts.includes(parseStreamName(event.stream).context)) continue;
        try {
          await options.handler(event);
        } catch (err) {
          stopped = true;
          options.onError?.(err);
        }
      }
    })();
    return this.track(async () => {
      stopped = true;
      wake?.();
      await loop;
    });
  }

  /** The store by position (it never loses anything: no deviations, no missing positions). */
  inspection(): StoreInspection {
    return {
      status: async () => ({
        exists: true,
        identity: 'memory',
        ...(this.all.length > 0 ? { firstPosition: 1n } : {}),
        lastPosition: BigInt(this.all.length),
        count: BigInt(this.all.length),
        missingPositions: [],
        deviations: [],
      }),
      readFrom: async (position, limit) => {
        const from = position < 1n ? 0 : Number(position) - 1;
        const items = this.all
          .slice(from, from + Math.max(0, limit))
          .map(({ position: at, ...event }) => ({ position: at, event }));
        return { items, end: from + items.length >= this.all.length };
      },
    };
  }

  /** See the port. */
  async head(options: { after: Checkpoint; contexts?: readonly string[] }): Promise<StoreHead> {
    this.assertOpen();
    const contexts = options.contexts?.map(contextOfFilter);
    const after = options.after === 'start' ? 0n : options.after;
    const matching = contexts
      ? this.all.filter((e) => contexts.includes(parseStreamName(e.stream).context))
      : this.all;
    const last = matching[matching.length - 1];
    return {
      position: last ? last.position : 'start',
      pending: Math.min(PENDING_COUNT_LIMIT, matching.filter((e) => e.position > after).length),
    };
  }

  /** Nothing to release. */
  protected async release(): Promise<void> {}
}
