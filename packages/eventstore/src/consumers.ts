/**
 * Health of a process's event consumers (store followers, bus subscriptions, the revocation feed): one
 * registry per service, read by the gRPC health service (NOT_SERVING while a consumer is down or behind) and by
 * the `haven.consumer.*` metrics.
 */
import { metrics, type Meter } from '@opentelemetry/api';
import { createConsumerMetrics, type ConsumerMetrics } from '@haven/telemetry';

/**
 * Where a consumer is: `starting` (not yet caught up since it started), `live` (caught up, delivering),
 * `behind` (connected but it did not catch up within one check interval), `down` (the store or bus cannot be
 * reached, or the subscription failed and is waiting to be re-opened).
 */
export const ConsumerState = {
  Starting: 'starting',
  Live: 'live',
  Behind: 'behind',
  Down: 'down',
} as const;
/** One of {@link ConsumerState}. */
export type ConsumerState = (typeof ConsumerState)[keyof typeof ConsumerState];

/** A consumer's state as last reported. */
export interface ConsumerStatus {
  /** `<service>.<purpose>`, e.g. `session.bookings`. */
  readonly name: string;
  readonly state: ConsumerState;
  /** Events stored but not yet handled, as last measured. */
  readonly lag: number;
  /** When the state last changed (ms since the epoch). */
  readonly since: number;
  /** Why it is down or behind (an error class or a short fixed phrase, never data). */
  readonly reason?: string;
}

/** How a consumer tells the registry about itself (see {@link ConsumerHealth.register}). */
export interface ConsumerReporter {
  /** Records a new state and/or lag; listeners hear about state changes only. */
  update(change: { readonly state?: ConsumerState; readonly lag?: number; readonly reason?: string }): void;
  /** Counts handled events (metric `haven.consumer.processed`). */
  processed(count?: number): void;
  /** The current status. */
  status(): ConsumerStatus;
  /** Leaves the registry (the consumer was closed). */
  remove(): void;
}

/** Options of {@link ConsumerHealth}. */
export interface ConsumerHealthOptions {
  /** Meter for the consumer metrics; default `metrics.getMeter('@haven/consumers')` at the first registration. */
  readonly meter?: Meter;
  readonly now?: () => number;
}

/** The registry of a process's consumers. */
export class ConsumerHealth {
  readonly #consumers = new Map<string, ConsumerStatus>();
  readonly #listeners = new Set<(status: ConsumerStatus) => void>();
  readonly #now: () => number;
  #meter: Meter | undefined;
  #metrics: ConsumerMetrics | undefined;

  constructor(options: ConsumerHealthOptions = {}) {
    this.#meter = options.meter;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Adds a consumer in state `starting`. Throws TypeError when the name is malformed or already registered
   * (a programming error: names are fixed in code).
   */
  register(name: string): ConsumerReporter {
    if (!/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/.test(name)) {
      throw new TypeError(`consumer name "${name}" must be dot-separated lower-case words`);
    }
    if (this.#consumers.has(name)) throw new TypeError(`consumer "${name}" is already registered`);
    this.#metrics ??= createConsumerMetrics(this.#meter ?? metrics.getMeter('@haven/consumers'), () =>
      this.statuses().map((s) => ({ name: s.name, up: s.state !== ConsumerState.Down, lag: s.lag })),
    );
    const consumerMetrics = this.#metrics;
    this.#set({ name, state: ConsumerState.Starting, lag: 0, since: this.#now() });
    return {
      update: (change) => {
        const current = this.#consumers.get(name);
        if (!current) return;
        const state = change.state ?? current.state;
        const reason = state === ConsumerState.Live ? undefined : (change.reason ?? current.reason);
        const next: ConsumerStatus = {
          name,
          state,
          lag: change.lag ?? (state === ConsumerState.Live ? 0 : current.lag),
          since: state === current.state ? current.since : this.#now(),
          ...(reason !== undefined ? { reason } : {}),
        };
        this.#consumers.set(name, next);
        if (state !== current.state) this.#notify(next);
      },
      processed: (count = 1) => consumerMetrics.processed(name, count),
      status: () => this.#consumers.get(name) ?? { name, state: ConsumerState.Down, lag: 0, since: 0 },
      remove: () => {
        this.#consumers.delete(name);
      },
    };
  }

  /** Every registered consumer's status. */
  statuses(): ConsumerStatus[] {
    return [...this.#consumers.values()];
  }

  /** True when every registered consumer is live (and vacuously when there is none). */
  get ready(): boolean {
    for (const s of this.#consumers.values()) if (s.state !== ConsumerState.Live) return false;
    return true;
  }

  /** Calls `listener` on every state change of any consumer. Returns the function that unsubscribes it. */
  onChange(listener: (status: ConsumerStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #set(status: ConsumerStatus): void {
    this.#consumers.set(status.name, status);
    this.#notify(status);
  }

  #notify(status: ConsumerStatus): void {
    for (const listener of this.#listeners) {
      try {
        listener(status);
      } catch {
        // a listener's failure must not stop the consumer
      }
    }
  }
}

/** Back-off bounds (see {@link backoffDelay}). */
export interface BackoffOptions {
  /** First delay, ms (default 250). */
  readonly minMs?: number;
  /** Largest delay, ms (default 30 000). */
  readonly maxMs?: number;
}

/**
 * The delay before retry number `attempt` (0-based): doubling from `minMs` up to `maxMs`, with "equal jitter"
 * (between half and all of it) so replicas do not retry in step. Throws nothing.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const min = options.minMs ?? 250;
  const max = options.maxMs ?? 30_000;
  const full = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

/**
 * A consumer's periodic check run one at a time: {@link run} while a run is in flight joins it instead of
 * starting another, and {@link settled} waits for the one in flight (if any) when the consumer closes.
 */
export class SingleFlight {
  #running: Promise<void> | undefined;

  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    this.#running ??= this.task().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async settled(): Promise<void> {
    await this.#running;
  }
}
