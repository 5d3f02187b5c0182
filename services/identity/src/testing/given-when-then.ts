/**
 * A tiny given/when/then helper for deciders (emmett style):
 * `spec.given(events).when(command).then(expectedEvents)` or `.thenThrows(ErrorClass, /message/)`.
 * Uses node:assert so it works under jest and compiles without jest types.
 */
import { deepStrictEqual, fail, match, ok } from 'node:assert/strict';

export interface Decider<C, E, S> {
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
  initialState: S;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ErrorClass = abstract new (...args: any[]) => Error;

export interface WhenResult<E> {
  /** Asserts the exact events produced. */
  then(expected: readonly E[]): void;
  /** Asserts a thrown error of the class (and message pattern); no events. */
  thenThrows(errorClass: ErrorClass, message?: RegExp): void;
  /** Returns the produced events (throws if decide threw). */
  events(): E[];
}

/** Builds a spec for one decider. */
export function deciderSpec<C, E, S>(decider: Decider<C, E, S>) {
  return {
    given(events: readonly E[] = []) {
      const state = events.reduce((s, e) => decider.evolve(s, e), decider.initialState);
      return {
        when(command: C): WhenResult<E> {
          const run = (): E[] => decider.decide(command, state);
          return {
            then(expected) {
              deepStrictEqual(run(), expected);
            },
            thenThrows(errorClass, message) {
              try {
                const produced = run();
                fail(`expected ${errorClass.name}, but decide returned ${JSON.stringify(produced)}`);
              } catch (error) {
                ok(error instanceof errorClass, `expected ${errorClass.name}, got ${String(error)}`);
                if (message) match(error.message, message);
              }
            },
            events: run,
          };
        },
      };
    },
  };
}

/** `ms` (epoch milliseconds, as the deciders take time) as the ISO string their events carry. */
export const iso = (ms: number): string => new Date(ms).toISOString();
