/**
 * The relay from the event store to the bus (a transactional outbox without a second write): it follows one
 * context of the store from a checkpoint kept in NATS and publishes every event on
 * `haven.bus.<context>.<aggregate>.<EventName>`, with the event's own trace context, so other services and
 * hospital systems can subscribe by subject. It is a {@link followWithCheckpoints} follower: after any NATS
 * outage it resumes from its position with back-off, forever, and reports `<context>.relay` to the consumer
 * health.
 * It keeps up to `window` publishes in flight (started in position order, which NATS keeps on the connection;
 * a failed publish is retried in place), so its throughput is not one round trip per event: run one at a time,
 * a busy scheduling service's relay fell behind its own load and kept the service NOT_SERVING for as long as
 * the load lasted (tests/bench/relay.bench.ts measures both).
 * Delivery to the bus is at-least-once: a crash (or a timeout) between publish and checkpoint re-publishes the
 * same event ids, which the bus drops (`Nats-Msg-Id`) or consumers dedupe. Order on the bus is the store's,
 * except after a publish that failed while later ones in the window succeeded: it lands after them.
 */
import { context as otelContext, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { ValidationError } from '@haven/errors';
import {
  followWithCheckpoints,
  type ConsumerHealth,
  type EventStore,
  type Follower,
} from '@haven/eventstore';
import { busSubject, type BusLogger, type EventBus } from './bus';

/** Options of {@link startRelay}. */
export interface RelayOptions {
  readonly store: Pick<EventStore, 'subscribe' | 'head'>;
  readonly bus: EventBus;
  /** The store context to relay, e.g. `scheduling`. */
  readonly context: string;
  /** Aggregates never fanned out (e.g. identity's `credential`: password hashes stay in the store). */
  readonly excludeAggregates?: readonly string[];
  readonly logger?: BusLogger;
  /** Where the relay reports its state (`<context>.relay`); a private registry when omitted. */
  readonly health?: ConsumerHealth;
  /** How often the relay checks how far behind it is (default 3 000 ms). */
  readonly checkIntervalMs?: number;
  /** Publishes in flight at once (default {@link DEFAULT_RELAY_WINDOW}; 1 = one after the other). */
  readonly window?: number;
}

/** Publishes a relay keeps in flight at once by default. */
export const DEFAULT_RELAY_WINDOW = 32;

/**
 * Starts relaying; resolves once the first attempt to subscribe was made (it retries by itself when NATS is
 * unreachable). `close()` stops it. Throws TypeError when a relay of this context is already registered in
 * `health`.
 */
export async function startRelay(options: RelayOptions): Promise<Follower> {
  const excluded = (options.excludeAggregates ?? []).map((a) => `${options.context}.${a}-`);
  const isExcluded = (stream: string) => excluded.some((prefix) => stream.startsWith(prefix));
  return await followWithCheckpoints(options.store, options.bus, {
    name: `${options.context}.relay`,
    // The relay's key predates the `<service>.<purpose>` convention (the NATS permissions name it).
    key: `relay.${options.context}`,
    // Publishes pipelined (NATS keeps their order on the connection) so a busy service's relay is not one
    // round trip per event behind its own load; re-publishing is harmless (the bus drops a known event id).
    window: options.window ?? DEFAULT_RELAY_WINDOW,
    contexts: [options.context],
    ...(options.health ? { health: options.health } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.checkIntervalMs !== undefined ? { checkIntervalMs: options.checkIntervalMs } : {}),
    handler: async ({ position, ...event }) => {
      if (!isExcluded(event.stream)) {
        try {
          busSubject(event);
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          // An event that cannot have a bus subject would stop the relay forever: skip it, loudly.
          options.logger?.error(
            { context: options.context, eventId: event.id, position: String(position) },
            'bus relay skipped an event with a malformed type',
          );
          return;
        }
        const parent = event.traceparent
          ? propagation.extract(ROOT_CONTEXT, { traceparent: event.traceparent })
          : ROOT_CONTEXT;
        await otelContext.with(parent, () => options.bus.publish(event));
      }
    },
  });
}
