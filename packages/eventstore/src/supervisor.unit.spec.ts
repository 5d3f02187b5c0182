/**
 * The supervisor both self-healing consumers share (the event store's follower, the bus's durable subscription),
 * over a consumer whose opens, source end, progress and business the test sets. The consumers themselves are
 * in follower.unit.spec.ts (in-memory store) and packages/bus/src/bus.int.spec.ts (nats-server); real-server
 * faults in tests/fault/.
 */
import { eventually } from '@haven/testing';
import { ConsumerHealth, ConsumerState } from './consumers';
import { ConsumerSupervisor, type SourceHead, type SupervisedConsumer } from './supervisor';

const POLL = { intervalMs: 5 };

/** A consumer whose every answer the test sets; `opens` and `closes` record generations. */
function scriptedConsumer() {
  const script = {
    opens: [] as number[],
    closes: [] as number[],
    failOpens: 0,
    head: { pending: 0, lag: 0, end: 0 } as SourceHead<number> | 'unreachable',
    position: 0,
    busy: false,
    /** Resolves a check that is waiting on the source (set while one waits). */
    releaseHead: undefined as (() => void) | undefined,
    holdHead: false,
  };
  const consumer: SupervisedConsumer<number> = {
    open: async (generation) => {
      script.opens.push(generation);
      if (script.failOpens > 0) {
        script.failOpens -= 1;
        throw new Error('cannot open');
      }
      return { close: async () => void script.closes.push(generation) };
    },
    head: async () => {
      if (script.holdHead) await new Promise<void>((resolve) => (script.releaseHead = resolve));
      if (script.head === 'unreachable') throw new Error('unreachable');
      return script.head;
    },
    reached: (end) => script.position >= end,
    busy: () => script.busy,
    where: () => ({ position: String(script.position) }),
  };
  return { consumer, script };
}

