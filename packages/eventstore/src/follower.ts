/**
 * Self-healing consumers of an ordered log (the event store, or any JetStream stream read in order).
 *
 * A follower delivers items one at a time, in position order, to a handler, and remembers the position of the
 * last item the handler finished. Whatever goes wrong — the handler throws (a NATS timeout while publishing or
 * saving a checkpoint), the subscription ends with an error, NATS restarts or stalls, the server-side consumer
 * disappears, or deliveries silently stop — it closes the subscription and opens a new one after that
 * position, waiting with exponential back-off between attempts, forever, until it is closed. Items at or
 * before that position are never handed to the handler again by the same follower, so a re-opened
 * subscription does not duplicate work inside one process (across processes delivery is at-least-once: a
 * crash between the handler and the caller's checkpoint repeats the last items).
 *
 * Every check interval it asks the source where the log ends: that gives the lag (`haven.consumer.lag`), the
 * state reported to a {@link ConsumerHealth} (`live` once caught up; `behind` when it did not catch up with
 * the previous check's end within one interval; `down` when the source cannot be reached or the subscription
 * is being re-opened), and the stall detector: behind, no handler running and no progress during a whole
 * interval means the subscription is stuck, and it is re-opened. That life cycle is supervisor.ts's
 * {@link ConsumerSupervisor}, which the bus's durable subscriptions share.
 */
import { UnavailableError } from '@haven/errors';
import {
  ConsumerState,
  backoffDelay,
  type BackoffOptions,
  type ConsumerHealth,
  type ConsumerStatus,
} from './consumers';
import { parseStreamName } from './ids';
import type { Checkpoint, EventStore, PositionedEvent, StoreHead, Subscription } from './port';
import { ConsumerSupervisor, withTimeout, type SupervisedHandle, type SupervisorLogger } from './supervisor';

/** The subset of a pino logger a follower uses. Log objects carry names, positions and error classes only. */
export type FollowerLogger = SupervisorLogger;

/** Something a follower can read in order: the event store port fits through {@link storeSource}. */
export interface FollowSource<T extends { readonly position: bigint }> {
  /** Delivers items after `from` in order, awaiting `handler`; reports a failure that stops it to `onError`. */
  subscribe(options: {
    readonly from: Checkpoint;
    readonly handler: (item: T) => Promise<void>;
    readonly onError: (error: unknown) => void;
  }): Promise<Subscription>;
  /** Where the log ends and how many items lie after `after`. Throws when the source cannot be reached. */
  head(after: Checkpoint): Promise<StoreHead>;
}

/** Options of {@link follow}. */
export interface FollowOptions<T> {
  /** `<service>.<purpose>` (`session.bookings`): the name in health, metrics and logs. */
  readonly name: string;
  /** Where to start (exclusive): a checkpoint, or a loader (e.g. from NATS) retried until it succeeds. */
  readonly from: Checkpoint | (() => Promise<Checkpoint>);
  /** Handles one item; resolve = done, throw = the item is delivered again after a back-off. */
  readonly handler: (item: T) => Promise<void>;
  /** Where the follower reports its state; a private registry when omitted. */
  readonly health?: ConsumerHealth;
  readonly logger?: FollowerLogger;
  /** Back-off between attempts: from `minBackoffMs` (default 250) doubling up to `maxBackoffMs` (30 000). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How often the end of the log is checked (default 3 000 ms). */
  readonly checkIntervalMs?: number;
  /**
   * How long a check may take before the source counts as unreachable (default 5 000 ms, at most twice the
   * interval): generous, so a loaded machine's slow answer is not taken for an outage.
   */
  readonly checkTimeoutMs?: number;
}

/** A running follower. */
export interface Follower extends Subscription {
  /** The follower's current status. */
  status(): ConsumerStatus;
  /** Position of the last item the handler finished (`'start'` before the first). */
  position(): Checkpoint;
  /**
   * Resolves once the follower has handled everything the log held when it was last checked (the first check
   * runs as soon as it subscribes). Throws UnavailableError when that does not happen within `timeoutMs`.
   */
  caughtUp(timeoutMs: number): Promise<void>;
}

