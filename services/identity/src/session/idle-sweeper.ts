/**
 * Identity's idle logoff: follows every session's deadlines from the event store (the identity context, from the
 * start) and, every `intervalMs`, ends the sessions whose idle or absolute lifetime is over — SessionEnded with the
 * reason, SessionRevoked, and the revocation published at once — so every service refuses their access tokens
 * within seconds instead of when a refresh happens to be attempted. Each end is re-decided on the session's own
 * stream, so a deadline this projection has not caught up with yet never ends a live session, and two identity
 * processes sweeping at once end a session once.
 */
import type { Checkpoint, EventStore, Subscription } from '@haven/eventstore';
import type { Logger } from '@haven/service';
import { expiredSessions, foldSessionDeadline, type SessionDeadlines } from './expiry';

/** Options of {@link startIdleSweeper}. */
export interface IdleSweeperOptions {
  readonly store: EventStore;
  /** Ends one session if it is expired at the moment (IdentityApp.expireSession). */
  readonly expire: (sessionId: string) => Promise<unknown>;
  /** How often to look, ms. */
  readonly intervalMs: number;
  readonly logger?: Logger;
  readonly now?: () => number;
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

/** Subscribes and starts the timer. Rejects when the store refuses the subscription. */
export async function startIdleSweeper(options: IdleSweeperOptions): Promise<IdleSweeper> {
  const now = options.now ?? Date.now;
  const deadlines: SessionDeadlines = new Map();
  let position: Checkpoint = 'start';
  let subscription: Subscription | undefined;
  let closed = false;
  let sweeping: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let failures = 0;

  // After a store outage: resubscribe from the last position seen, backing off (0.5 s doubling to 30 s), forever.
  const resubscribe = (error: unknown): void => {
    if (closed) return;
    failures += 1;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
    options.logger?.warn(
      { err: error, retryInMs: delay },
      'idle sweeper lost the event store; resubscribing',
    );
    retry = setTimeout(() => void subscribe().catch(resubscribe), delay);
    retry.unref();
  };
  const subscribe = async (): Promise<void> => {
    if (closed) return;
    subscription = await options.store.subscribe({
      from: position,
      contexts: ['identity'],
      handler: async (event) => {
        position = event.position;
        failures = 0;
        foldSessionDeadline(deadlines, event);
      },
      onError: resubscribe,
    });
  };
  await subscribe();

  const sweepOnce = async (): Promise<void> => {
    for (const sid of expiredSessions(deadlines, now())) {
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
  const timer = setInterval(() => void sweep(), options.intervalMs);
  timer.unref();

  return {
    get tracked() {
      return deadlines.size;
    },
    sweep,
    close: async () => {
      closed = true;
      clearInterval(timer);
      if (retry) clearTimeout(retry);
      await sweeping;
      await subscription?.close();
    },
  };
}
