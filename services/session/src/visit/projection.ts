/**
 * In-memory read model of every visit, rebuilt at start from the session context of the event store and kept
 * current by a subscription: ListVisits, the Janus event mapping (room → visit), idle checks, room recovery
 * after a Janus restart and the media proxy's credential checks read it; the media proxy also listens to it
 * (every replica folds every event, so a kick handled by one replica closes connections on all of them).
 * Commands never decide on it; they load their stream.
 */
import {
  followStore,
  type ConsumerHealth,
  type EventStore,
  type FollowerLogger,
  type Subscription,
} from '@haven/eventstore';
import { evolve, initialVisitState, type VisitState } from './visit';

const STREAM = /^session\.visit-(.+)$/;

export class VisitProjection {
  private readonly visits = new Map<string, VisitState>();
  private readonly rooms = new Map<number, string>();
  private subscription: Subscription | undefined;
  private readonly listeners = new Set<(visitId: string, state: VisitState) => void>();

  /**
   * Follows the session context from the start (consumer `session.visits`, self-healing, reported to
   * `health`); resolves once the first subscription attempt was made.
   */
  async start(
    store: Pick<EventStore, 'subscribe' | 'head'>,
    options: { health?: ConsumerHealth; logger?: FollowerLogger } = {},
  ): Promise<void> {
    this.subscription = await followStore(store, {
      name: 'session.visits',
      from: 'start',
      contexts: ['session'],
      ...options,
      handler: async (event) => {
        const m = STREAM.exec(event.stream);
        if (!m?.[1]) return;
        this.apply(m[1], event);
      },
    });
  }

  /** Folds one event of a visit's stream, in order, and tells the listeners. */
  apply(visitId: string, event: { type: string; data: unknown }): void {
    const next = evolve(this.visits.get(visitId) ?? initialVisitState, event);
    this.visits.set(visitId, next);
    if (next.status !== 'none') this.rooms.set(next.room, visitId);
    for (const listener of this.listeners) {
      try {
        listener(visitId, next);
      } catch {
        // a listener's failure is its own; the projection goes on
      }
    }
  }

  /** Calls `listener` with a visit's new state after every event folded. Returns the unsubscribe function. */
  onChange(listener: (visitId: string, state: VisitState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(visitId: string): VisitState | undefined {
    return this.visits.get(visitId);
  }

  /** The visit id whose Janus room has this number. */
  visitOfRoom(room: number): string | undefined {
    return this.rooms.get(room);
  }

  /** Every known visit (not 'none'). */
  all(): Extract<VisitState, { status: 'open' | 'ended' }>[] {
    return [...this.visits.values()].filter(
      (v): v is Extract<VisitState, { status: 'open' | 'ended' }> => v.status !== 'none',
    );
  }

  async close(): Promise<void> {
    await this.subscription?.close();
  }
}
