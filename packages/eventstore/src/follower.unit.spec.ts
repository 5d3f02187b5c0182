/**
 * The self-healing follower over the in-memory store, with faults injected into its source: a subscription
 * that silently stops delivering, a source whose end cannot be read, redeliveries, a handler that keeps
 * failing. Real-server behaviour (SIGSTOP, restart of nats-server) is in tests/fault/consumers.int.spec.ts.
 *
 * The durable follower (followWithCheckpoints) with an in-memory checkpoint store (the bus's NATS bucket in
 * production): where it starts, when it saves, what a failing handler or an unreachable checkpoint store does,
 * and what a second process finds after the first stopped part-way. The services' consumers under kill -9 over
 * real servers are in tests/fault/erasure-consumers.int.spec.ts.
 */
import { ConsumerHealth, ConsumerState, backoffDelay, type ConsumerStatus } from './consumers';
import {
  follow,
  followWithCheckpoints,
  storeSource,
  type CheckpointSource,
  type FollowOptions,
  type Follower,
  type FollowSource,
} from './follower';
import { newEvent } from './ids';
import { InMemoryEventStore } from './memory';
import type { Checkpoint, PositionedEvent, Subscription } from './port';
import { eventually } from '@haven/testing';

const CHECK_MS = 40;

/** These waits poll every 5 ms: a short-lived state must not slip between two looks. */
const POLL = { intervalMs: 5 };

function event(name: string) {
  return newEvent({ type: `haven.test.v1.${name}`, data: {}, actor: { kind: 'service', id: 'test' } });
}

/** The store as a source whose faults a test switches on and off. */
function faultySource(store: InMemoryEventStore) {
  const inner = storeSource(store, ['test']);
  const faults = {
    headFails: false,
    muteDeliveries: false,
    redeliverFromStart: false,
    opened: 0,
  };
  const source: FollowSource<PositionedEvent> = {
    subscribe: async (options) => {
      faults.opened += 1;
      return await inner.subscribe({
        ...options,
        from: faults.redeliverFromStart ? 'start' : options.from,
        handler: async (e) => {
          // A muted subscription loses deliveries without an error: a consumer that silently stopped.
          if (faults.muteDeliveries) return;
          await options.handler(e);
        },
      });
    },
    head: async (after) => {
      if (faults.headFails) throw new Error('unreachable');
      return await inner.head(after);
    },
  };
  return { source, faults };
}

/** A checkpoint store in a map; `failOpens` makes the next opens fail (NATS unreachable). `log` records saves. */
function memoryCheckpoints(initial: Record<string, bigint> = {}) {
  const saved = new Map<string, bigint>(Object.entries(initial));
  const state = { failOpens: 0, opens: 0, log: [] as string[] };
  const source: CheckpointSource = {
    checkpoints: async () => {
      state.opens += 1;
      if (state.failOpens > 0) {
        state.failOpens -= 1;
        throw new Error('checkpoint bucket unreachable');
      }
      return {
        load: async (key: string): Promise<Checkpoint> => saved.get(key) ?? 'start',
        save: async (key: string, position: bigint) => {
          state.log.push(`save ${key} ${position}`);
          saved.set(key, position);
        },
      };
    },
  };
  return { source, saved, state };
}

const FAST = { checkIntervalMs: CHECK_MS, minBackoffMs: 5, maxBackoffMs: 20 };

