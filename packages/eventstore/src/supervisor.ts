/**
 * The life cycle every self-healing consumer shares: the event store's follower (follower.ts) and the bus's
 * durable subscription (`@haven/bus`). The consumer says how to open its subscription and how to read where its
 * source ends; the supervisor keeps one subscription open at a time and judges it at every check:
 *
 * - a subscription that fails (its consumer calls {@link ConsumerSupervisor.fail} with the generation it was
 *   opened as) is closed and opened again after an exponential back-off, forever, until the consumer closes;
 *   failures of an older generation are ignored;
 * - every check interval it reads where the source ends: unreachable → `down`; reachable again while a
 *   re-open waits out its back-off → re-open at once; reachable again with events pending and nothing delivered
 *   since → re-open at once (the client may still be in its own back-off); caught up (nothing pending, the end
 *   reached, or the previous check's end reached — the last matters under steady load) → `live`; otherwise
 *   `starting` until first live, then `behind`; behind the previous check's end with nothing delivered and no
 *   handler running for a whole interval → the subscription is stuck and is re-opened.
 * - close stops the checks and a waiting re-open, closes the subscription (waiting for it) and waits for a check
 *   in flight.
 */
import { UnavailableError } from '@haven/errors';
import {
  ConsumerHealth,
  ConsumerState,
  SingleFlight,
  backoffDelay,
  type BackoffOptions,
  type ConsumerReporter,
} from './consumers';

/** The subset of a pino logger a supervised consumer uses. Log objects carry names, positions and error classes. */
export interface SupervisorLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** An open subscription of a supervised consumer. */
export interface SupervisedHandle {
  /** Stops it; resolves once its delivery loop ended. */
  close(): Promise<void>;
}

/** What a check learnt about the source (see {@link SupervisedConsumer.head}). */
export interface SourceHead<E> {
  /** Events after the consumer's position not yet delivered to it. */
  readonly pending: number;
  /** The lag to report: `pending` plus whatever was delivered and not yet settled. */
  readonly lag: number;
  /** Where the source ends, as {@link SupervisedConsumer.reached} compares it with the consumer's progress. */
  readonly end: E;
}

/** The consumer a {@link ConsumerSupervisor} keeps running. */
export interface SupervisedConsumer<E> {
  /** Opens the subscription of `generation` (its failures carry that generation). Throws when it cannot. */
  open(generation: number): Promise<SupervisedHandle>;
  /**
   * Where the source ends, or undefined when there is nothing to judge this time (the consumer handled the
   * check itself). Throws when the source cannot be reached.
   */
  head(): Promise<SourceHead<E> | undefined>;
  /** True once everything up to `end` was handled. */
  reached(end: E): boolean;
  /** True while a handler runs. */
  busy(): boolean;
  /** Log fields besides the consumer's name (its position or durable name; never data). */
  where(): object;
  /** Called on every turn to `live` (waiters for the catch-up). */
  onLive?(): void;
}

/** Options of {@link ConsumerSupervisor}. */
export interface SupervisorOptions {
  /** The name in health, metrics and logs. */
  readonly name: string;
  /** Where the state is reported; a private registry when omitted. */
  readonly health?: ConsumerHealth | undefined;
  readonly logger: SupervisorLogger;
  /** Put before each log message (`bus: `). */
  readonly logPrefix?: string;
  /** How often the source is checked (default 3 000 ms). */
  readonly checkIntervalMs?: number | undefined;
  /**
   * How long a check may take before the source counts as unreachable (default 5 000 ms, at most twice the
   * interval): generous, so a loaded machine's slow answer is not taken for an outage.
   */
  readonly checkTimeoutMs?: number | undefined;
  readonly backoff?: BackoffOptions;
}

/** Rejects with UnavailableError when `work` takes longer than `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UnavailableError('check timed out')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps one subscription of a consumer open and reports its state (see the module comment). */
export class ConsumerSupervisor<E> {
  /** Where the consumer reports its state. */
  readonly reporter: ConsumerReporter;
  /** How long the consumer's {@link SupervisedConsumer.head} may wait on the source (see the options). */
  readonly checkTimeoutMs: number;
  readonly #consumer: SupervisedConsumer<E>;
  readonly #options: SupervisorOptions;
  readonly #prefix: string;
  readonly #checkIntervalMs: number;
  #handle: SupervisedHandle | undefined;
  #generation = 0;
  #attempt = 0;
  #closed = false;
  #everLive = false;
  #delivered = false;
  #openedAt = 0;
  /** Where the source ended at the last check of this subscription. */
  #end: E | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** A check failed since the last re-open was scheduled: when one succeeds again, re-open at once. */
  #sawUnreachable = false;
  readonly #check = new SingleFlight(() => this.#runCheck());