const silent: FollowerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The options' back-off bounds. */
function backoffBounds(
  options: Pick<FollowOptions<unknown>, 'minBackoffMs' | 'maxBackoffMs'>,
): BackoffOptions {
  return {
    ...(options.minBackoffMs !== undefined ? { minMs: options.minBackoffMs } : {}),
    ...(options.maxBackoffMs !== undefined ? { maxMs: options.maxBackoffMs } : {}),
  };
}

/** Options of {@link followStore}: a follower over the event store, optionally of some contexts. */
export interface FollowStoreOptions extends FollowOptions<PositionedEvent> {
  /** Only events whose stream is in one of these contexts (`scheduling`). */
  readonly contexts?: readonly string[];
}

/** The event store as a {@link FollowSource} (optionally only some contexts). */
export function storeSource(
  store: Pick<EventStore, 'subscribe' | 'head'>,
  contexts?: readonly string[],
): FollowSource<PositionedEvent> {
  return {
    subscribe: (options) => store.subscribe({ ...options, ...(contexts ? { contexts } : {}) }),
    head: (after) => store.head({ after, ...(contexts ? { contexts } : {}) }),
  };
}

/**
 * Follows the event store (see the module comment). Resolves once the first subscription attempt is made —
 * subscribed, or failed and scheduled again; it never throws because the store is unreachable.
 * Throws TypeError on a malformed or duplicate name, ValidationError on a malformed context.
 */
export async function followStore(
  store: Pick<EventStore, 'subscribe' | 'head'>,
  options: FollowStoreOptions,
): Promise<Follower> {
  for (const c of options.contexts ?? []) parseStreamName(`${c.replace(/\.$/, '')}.x-y`);
  return await follow(storeSource(store, options.contexts), options);
}

/** Where durable followers keep their positions (the bus's NATS key-value bucket `haven_checkpoints`). */
export interface CheckpointStore {
  /** The position saved under `key`, `'start'` when none was. Throws when the store cannot be reached. */
  load(key: string): Promise<Checkpoint>;
  /** Saves `position` under `key`. Throws when the store cannot be reached. */
  save(key: string, position: bigint): Promise<void>;
}

/** Opens a {@link CheckpointStore} (the event bus does): asked again until it succeeds, then kept. */
export interface CheckpointSource {
  checkpoints(): Promise<CheckpointStore>;
}

/** Options of {@link followWithCheckpoints}: where to start comes from the checkpoint store. */
export interface FollowWithCheckpointsOptions extends Omit<FollowStoreOptions, 'from'> {
  /** The checkpoint's key (default `name`). */
  readonly key?: string;
  /**
   * How many events may be in the handler at once (default 1: one after the other, each position saved before
   * the next event). Above 1 the follower pipelines: it starts handlers in position order without waiting for
   * the previous one to finish, at most `window` at a time; a handler that throws is retried in place, with
   * back-off, until it succeeds or the follower closes (not re-delivered, so the start order stays the
   * position order); positions are saved behind the handlers, one save at a time, of the highest position
   * whose handler and every earlier one finished. `position()` and `caughtUp()` count finished handlers only.
   * For handlers that are idempotent and whose effects keep the order they are started in (the relay: NATS
   * writes publishes in call order, and the bus drops an event it already holds by its id). A crash hands the
   * unfinished and unsaved events to the next process again. A failed save fails the next event, so the
   * follower reports itself down rather than drifting ahead of a checkpoint it cannot write.
   */
  readonly window?: number;
}

/**
 * A durable follower of the event store: it starts after the position saved under `key` (or `name`) in the
 * checkpoint store — shared by replicas, kept across restarts — and saves each event's position once `handler`
 * resolved. At least once across processes: a crash between the handler and the save hands that event to the
 * next process again, so handlers are idempotent. The checkpoint store is opened on first use, so a NATS outage
 * at start only delays the follower (it retries like any other failure). Resolves and throws as
 * {@link followStore}.
 */