describe('follow (self-healing consumer)', () => {
  let store: InMemoryEventStore;
  let subscriptions: Subscription[];
  beforeEach(() => {
    store = new InMemoryEventStore();
    subscriptions = [];
  });
  afterEach(async () => {
    await Promise.all(subscriptions.map((s) => s.close()));
    await store.close();
  });

  /** A follower of `source` from the start that records each event's stream, once it has handled test.thing-1. */
  async function pastTheFirstEvent(
    source: FollowSource<PositionedEvent>,
    options: Omit<FollowOptions<PositionedEvent>, 'from' | 'handler'>,
  ): Promise<{ follower: Follower; handled: string[] }> {
    const handled: string[] = [];
    const follower = await follow(source, {
      ...options,
      from: 'start',
      handler: async (e) => void handled.push(e.stream),
    });
    subscriptions.push(follower);
    await store.append('test.thing-1', 'no_stream', [event('A')]);
    await eventually('the first event', () => handled.length === 1, POLL);
    return { follower, handled };
  }

  describe('when the log already holds events at start', () => {
    it('is starting (not serving) until it has handled them, then live', async () => {
      for (let i = 0; i < 3; i += 1) await store.append(`test.thing-${i}`, 'no_stream', [event('A')]);
      const health = new ConsumerHealth();
      const states: string[] = [];
      health.onChange((s) => states.push(s.state));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const follower = await follow(storeSource(store, ['test']), {
        name: 'test.starting',
        from: 'start',
        health,
        checkIntervalMs: CHECK_MS,
        handler: () => gate,
      });
      subscriptions.push(follower);
      await new Promise((r) => setTimeout(r, 3 * CHECK_MS));
      expect(follower.status().state).toBe(ConsumerState.Starting);
      expect(health.ready).toBe(false);
      release();
      await follower.caughtUp(5_000);
      expect(health.ready).toBe(true);
      expect(states).toEqual(['starting', 'live']);
    });
  });

  describe('when its subscription silently stops delivering', () => {
    it('notices it is behind without progress, re-subscribes after its position, and catches up', async () => {
      const { source, faults } = faultySource(store);
      const { follower, handled } = await pastTheFirstEvent(source, { ...FAST, name: 'test.stall' });
      faults.muteDeliveries = true;
      await store.append('test.thing-2', 'no_stream', [event('B')]);
      await eventually('behind', () => follower.status().state === ConsumerState.Behind, POLL);
      faults.muteDeliveries = false;
      await eventually('the event after the stall', () => handled.length === 2, POLL);
      await follower.caughtUp(5_000);
      expect(handled).toEqual(['test.thing-1', 'test.thing-2']);
      expect(faults.opened).toBeGreaterThanOrEqual(2);
    });
  });

  describe('when the source redelivers what was already handled', () => {
    it('never hands an event at or before its position to the handler again', async () => {
      const { source, faults } = faultySource(store);
      const handled: bigint[] = [];
      let failOnce = true;
      const follower = await follow(source, {
        name: 'test.dedup',
        from: 'start',
        checkIntervalMs: CHECK_MS,
        minBackoffMs: 5,
        handler: async (e) => {
          if (e.stream === 'test.thing-3' && failOnce) {
            failOnce = false;
            faults.redeliverFromStart = true; // the re-opened subscription starts from the beginning again
            throw new Error('injected');
          }
          handled.push(e.position);
        },
      });
      subscriptions.push(follower);
      for (let i = 1; i <= 4; i += 1) await store.append(`test.thing-${i}`, 'no_stream', [event('A')]);
      await eventually('four events', () => handled.length === 4, POLL);
      await follower.caughtUp(5_000);
      expect(handled).toEqual([1n, 2n, 3n, 4n]);
    });
  });

  describe('when the end of the log cannot be read', () => {
    it('reports down, then live again once it can, with the lag in between', async () => {
      const { source, faults } = faultySource(store);
      const health = new ConsumerHealth();
      const seen: ConsumerStatus[] = [];
      health.onChange((s) => seen.push(s));
      const follower = await follow(source, {
        name: 'test.unreachable',
        from: 'start',
        health,
        checkIntervalMs: CHECK_MS,
        handler: async () => undefined,
      });
      subscriptions.push(follower);
      await follower.caughtUp(5_000);
      faults.headFails = true;
      await eventually('down', () => follower.status().state === ConsumerState.Down, POLL);
      expect(health.ready).toBe(false);
      expect(follower.status().reason).toBe('unreachable');
      faults.headFails = false;
      await eventually('live again', () => follower.status().state === ConsumerState.Live, POLL);
      expect(seen.map((s) => s.state)).toEqual(['starting', 'live', 'down', 'live']);
    });
  });

  describe('when the source comes back in the middle of a long back-off', () => {
    it('re-subscribes as soon as a check reaches the source again', async () => {
      const { source, faults } = faultySource(store);
      const { follower, handled } = await pastTheFirstEvent(source, {
        name: 'test.back',
        checkIntervalMs: CHECK_MS,
        minBackoffMs: 60_000,
        maxBackoffMs: 60_000,
      });
      // Deliveries stop: the stall detector re-subscribes, and that attempt is scheduled 30–60 s away.
      faults.muteDeliveries = true;
      await store.append('test.thing-2', 'no_stream', [event('B')]);
      await eventually('down', () => follower.status().state === ConsumerState.Down, POLL);
      // Then the source is unreachable for a while, and comes back.
      faults.headFails = true;
      await new Promise((r) => setTimeout(r, 3 * CHECK_MS));
      faults.muteDeliveries = false;
      const back = Date.now();
      faults.headFails = false;
      await eventually('the event after the outage', () => handled.length === 2, POLL);
      expect(Date.now() - back).toBeLessThan(5_000);
      await follower.caughtUp(5_000);
    });
  });

  describe('when the handler keeps failing', () => {
    it('retries the same event with growing back-off, forever, and reports down meanwhile', async () => {
      const { source } = faultySource(store);
      const attempts: number[] = [];
      const follower = await follow(source, {
        name: 'test.retry',
        from: 'start',
        checkIntervalMs: 1_000,
        minBackoffMs: 4,
        maxBackoffMs: 64,
        handler: async () => {
          attempts.push(Date.now());
          if (attempts.length < 7) throw new Error('injected');
        },
      });
      subscriptions.push(follower);
      await store.append('test.thing-1', 'no_stream', [event('A')]);
      await eventually('three attempts', () => attempts.length >= 3, POLL);
      expect(follower.status().state).toBe(ConsumerState.Down);
      await eventually('seven attempts', () => attempts.length === 7, POLL);
      await eventually('the event handled', () => follower.position() === 1n, POLL);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
      // Equal jitter: attempt n waits at least half of min(64, 4·2ⁿ).
      expect(gaps[5]!).toBeGreaterThanOrEqual(32 - 2);
    });
  });

  describe('followWithCheckpoints (a durable follower)', () => {
    /** Appends `n` events to `test.thing-<i>` streams (positions 1…n when the store is empty). */
    const appendTest = async (n: number, from = 1) => {
      for (let i = from; i < from + n; i += 1)
        await store.append(`test.thing-${i}`, 'no_stream', [event('A')]);
    };

    describe('when a checkpoint was saved before', () => {
      it('starts after it, and saves each event’s position once its handler resolved', async () => {
        const { source, saved, state } = memoryCheckpoints({ 'test.durable': 2n });
        await appendTest(4);
        await store.append('other.thing-1', 'no_stream', [event('A')]);
        const follower = await followWithCheckpoints(store, source, {
          name: 'test.durable',
          contexts: ['test'],
          ...FAST,
          handler: async (e) => void state.log.push(`handle ${e.position}`),
        });
        subscriptions.push(follower);
        await follower.caughtUp(5_000);
        expect(state.log).toEqual(['handle 3', 'save test.durable 3', 'handle 4', 'save test.durable 4']);
        expect(saved.get('test.durable')).toBe(4n);
      });
    });

    describe('when nothing was saved', () => {
      it('starts at the beginning and keeps the position under `key` when one is given', async () => {
        const { source, saved } = memoryCheckpoints();
        await appendTest(2);
        const follower = await followWithCheckpoints(store, source, {
          name: 'test.relay',
          key: 'relay.test',
          contexts: ['test'],
          ...FAST,
          handler: async () => undefined,
        });
        subscriptions.push(follower);
        await follower.caughtUp(5_000);
        expect([...saved]).toEqual([['relay.test', 2n]]);
      });
    });

    describe('when the handler fails', () => {
      it('keeps the previous position and hands the same event again', async () => {
        const { source, state } = memoryCheckpoints();
        await appendTest(2);
        let failures = 1;
        const follower = await followWithCheckpoints(store, source, {
          name: 'test.retry',
          ...FAST,
          handler: async (e) => {
            state.log.push(`handle ${e.position}`);
            if (e.position === 2n && failures-- > 0) throw new Error('injected');
          },
        });
        subscriptions.push(follower);
        await eventually('both saved', () => state.log.at(-1) === 'save test.retry 2', POLL);
        expect(state.log.join(', ')).toBe(
          'handle 1, save test.retry 1, handle 2, handle 2, save test.retry 2',
        );
      });
    });

    describe('when the checkpoint store cannot be opened at first', () => {
      it('retries until it opens, then keeps it for every later save', async () => {
        const { source, saved, state } = memoryCheckpoints();
        state.failOpens = 2;
        await appendTest(3);
        const follower = await followWithCheckpoints(store, source, {
          name: 'test.late',
          ...FAST,
          handler: async () => undefined,
        });
        subscriptions.push(follower);
        await eventually('caught up', () => saved.get('test.late') === 3n, POLL);
        await appendTest(2, 4);
        await eventually('the later events saved', () => saved.get('test.late') === 5n, POLL);
        expect(state.opens).toBe(3);
      });
    });

    describe('with a window (pipelined, as the relay runs)', () => {
      /** A handler whose calls finish only when the test releases them, in any order. */
      const gated = () => {
        const releases = new Map<bigint, () => void>();
        const startedOrder: bigint[] = [];
        return {
          startedOrder,
          release: (position: bigint) => releases.get(position)?.(),
          handler: async (e: PositionedEvent) => {
            startedOrder.push(e.position);
            await new Promise<void>((resolve) => releases.set(e.position, resolve));
          },
        };
      };

      it('starts up to `window` handlers in position order without waiting, and no more', async () => {
        const { source } = memoryCheckpoints();
        await appendTest(5);
        const gate = gated();
        const follower = await followWithCheckpoints(store, source, {
          name: 'test.window',
          window: 3,
          ...FAST,
          handler: gate.handler,
        });
        subscriptions.push(follower);
        await eventually('three started', () => gate.startedOrder.length === 3, POLL);
        await new Promise((r) => setTimeout(r, 3 * CHECK_MS));
        expect(gate.startedOrder).toEqual([1n, 2n, 3n]);
        gate.release(1n);
        await eventually('the fourth started', () => gate.startedOrder.length === 4, POLL);
        for (const p of [2n, 3n, 4n]) gate.release(p);
        await eventually('the fifth started', () => gate.startedOrder.length === 5, POLL);
        gate.release(5n);
        await follower.caughtUp(5_000);
        expect(gate.startedOrder).toEqual([1n, 2n, 3n, 4n, 5n]);
      });

      it('saves only a position whose handler and every earlier one finished', async () => {
        const { source, saved } = memoryCheckpoints();
        await appendTest(3);
        const gate = gated();
        const follower = await followWithCheckpoints(store, source, {
          name: 'test.behind',
          window: 4,
          ...FAST,
          handler: gate.handler,
        });
        subscriptions.push(follower);
        await eventually('all three started', () => gate.startedOrder.length === 3, POLL);
        gate.release(2n);
        gate.release(3n);
        await new Promise((r) => setTimeout(r, 3 * CHECK_MS));
        // The first is still running: nothing may be saved, and the follower has finished nothing.
        expect(saved.get('test.behind')).toBeUndefined();
        expect(follower.position()).toBe('start');
        gate.release(1n);
        await eventually('saved up to 3', () => saved.get('test.behind') === 3n, POLL);
        expect(follower.position()).toBe(3n);
      });

      it('retries a failing handler in place (not after later events) until it succeeds', async () => {
        const { source, saved } = memoryCheckpoints();
        await appendTest(3);
        const calls: bigint[] = [];
        let failures = 3;
        const follower = await followWithCheckpoints(store, source, {
          name: 'test.inplace',
          window: 8,
          ...FAST,
          handler: async (e) => {
            calls.push(e.position);
            if (e.position === 2n && failures-- > 0) throw new Error('injected');
          },
        });
        subscriptions.push(follower);
        await eventually('saved up to 3', () => saved.get('test.inplace') === 3n, POLL);
        // Each event was started once in order; only the second was tried again (three failures, then success).
        expect(calls.slice(0, 3)).toEqual([1n, 2n, 3n]);
        expect(calls.filter((p) => p === 2n)).toHaveLength(4);
        expect(calls.filter((p) => p !== 2n)).toEqual([1n, 3n]);
      });

      it('on close leaves an unfinished event unsaved, and the next process hands it again', async () => {
        const { source, saved } = memoryCheckpoints();
        await appendTest(3);
        const first = await followWithCheckpoints(store, source, {
          name: 'test.pipehandover',
          window: 8,
          ...FAST,
          handler: async (e) => {
            if (e.position === 2n) throw new Error('the bus is down for this one');
          },
        });
        await eventually('the first saved', () => saved.get('test.pipehandover') === 1n, POLL);
        await first.close(); // stops retrying the second; the third finished but must not be saved past it
        expect(saved.get('test.pipehandover')).toBe(1n);
        const handled: bigint[] = [];
        const second = await followWithCheckpoints(store, source, {
          name: 'test.pipehandover',
          window: 8,
          ...FAST,
          handler: async (e) => void handled.push(e.position),
        });
        subscriptions.push(second);
        await second.caughtUp(5_000);
        expect(handled).toEqual([2n, 3n]);
        await eventually('saved up to 3', () => saved.get('test.pipehandover') === 3n, POLL);
      });
    });

    describe('when a process stopped part-way and another starts', () => {
      it('the new one hands only what the first did not finish: every event handled once', async () => {
        const { source } = memoryCheckpoints();
        await appendTest(4);
        const handled: string[] = [];
        const first = await followWithCheckpoints(store, source, {
          name: 'test.handover',
          ...FAST,
          handler: async (e) => {
            if (e.position === 3n) throw new Error('stuck'); // the first process never gets past the third
            handled.push(`first ${e.position}`);
          },
        });
        await eventually('the first two handled', () => handled.length === 2, POLL);
        await first.close();
        const second = await followWithCheckpoints(store, source, {
          name: 'test.handover',
          ...FAST,
          handler: async (e) => void handled.push(`second ${e.position}`),
        });
        subscriptions.push(second);
        await second.caughtUp(5_000);
        expect(handled).toEqual(['first 1', 'first 2', 'second 3', 'second 4']);
      });
    });
  });
});

describe('backoffDelay', () => {
  it('doubles from the minimum up to the maximum, with at most half taken off by jitter', () => {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const full = Math.min(1_000, 10 * 2 ** attempt);
      const d = backoffDelay(attempt, { minMs: 10, maxMs: 1_000 });
      expect(d).toBeGreaterThanOrEqual(Math.floor(full / 2));
      expect(d).toBeLessThanOrEqual(full);
    }
  });
});
