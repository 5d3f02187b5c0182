/**
 * The self-healing follower over the in-memory store, with faults injected into its source: a subscription
 * that silently stops delivering, a source whose end cannot be read, redeliveries, a handler that keeps
 * failing. Real-server behaviour (SIGSTOP, restart of nats-server) is in tests/fault/consumers.int.spec.ts.
 */
import { ConsumerHealth, ConsumerState, backoffDelay, type ConsumerStatus } from './consumers';
import { follow, storeSource, type FollowSource } from './follower';
import { newEvent } from './ids';
import { InMemoryEventStore } from './memory';
import type { PositionedEvent, Subscription } from './port';
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
      const handled: string[] = [];
      const follower = await follow(source, {
        name: 'test.stall',
        from: 'start',
        checkIntervalMs: CHECK_MS,
        minBackoffMs: 5,
        maxBackoffMs: 20,
        handler: async (e) => void handled.push(e.stream),
      });
      subscriptions.push(follower);
      await store.append('test.thing-1', 'no_stream', [event('A')]);
      await eventually('the first event', () => handled.length === 1, POLL);
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
      const handled: string[] = [];
      const follower = await follow(source, {
        name: 'test.back',
        from: 'start',
        checkIntervalMs: CHECK_MS,
        minBackoffMs: 60_000,
        maxBackoffMs: 60_000,
        handler: async (e) => void handled.push(e.stream),
      });
      subscriptions.push(follower);
      await store.append('test.thing-1', 'no_stream', [event('A')]);
      await eventually('the first event', () => handled.length === 1, POLL);
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