export async function followWithCheckpoints(
  store: Pick<EventStore, 'subscribe' | 'head'>,
  source: CheckpointSource,
  options: FollowWithCheckpointsOptions,
): Promise<Follower> {
  const { key = options.name, handler, window = 1, ...rest } = options;
  let opened: CheckpointStore | undefined;
  const checkpoints = async (): Promise<CheckpointStore> => (opened ??= await source.checkpoints());
  if (window <= 1) {
    return await followStore(store, {
      ...rest,
      from: async () => (await checkpoints()).load(key),
      handler: async (event) => {
        await handler(event);
        await (await checkpoints()).save(key, event.position);
      },
    });
  }
  return await pipelined(store, rest, {
    window,
    load: async () => (await checkpoints()).load(key),
    save: async (position) => (await checkpoints()).save(key, position),
    handler,
  });
}

/** Sleeps that a closing follower cuts short. */
class Naps {
  readonly #wakers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}

/** The `window > 1` case of {@link followWithCheckpoints}. */
async function pipelined(
  store: Pick<EventStore, 'subscribe' | 'head'>,
  options: Omit<FollowStoreOptions, 'from' | 'handler'>,
  p: {
    readonly window: number;
    readonly load: () => Promise<Checkpoint>;
    readonly save: (position: bigint) => Promise<void>;
    readonly handler: (event: PositionedEvent) => Promise<void>;
  },
): Promise<Follower> {
  const logger = options.logger ?? silent;
  /** Started, in position order; an entry leaves from the front once it and every earlier one finished. */
  const started: { position: bigint; finished: boolean; done: Promise<void> }[] = [];
  let finishedUpTo: Checkpoint = 'start';
  let closing = false;
  let saved: bigint | undefined;
  let saving: Promise<void> | undefined;
  let saveFailed: unknown;
  const saveBehind = (): void => {
    saving ??= (async () => {
      // Bounded: each pass saves a newer position than the one before.
      for (let pass = 0; finishedUpTo !== 'start' && finishedUpTo !== saved && pass < 1_000; pass++) {
        const position = finishedUpTo;
        await p.save(position);
        saved = position;
      }
    })()
      .catch((error: unknown) => void (saveFailed = error))
      .finally(() => (saving = undefined));
  };
  const settle = (): void => {
    while (started[0]?.finished) finishedUpTo = started.shift()!.position;
    saveBehind();
  };
  const naps = new Naps();
  const runUntilDone = async (event: PositionedEvent): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await p.handler(event);
        return;
      } catch (error) {
        if (closing) throw error;
        const delayMs = backoffDelay(attempt, backoffBounds(options));
        const where = { consumer: options.name, position: String(event.position), attempt: attempt + 1 };
        logger.warn({ ...where, retryInMs: delayMs, err: error }, 'handler failed; retrying the same event');
        await naps.sleep(delayMs);
        if (closing) throw error;
      }
    }
  };
  const follower = await followStore(store, {
    ...options,
    from: p.load,
    handler: async (event) => {
      if (saveFailed !== undefined) {
        const error = saveFailed;
        saveFailed = undefined;
        throw error instanceof Error ? error : new UnavailableError('checkpoint could not be saved');
      }
      const entry = { position: event.position, finished: false, done: Promise.resolve() };
      entry.done = runUntilDone(event).then(() => {
        entry.finished = true;
        settle();
      });
      entry.done.catch(() => undefined); // closing: the event stays unsaved for the next process
      started.push(entry);
      if (started.length >= p.window) await started[0]!.done.catch(() => undefined);
    },
  });
  const drained = async (): Promise<void> => {
    await Promise.allSettled(started.map((e) => e.done));
  };
  return {
    status: () => follower.status(),
    position: () => finishedUpTo,
    caughtUp: async (timeoutMs) => {
      const until = Date.now() + timeoutMs;
      await follower.caughtUp(timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          drained(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new UnavailableError(`${options.name}: not caught up within ${timeoutMs} ms`)),
              Math.max(0, until - Date.now()),
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      await follower.close();
      closing = true;
      naps.wakeAll();
      await drained();
      await saving;
    },
  };
}

