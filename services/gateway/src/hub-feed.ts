/**
 * The bus feeds of the WebSocket hub, one consumer each of this gateway instance's own (the server deletes them
 * ten minutes after the instance is gone, so restarts leave no consumers behind):
 * - session events, replayed from the start of the bus's retention (that is how a restarted gateway knows who
 *   is on video);
 * - secure-message thread events (pushed to their members' pages as ids and counts), new ones only.
 */
import type { BusSubscription, EventBus } from '@haven/bus';
import type { ConsumerHealth } from '@haven/eventstore';
import type { WsHub } from './ws';

/** Options of {@link subscribeHubFeeds}. */
export interface HubFeedOptions {
  /** The durable name prefix, unique to this gateway instance. */
  readonly durable: string;
  readonly health?: ConsumerHealth;
}

/** The hub's subscriptions. */
export interface HubFeeds {
  close(): Promise<void>;
}

/** Subscribes `hub` to its bus feeds. Throws UnavailableError when NATS fails at the start. */
export async function subscribeHubFeeds(
  bus: EventBus,
  hub: WsHub,
  options: HubFeedOptions,
): Promise<HubFeeds> {
  const health = options.health ? { health: options.health } : {};
  const inactiveThresholdMs = 10 * 60_000;
  const subscriptions: BusSubscription[] = [];
  subscriptions.push(
    await bus.subscribe({
      durable: options.durable,
      name: 'gateway.session-events',
      ...health,
      subjects: ['haven.bus.session.>'],
      inactiveThresholdMs,
      handler: async (event) => hub.event(event),
    }),
  );
  subscriptions.push(
    await bus.subscribe({
      durable: `${options.durable}-threads`,
      name: 'gateway.message-thread-events',
      ...health,
      subjects: ['haven.bus.scheduling.message_thread.>'],
      deliver: 'new',
      inactiveThresholdMs,
      handler: async (event) => hub.event(event),
    }),
  );
  return {
    async close() {
      for (const s of subscriptions) await s.close();
    },
  };
}
