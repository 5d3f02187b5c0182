/**
 * The relay from the event store to the bus (a transactional outbox without a second write): it follows one
 * context of the store from a checkpoint kept in NATS and publishes every event on
 * `haven.bus.<context>.<aggregate>.<EventName>`, with the event's own trace context, so other services and
 * hospital systems can subscribe by subject. A crash between publish and checkpoint re-publishes the same event
 * ids, which the bus drops (`Nats-Msg-Id`) or consumers dedupe.
 */
import { context as otelContext, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import type { EventStore, Subscription } from '@haven/eventstore';
import type { BusLogger, EventBus } from './bus';

/** Options of {@link startRelay}. */
export interface RelayOptions {
  readonly store: EventStore;
  readonly bus: EventBus;
  /** The store context to relay, e.g. `scheduling`. */
  readonly context: string;
  /** Aggregates never fanned out (e.g. identity's `credential`: password hashes stay in the store). */
  readonly excludeAggregates?: readonly string[];
  readonly logger?: BusLogger;
}

/**
 * Starts relaying; resolves once the subscription is running. `close()` stops it.
 * Throws UnavailableError when NATS is unreachable.
 */
export async function startRelay(options: RelayOptions): Promise<Subscription> {
  const checkpoints = await options.bus.checkpoints();
  const key = `relay.${options.context}`;
  const excluded = (options.excludeAggregates ?? []).map((a) => `${options.context}.${a}-`);
  const isExcluded = (stream: string) => excluded.some((prefix) => stream.startsWith(prefix));
  return options.store.subscribe({
    from: await checkpoints.load(key),
    contexts: [options.context],
    handler: async ({ position, ...event }) => {
      if (isExcluded(event.stream)) {
        await checkpoints.save(key, position);
        return;
      }
      const parent = event.traceparent
        ? propagation.extract(ROOT_CONTEXT, { traceparent: event.traceparent })
        : ROOT_CONTEXT;
      await otelContext.with(parent, () => options.bus.publish(event));
      await checkpoints.save(key, position);
    },
    onError: (error) => options.logger?.error({ err: error, context: options.context }, 'bus relay stopped'),
  });
}