/** Follows any {@link FollowSource} (see the module comment and {@link followStore}). */
export async function follow<T extends { readonly position: bigint }>(
  source: FollowSource<T>,
  options: FollowOptions<T>,
): Promise<Follower> {
  const follower = new SupervisedFollower(source, options);
  await follower.start();
  return follower;
}

class StaleDelivery extends Error {
  override readonly name = 'StaleDelivery';
}

/** A follower over a {@link ConsumerSupervisor}: it opens subscriptions after its position and keeps that. */
class SupervisedFollower<T extends { readonly position: bigint }> implements Follower {
  readonly #source: FollowSource<T>;
  readonly #options: FollowOptions<T>;
  readonly #supervisor: ConsumerSupervisor<Checkpoint>;
  #position: Checkpoint | undefined;
  #handling = false;
  readonly #waiters = new Set<() => void>();

  constructor(source: FollowSource<T>, options: FollowOptions<T>) {
    this.#source = source;
    this.#options = options;
    if (typeof options.from !== 'function') this.#position = options.from;
    this.#supervisor = new ConsumerSupervisor<Checkpoint>(
      {
        open: (generation) => this.#open(generation),
        head: async () =>
          this.#position === undefined
            ? undefined
            : await withTimeout(this.#source.head(this.#position), this.#supervisor.checkTimeoutMs).then(
                (head) => ({
                  pending: head.pending,
                  lag: head.pending,
                  end: head.position,
                }),
              ),
        reached: (end) => this.#reached(end),
        busy: () => this.#handling,
        where: () => ({ position: String(this.#position ?? 'start') }),
        onLive: () => {
          for (const resolve of this.#waiters) resolve();
          this.#waiters.clear();
        },
      },
      {
        name: options.name,
        health: options.health,
        logger: options.logger ?? silent,
        checkIntervalMs: options.checkIntervalMs,
        checkTimeoutMs: options.checkTimeoutMs,
        backoff: backoffBounds(options),
      },
    );
  }

  async start(): Promise<void> {
    await this.#supervisor.start();
  }

  status(): ConsumerStatus {
    return this.#supervisor.reporter.status();
  }

  position(): Checkpoint {
    return this.#position ?? 'start';
  }

  async caughtUp(timeoutMs: number): Promise<void> {
    if (this.status().state === ConsumerState.Live) return;
    let resolveWaiter: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => {
      resolveWaiter = resolve;
      this.#waiters.add(resolve);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        reached,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new UnavailableError(`${this.#options.name}: not caught up within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.#waiters.delete(resolveWaiter);
    }
  }

  async close(): Promise<void> {
    await this.#supervisor.close();
  }

  async #open(generation: number): Promise<SupervisedHandle> {
    if (this.#position === undefined) {
      const load = this.#options.from as () => Promise<Checkpoint>;
      this.#position = await load();
    }
    const subscription = await this.#source.subscribe({
      from: this.#position,
      handler: (item) => this.#deliver(generation, item),
      onError: (error) => {
        if (!(error instanceof StaleDelivery)) this.#supervisor.fail(generation, error);
      },
    });
    return { close: () => subscription.close() };
  }

  async #deliver(generation: number, item: T): Promise<void> {
    if (!this.#supervisor.isCurrent(generation)) throw new StaleDelivery();
    const position = this.#position;
    if (position !== undefined && position !== 'start' && item.position <= position) return;
    this.#handling = true;
    try {
      await this.#options.handler(item);
    } finally {
      this.#handling = false;
    }
    this.#position = item.position;
    this.#supervisor.delivered();
    this.#supervisor.handled();
    const { state, lag } = this.status();
    const end = this.#supervisor.end;
    if (state !== ConsumerState.Live && end !== undefined && this.#reached(end)) {
      this.#supervisor.becomeLive();
    } else if (lag > 0) {
      this.#supervisor.reporter.update({ lag: lag - 1 });
    }
  }

  #reached(end: Checkpoint): boolean {
    if (end === 'start') return true;
    const position = this.#position;
    return position !== undefined && position !== 'start' && position >= end;
  }
}