describe('ConsumerSupervisor', () => {
  const supervisors: ConsumerSupervisor<number>[] = [];
  afterEach(async () => {
    await Promise.all(supervisors.splice(0).map((s) => s.close()));
  });

  function supervise(
    consumer: SupervisedConsumer<number>,
    options: { checkIntervalMs?: number; minMs?: number; maxMs?: number } = {},
  ) {
    const health = new ConsumerHealth();
    const states: string[] = [];
    health.onChange((s) => states.push(s.state));
    const supervisor = new ConsumerSupervisor(consumer, {
      name: 'test.supervised',
      health,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      checkIntervalMs: options.checkIntervalMs ?? 60_000,
      backoff: { minMs: options.minMs ?? 5, maxMs: options.maxMs ?? 20 },
    });
    supervisors.push(supervisor);
    /** Starts it and lets the first check (which opening runs) finish, so the next check sees the script. */
    const start = async (): Promise<void> => {
      await supervisor.start();
      await supervisor.check();
    };
    return { supervisor, health, states, start };
  }

  describe('when the subscription fails', () => {
    it('reports down, closes it, opens the next generation after the back-off, and ignores older ones', async () => {
      const { consumer, script } = scriptedConsumer();
      const { supervisor } = supervise(consumer);
      await supervisor.start();
      expect(script.opens).toEqual([1]);
      supervisor.fail(1, new TypeError('lost'));
      expect(supervisor.reporter.status()).toMatchObject({ state: ConsumerState.Down, reason: 'TypeError' });
      expect(script.closes).toEqual([1]);
      await eventually('re-opened', () => script.opens.length === 2, POLL);
      const current = script.opens[1]!;
      expect(supervisor.isCurrent(current)).toBe(true);
      supervisor.fail(1, new Error('late failure of the first subscription'));
      await new Promise((r) => setTimeout(r, 50));
      expect(script.opens).toHaveLength(2);
      expect(script.closes).toEqual([1]);
    });

    it('keeps trying while opening fails, then stays open', async () => {
      const { consumer, script } = scriptedConsumer();
      script.failOpens = 3;
      const { supervisor } = supervise(consumer);
      await supervisor.start();
      await eventually('opened at the fourth attempt', () => script.opens.length === 4, POLL);
      await new Promise((r) => setTimeout(r, 50));
      expect(script.opens).toHaveLength(4);
      expect(supervisor.isCurrent(script.opens[3]!)).toBe(true);
    });
  });

  describe('when a check cannot reach the source', () => {
    it('reports down, and once the source answers while a re-open waits out a long back-off, opens at once', async () => {
      const { consumer, script } = scriptedConsumer();
      script.failOpens = 1;
      const { supervisor } = supervise(consumer, { minMs: 60_000, maxMs: 60_000 });
      await supervisor.start(); // the open failed: the next attempt is a minute away
      script.head = 'unreachable';
      await supervisor.check();
      expect(supervisor.reporter.status().state).toBe(ConsumerState.Down);
      script.head = { pending: 2, lag: 2, end: 2 };
      await supervisor.check();
      await eventually('re-opened without waiting', () => script.opens.length === 2, POLL);
      expect(supervisor.isCurrent(script.opens[1]!)).toBe(true);
    });

    /** A supervisor whose check failed once; `sinceThen` runs before the check that reaches one event pending. */
    async function backAfterAnOutage(sinceThen: (supervisor: ConsumerSupervisor<number>) => void) {
      const { consumer, script } = scriptedConsumer();
      const { supervisor, start } = supervise(consumer);
      await start();
      script.head = 'unreachable';
      await supervisor.check();
      sinceThen(supervisor);
      script.head = { pending: 1, lag: 1, end: 1 };
      await supervisor.check();
      return script;
    }

    it('re-subscribes when the source is back with events pending and nothing delivered since', async () => {
      const script = await backAfterAnOutage(() => undefined);
      expect(script.closes).toEqual([1]);
      await eventually('re-opened', () => script.opens.length === 2, POLL);
    });

    it('keeps the subscription when something was delivered since', async () => {
      const script = await backAfterAnOutage((supervisor) => supervisor.delivered());
      expect(script.closes).toEqual([]);
    });
  });

  describe('the state at each check', () => {
    it('is starting until first caught up, live then, behind when the previous end was not reached', async () => {
      const { consumer, script } = scriptedConsumer();
      const { supervisor, states, start } = supervise(consumer);
      script.head = { pending: 3, lag: 3, end: 3 };
      await start();
      await supervisor.check();
      expect(supervisor.reporter.status()).toMatchObject({ state: ConsumerState.Starting, lag: 3 });
      script.position = 3;
      await supervisor.check(); // the source still counts 3 pending (an answer from before they were handled)
      expect(supervisor.reporter.status()).toMatchObject({ state: ConsumerState.Live, lag: 0 });
      script.head = { pending: 2, lag: 2, end: 5 };
      supervisor.delivered();
      await supervisor.check(); // the previous end (3) was reached
      expect(supervisor.reporter.status().state).toBe(ConsumerState.Live);
      script.head = { pending: 4, lag: 4, end: 9 };
      supervisor.delivered();
      await supervisor.check(); // the previous end (5) was not
      expect(supervisor.reporter.status()).toMatchObject({
        state: ConsumerState.Behind,
        lag: 4,
        reason: 'behind',
      });
      expect(states).toEqual(['starting', 'live', 'behind']);
    });

    it('turns live under steady load once the previous end was reached, lag and all', async () => {
      const { consumer, script } = scriptedConsumer();
      const { supervisor, start } = supervise(consumer);
      script.head = { pending: 10, lag: 10, end: 10 };
      await start();
      await supervisor.check();
      script.position = 12;
      script.head = { pending: 10, lag: 10, end: 22 };
      supervisor.delivered();
      await supervisor.check();
      expect(supervisor.reporter.status()).toMatchObject({ state: ConsumerState.Live, lag: 10 });
    });

    it('re-opens a subscription that delivered nothing while behind for a whole interval, unless a handler runs', async () => {
      const { consumer, script } = scriptedConsumer();
      const { supervisor } = supervise(consumer, { checkIntervalMs: 20 });
      script.head = { pending: 1, lag: 1, end: 1 };
      script.busy = true;
      await supervisor.start();
      await new Promise((r) => setTimeout(r, 100));
      expect(script.opens).toEqual([1]);
      script.busy = false;
      await eventually('re-opened', () => script.opens.length >= 2, POLL);
      expect(script.closes).toContain(1);
    });
  });

  describe('close', () => {
    it('waits for a check in flight, closes the subscription, and no scheduled re-open happens', async () => {
      const { consumer, script } = scriptedConsumer();
      const { supervisor, health, start } = supervise(consumer, { minMs: 30, maxMs: 30 });
      await start();
      script.holdHead = true;
      const checking = supervisor.check();
      await eventually('the check waits on the source', () => script.releaseHead !== undefined, POLL);
      let closed = false;
      const closing = supervisor.close().then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 20));
      expect(closed).toBe(false);
      expect(script.closes).toEqual([1]);
      script.releaseHead!();
      await Promise.all([checking, closing]);
      expect(health.statuses()).toEqual([]);
      supervisor.fail(1, new Error('after close'));
      await new Promise((r) => setTimeout(r, 80));
      expect(script.opens).toEqual([1]);
    });

    it('closes a subscription that finished opening after close began', async () => {
      const { consumer, script } = scriptedConsumer();
      let finishOpen!: () => void;
      const opening = new Promise<void>((resolve) => (finishOpen = resolve));
      const slow: SupervisedConsumer<number> = {
        ...consumer,
        open: async (generation) => {
          await opening;
          return await consumer.open(generation);
        },
      };
      const { supervisor } = supervise(slow);
      const started = supervisor.start();
      await supervisor.close();
      finishOpen();
      await started;
      expect(script.opens).toEqual([1]);
      expect(script.closes).toEqual([1]);
    });
  });
});
