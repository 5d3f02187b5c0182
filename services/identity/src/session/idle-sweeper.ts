/**
 * Identity's idle logoff: follows every session's deadlines from the event store (the identity context, from the
 * start) and, every `intervalMs`, ends the sessions whose idle or absolute lifetime is over — SessionEnded with the
 * reason, SessionRevoked, and the revocation published at once — so every service refuses their access tokens
 * within seconds instead of when a refresh happens to be attempted. Each end is re-decided on the session's own
 * stream, so a deadline this projection has not caught up with yet never ends a live session, and two identity
 * processes sweeping at once end a session once.
 */
import { followStore, type ConsumerHealth, type EventStore, type Subscription } from '@haven/eventstore';
import type { Logger } from '@haven/service';
import { expiredSessions, foldSessionDeadline, type SessionDeadlines } from './expiry';
import type { SessionPolicy } from './session';

/** Options of {@link startIdleSweeper}. */
export interface IdleSweeperOptions {
  readonly store: EventStore;
  /** Ends one session if it is expired at the moment (IdentityApp.expireSession). */
  readonly expire: (sessionId: string) => Promise<unknown>;
  /** How often to look, ms; a function is asked again before every wait (the idle timeout may change). */
  readonly intervalMs: number | (() => number);
  /**
   * The session policy in force, asked at every sweep: a session's idle deadline then counts from its last
   * activity under the idle timeout in force (the clinic may have changed it). Absent: the deadlines written.
   */
  readonly policy?: () => SessionPolicy;
  readonly logger?: Logger;
  readonly now?: () => number;
  /** Where its subscription reports its state (consumer `identity.idle-sweeper`). */
  readonly health?: ConsumerHealth;
}

/** A running sweeper. */
export interface IdleSweeper {
  /** Sessions it currently follows (active ones). */
  readonly tracked: number;
  /** Runs one sweep now (tests); resolves when its ends are stored. */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

/** The sweep interval for an idle timeout: a quarter of it, between 250 ms and 5 s. */
export function sweepIntervalMs(idleTimeoutMs: number): number {
  return Math.max(250, Math.min(5000, Math.floor(idleTimeoutMs / 4)));
}

/**
 * Follows the identity context (a self-healing follower: after a store outage it resumes from the last event it
 * saw, with back-off, forever) and starts the timer. Resolves once the first subscription attempt was made.
 */
export async function startIdleSweeper(options: IdleSweeperOptions): Promise<IdleSweeper> {
  const now = options.now ?? Date.now;
  const deadlines: SessionDeadlines = new Map();
  let closed = false;
  let sweeping: Promise<void> | undefined;
  const subscription: Subscription = await followStore(options.store, {
    name: 'identity.idle-sweeper',
    from: 'start',
    contexts: ['identity'],
    ...(options.health ? { health: options.health } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    handler: async (event) => {
      foldSessionDeadline(deadlines, event);
    },
  });

  const sweepOnce = async (): Promise<void> => {
    for (const sid of expiredSessions(deadlines, now(), options.policy?.())) {
      if (closed) return;
      try {
        await options.expire(sid);
      } catch (error) {
        options.logger?.warn({ err: error, sessionId: sid }, 'could not end an idle session; retrying');
      }
    }
  };
  // One sweep at a time: a sweep still running when the timer fires again is joined, not doubled.
  const sweep = (): Promise<void> => {
    if (sweeping) return sweeping;
    const running = sweepOnce().finally(() => {
      sweeping = undefined;
    });
    sweeping = running;
    return running;
  };
  const intervalMs = (): number =>
    typeof options.intervalMs === 'function' ? options.intervalMs() : options.intervalMs;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      void sweep().finally(schedule);
    }, intervalMs());
    timer.unref();
  };
  schedule();

  return {
    get tracked() {
      return deadlines.size;
    },
    sweep,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await sweeping;
      await subscription.close();
    },
  };
}