  constructor(consumer: SupervisedConsumer<E>, options: SupervisorOptions) {
    this.#consumer = consumer;
    this.#options = options;
    this.#prefix = options.logPrefix ?? '';
    this.#checkIntervalMs = options.checkIntervalMs ?? 3_000;
    this.checkTimeoutMs = options.checkTimeoutMs ?? Math.min(5_000, 2 * this.#checkIntervalMs);
    this.reporter = (options.health ?? new ConsumerHealth()).register(options.name);
  }

  /** True once closing began. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Where the source ended at the last check of the current subscription (undefined before it). */
  get end(): E | undefined {
    return this.#end;
  }

  /** True while `generation` is the open (or opening) subscription's and the consumer is not closing. */
  isCurrent(generation: number): boolean {
    return generation === this.#generation && !this.#closed;
  }

  /** Starts the checks and makes the first attempt to open (a failure is retried, never thrown). */
  async start(): Promise<void> {
    this.#checkTimer = setInterval(() => void this.#check.run(), this.#checkIntervalMs);
    this.#checkTimer.unref();
    await this.#open();
  }

  /** Runs a check now (joining one in flight). */
  check(): Promise<void> {
    return this.#check.run();
  }

  /** An event reached the consumer (the stall detector's sign of life). */
  delivered(): void {
    this.#delivered = true;
  }

  /** A handler finished an event: the back-off starts over, and the event is counted. */
  handled(): void {
    this.#attempt = 0;
    this.reporter.processed();
  }

  /** Reports `live` with `lag`, logging the return when it had been live before. */
  becomeLive(lag = 0): void {
    const wasDown = this.#everLive && this.reporter.status().state !== ConsumerState.Live;
    this.#everLive = true;
    this.reporter.update({ state: ConsumerState.Live, lag });
    if (wasDown)
      this.#options.logger.info({ consumer: this.#options.name }, `${this.#prefix}consumer caught up`);
    this.#consumer.onLive?.();
  }

  /** The subscription of `generation` failed: close it, report down, open again after a back-off. */
  fail(generation: number, error: unknown): void {
    if (!this.isCurrent(generation)) return;
    this.#generation += 1;
    this.#drop();
    const delayMs = backoffDelay(this.#attempt, this.#options.backoff);
    this.#attempt += 1;
    this.reporter.update({
      state: ConsumerState.Down,
      reason: error instanceof Error ? error.name : 'error',
    });
    this.#options.logger.warn(
      {
        consumer: this.#options.name,
        ...this.#consumer.where(),
        attempt: this.#attempt,
        retryInMs: delayMs,
        err: error,
      },
      `${this.#prefix}consumer interrupted; resuming from its position`,
    );
    this.#retryTimer = setTimeout(() => void this.#open(), delayMs);
    this.#retryTimer.unref();
  }

  /** Closes the subscription and opens a new one now, with the back-off started over. */
  async reopen(): Promise<void> {
    this.#generation += 1;
    this.#drop();
    this.#attempt = 0;
    await this.#open();
  }

  /** Stops checking and re-opening; waits for the subscription to close and for a check in flight. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation += 1;
    clearInterval(this.#checkTimer);
    clearTimeout(this.#retryTimer);
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => undefined);
    await this.#check.settled();
    this.reporter.remove();
  }

  #drop(): void {
    const handle = this.#handle;
    this.#handle = undefined;
    void handle?.close().catch(() => undefined);
  }

  async #open(): Promise<void> {
    if (this.#closed) return;
    this.#retryTimer = undefined;
    const generation = ++this.#generation;
    try {
      const handle = await this.#consumer.open(generation);
      if (!this.isCurrent(generation)) {
        await handle.close().catch(() => undefined);
        return;
      }
      this.#handle = handle;
      this.#openedAt = Date.now();
      this.#end = undefined; // the stall check compares with ends seen by this subscription only
    } catch (error) {
      this.fail(generation, error);
      return;
    }
    // Learn where the source ends now, so the consumer turns live as soon as it reaches that point.
    void this.#check.run();
  }

  async #runCheck(): Promise<void> {
    if (this.#closed) return;
    const { name, logger } = this.#options;
    let head: SourceHead<E> | undefined;
    try {
      head = await this.#consumer.head();
    } catch {
      if (this.#closed) return;
      this.#sawUnreachable = true;
      if (this.reporter.status().state !== ConsumerState.Down) {
        this.reporter.update({ state: ConsumerState.Down, reason: 'unreachable' });
        logger.warn({ consumer: name }, `${this.#prefix}consumer cannot reach its source`);
      }
      return;
    }
    if (this.#closed || head === undefined) return;
    const previous = this.#end;
    const idle = !this.#delivered && !this.#consumer.busy();
    const backAfterOutage = this.#sawUnreachable;
    this.#sawUnreachable = false;
    this.#delivered = false;
    this.#end = head.end;
    if (this.#handle === undefined) {
      this.reporter.update({ lag: head.lag });
      // The source is back after an outage: re-open now rather than at the end of a long back-off.
      if (backAfterOutage && this.#retryTimer !== undefined) {
        clearTimeout(this.#retryTimer);
        void this.#open();
      }
      return; // otherwise a re-open is scheduled: stays down until it succeeds
    }
    const where = { consumer: name, ...this.#consumer.where(), pending: head.pending };
    if (backAfterOutage && head.pending > 0 && idle) {
      // The source is back but this subscription delivered nothing since: the client may still be waiting out
      // its own back-off (nats.js re-creates a lost consumer every few seconds). Resume at once.
      logger.info(where, `${this.#prefix}consumer source reachable again; re-subscribing`);
      this.#attempt = 0;
      this.fail(this.#generation, new UnavailableError('source reachable again'));
      return;
    }
    if (head.lag === 0 || this.#consumer.reached(head.end)) {
      this.becomeLive();
      return;
    }
    if (previous !== undefined && this.#consumer.reached(previous)) {
      this.becomeLive(head.lag); // under steady load: caught up with where the source ended an interval ago
      return;
    }
    const behind = previous !== undefined;
    const state = this.reporter.status().state;
    const next = !this.#everLive
      ? ConsumerState.Starting
      : behind || state !== ConsumerState.Live
        ? ConsumerState.Behind
        : ConsumerState.Live;
    this.reporter.update({ state: next, lag: head.lag, reason: 'behind' });
    const openForAnInterval = Date.now() - this.#openedAt >= this.#checkIntervalMs;
    if (behind && openForAnInterval && head.pending > 0 && idle) {
      logger.warn(where, `${this.#prefix}consumer made no progress while behind; re-subscribing`);
      this.fail(this.#generation, new UnavailableError('no deliveries while behind'));
    }
  }
}
