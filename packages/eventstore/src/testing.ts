/**
 * `@haven/eventstore/testing`: the one contract suite every EventStore adapter must pass.
 *
 *   testEventStore('jetstream', async () => ({ store, teardown: async () => { ... } }));
 */
import { ConcurrencyError, PreconditionError } from '@haven/errors';
import type { EventEnvelope, NewEvent } from './envelope';
import { newEvent, streamName } from './ids';
import { inspectionOf } from './inspection';
import type { EventStore, PositionedEvent, StoreInspection, Subscription } from './port';
import { ConsumerHealth } from './consumers';
import { followStore } from './follower';

/** What the contract suite needs from an adapter under test. */
export interface EventStoreFixture {
  readonly store: EventStore;
  teardown(): Promise<void>;
}

const WAIT_MS = 10_000;

let counter = 0;
/** A context name unique to this test run, so tests sharing a server never see each other's events. */
export function uniqueContext(prefix = 't'): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}${counter}`;
}

/** A new test event of type `haven.test.v1.<name>`. */
export function testEvent(name: string, data: Record<string, unknown> = {}): NewEvent {
  return newEvent({
    type: `haven.test.v1.${name}`,
    data,
    actor: { kind: 'user', id: 'u-1', role: 'clinician' },
  });
}

/** Subscribes and collects events; `waitFor(n)` resolves once `n` have arrived (bounded by a timeout). */
export async function collect(
  store: EventStore,
  options: { from: bigint | 'start'; contexts?: readonly string[] },
): Promise<{
  events: PositionedEvent[];
  waitFor(n: number): Promise<PositionedEvent[]>;
  subscription: Subscription;
}> {
  const events: PositionedEvent[] = [];
  const listeners = new Set<() => void>();
  const subscription = await store.subscribe({
    from: options.from,
    ...(options.contexts ? { contexts: options.contexts } : {}),
    handler: async (e) => {
      events.push(e);
      for (const l of listeners) l();
    },
  });
  const waitFor = (n: number): Promise<PositionedEvent[]> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (events.length >= n) {
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(events.slice());
          return true;
        }
        return false;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`timed out waiting for ${n} events, got ${events.length}`));
      }, WAIT_MS);
      listeners.add(listener);
      check();
    });
  return { events, waitFor, subscription };
}

/** How a contract group reaches the suite's store (ready once beforeAll ran) and names a fresh stream. */
interface ContractAccess {
  readonly store: () => EventStore;
  readonly fresh: (ctx?: string) => string;
}

/** The {@link testEventStore} tests of append. */
function appendContract({ store, fresh }: ContractAccess): void {
  it('creates a stream with no_stream and reads it back', async () => {
    const s = fresh();
    const e1 = testEvent('Created', { n: 1 });
    const e2 = testEvent('Renamed', { n: 2 });
    const r = await store().append(s, 'no_stream', [e1, e2]);
    expect(r.nextRevision).toBe(1n);
    expect(r.position).toBeGreaterThan(0n);
    const read = await store().read(s);
    expect(read.map((e) => [e.id, e.revision, e.stream])).toEqual([
      [e1.id, 0n, s],
      [e2.id, 1n, s],
    ]);
  });

  it('refuses no_stream on an existing stream with ConcurrencyError', async () => {
    const s = fresh();
    await store().append(s, 'no_stream', [testEvent('A')]);
    await expect(store().append(s, 'no_stream', [testEvent('B')])).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await store().read(s)).toHaveLength(1);
  });

  it('appends at the exact revision and refuses a stale one with ConcurrencyError', async () => {
    const s = fresh();
    await store().append(s, 'no_stream', [testEvent('A')]);
    const r1 = await store().append(s, 0n, [testEvent('B')]);
    expect(r1.nextRevision).toBe(1n);
    const r2 = await store().append(s, 1n, [testEvent('C'), testEvent('D')]);
    expect(r2.nextRevision).toBe(3n);
    expect(r2.position).toBeGreaterThan(r1.position);
    await expect(store().append(s, 1n, [testEvent('E')])).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(store().append(s, 7n, [testEvent('F')])).rejects.toBeInstanceOf(ConcurrencyError);
    const missing = fresh();
    await expect(store().append(missing, 0n, [testEvent('G')])).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store().read(s)).map((e) => e.type)).toEqual([
      'haven.test.v1.A',
      'haven.test.v1.B',
      'haven.test.v1.C',
      'haven.test.v1.D',
    ]);
    expect(await store().read(missing)).toEqual([]);
  });

  it('appends with any whether or not the stream exists', async () => {
    const s = fresh();
    const r0 = await store().append(s, 'any', [testEvent('A')]);
    expect(r0.nextRevision).toBe(0n);
    const r1 = await store().append(s, 'any', [testEvent('B'), testEvent('C')]);
    expect(r1.nextRevision).toBe(2n);
    expect((await store().read(s)).map((e) => e.revision)).toEqual([0n, 1n, 2n]);
  });

  it('never refuses concurrent appends with any: each one lands once, at its own revision', async () => {
    const s = fresh();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store().append(s, 'any', [testEvent(`P${i}`)])),
    );
    const revisions = results.map((r) => r.nextRevision).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(revisions).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i)));
    expect(await store().read(s)).toHaveLength(12);
  });

  it('is idempotent on event ids: a retry returns the original result and stores nothing new', async () => {
    const s = fresh();
    const batch = [testEvent('A'), testEvent('B')];
    const first = await store().append(s, 'no_stream', batch);
    const retry = await store().append(s, 'no_stream', batch);
    expect(retry).toEqual(first);
    const next = await store().append(s, 1n, [testEvent('C')]);
    const lateRetry = await store().append(s, 'any', batch);
    expect(lateRetry).toEqual(first);
    const staleRetry = await store().append(s, 'no_stream', batch);
    expect(staleRetry).toEqual(first);
    const read = await store().read(s);
    expect(read.map((e) => e.id)).toEqual([batch[0]!.id, batch[1]!.id, read[2]!.id]);
    expect(read).toHaveLength(3);
    expect(next.nextRevision).toBe(2n);
  });

  it('completes a half-finished batch idempotently when retried with the same ids', async () => {
    const s = fresh();
    const batch = [testEvent('A'), testEvent('B'), testEvent('C')];
    await store().append(s, 'no_stream', [batch[0]!]); // as if the writer crashed after the first event
    const r = await store().append(s, 'no_stream', batch);
    expect(r.nextRevision).toBe(2n);
    expect((await store().read(s)).map((e) => e.id)).toEqual(batch.map((e) => e.id));
  });

  it('refuses deleteStream with PreconditionError and keeps the events', async () => {
    const s = fresh();
    await store().append(s, 'no_stream', [testEvent('A')]);
    await expect(store().deleteStream(s)).rejects.toBeInstanceOf(PreconditionError);
    expect(await store().read(s)).toHaveLength(1);
  });

  it('rejects a malformed stream name', async () => {
    await expect(store().append('Not A Stream', 'any', [testEvent('A')])).rejects.toMatchObject({
      name: 'ValidationError',
    });
  });
}

/** The {@link testEventStore} tests of read. */
function readContract({ store, fresh }: ContractAccess): void {
  it('reads forwards from a revision, with a limit', async () => {
    const s = fresh();
    const batch = Array.from({ length: 6 }, (_, i) => testEvent('N', { i }));
    await store().append(s, 'no_stream', batch);
    const fromTwo = await store().read(s, { fromRevision: 2n });
    expect(fromTwo.map((e) => e.data['i'])).toEqual([2, 3, 4, 5]);
    const limited = await store().read(s, { fromRevision: 1n, limit: 2 });
    expect(limited.map((e) => e.revision)).toEqual([1n, 2n]);
    expect(await store().read(s, { fromRevision: 6n })).toEqual([]);
    expect(await store().read(fresh())).toEqual([]);
  });

  it('round-trips the envelope: bigint revision, actor, sealed phi, traceparent, correlation', async () => {
    const s = fresh();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const e = newEvent({
      type: 'haven.test.v1.PhiCarried',
      data: { visit: 'v-1', nested: { ok: true, list: [1, 'two'] } },
      actor: { kind: 'service_account', id: 'sa-ehr' },
      correlationId: 'corr-1',
      causationId: 'cause-1',
      traceparent,
      phi: { subject: 'patient-1', keyId: 'k-1', ciphertext: 'AAECAwQ_-w' },
    });
    const plain = testEvent('Plain');
    await store().append(s, 'no_stream', [e, plain]);
    const [read, readPlain] = await store().read(s);
    const expected: EventEnvelope = {
      id: e.id,
      type: e.type,
      stream: s,
      revision: 0n,
      occurredAt: e.occurredAt,
      actor: { kind: 'service_account', id: 'sa-ehr' },
      correlationId: 'corr-1',
      causationId: 'cause-1',
      traceparent,
      data: { visit: 'v-1', nested: { ok: true, list: [1, 'two'] } },
      phi: { subject: 'patient-1', keyId: 'k-1', ciphertext: 'AAECAwQ_-w' },
    };
    expect(read).toEqual({ ...expected, position: expect.any(BigInt) as unknown });
    expect(typeof read!.revision).toBe('bigint');
    expect(readPlain!.actor).toEqual({ kind: 'user', id: 'u-1', role: 'clinician' });
    expect(readPlain!.phi).toBeUndefined();
    expect(readPlain!.correlationId).toBe(plain.id);
    expect(readPlain!.revision).toBe(1n);
  });
}

/** The {@link testEventStore} tests of read positions. */
function readPositionsContract({ store, fresh }: ContractAccess): void {
  it('returns each event with its global position, increasing, the last one as the append said', async () => {
    const s = fresh();
    await store().append(s, 'no_stream', [testEvent('A'), testEvent('B')]);
    await store().append(fresh(), 'no_stream', [testEvent('Elsewhere')]);
    const last = await store().append(s, 1n, [testEvent('C')]);
    const read = await store().read(s);
    expect(read.map((e) => typeof e.position)).toEqual(['bigint', 'bigint', 'bigint']);
    expect(read[0]!.position < read[1]!.position && read[1]!.position < read[2]!.position).toBe(true);
    expect(read[2]!.position).toBe(last.position);
  });

  it('reads the tail after a position hint, and reads correctly whatever the hint says', async () => {
    const s = fresh();
    const other = fresh();
    for (let i = 0; i < 5; i++) {
      await store().append(s, i === 0 ? 'no_stream' : BigInt(i - 1), [testEvent('N', { i })]);
      await store().append(other, 'any', [testEvent('Noise', { i })]);
    }
    const all = await store().read(s);
    const revisions = (events: readonly EventEnvelope[]) => events.map((e) => e.revision);
    const tail = await store().read(s, { fromRevision: 3n, afterPosition: all[2]!.position });
    expect(revisions(tail)).toEqual([3n, 4n]);
    expect(tail.map((e) => e.data['i'])).toEqual([3, 4]);
    for (const hint of [all[3]!.position, all[0]!.position, 1n, all[4]!.position + 1_000n]) {
      expect(revisions(await store().read(s, { fromRevision: 3n, afterPosition: hint }))).toEqual([3n, 4n]);
    }
    expect(await store().read(s, { fromRevision: 5n, afterPosition: all[4]!.position })).toEqual([]);
  });

  it('round-trips the request record of an idempotent command', async () => {
    const s = fresh();
    const e = newEvent({
      type: 'haven.test.v1.Requested',
      data: {},
      actor: { kind: 'user', id: 'u-1' },
    });
    await store().append(s, 'no_stream', [{ ...e, request: { id: 'key-1', fingerprint: 'fp-1' } }]);
    const [read] = await store().read(s);
    expect(read!.request).toEqual({ id: 'key-1', fingerprint: 'fp-1' });
  });
}

/** The {@link testEventStore} tests of subscribe. */
function subscribeContract({ store, fresh }: ContractAccess): void {
  it('delivers events of several streams and contexts in append order with increasing positions', async () => {
    const a = uniqueContext('a');
    const b = uniqueContext('b');
    const s1 = fresh(a);
    const s2 = fresh(b);
    const s3 = fresh(a);
    const appended: string[] = [];
    const push = async (s: string, n: number): Promise<void> => {
      const batch = Array.from({ length: n }, () => testEvent('X'));
      await store().append(s, 'any', batch);
      appended.push(...batch.map((e) => e.id));
    };
    await push(s1, 2);
    await push(s2, 1);
    await push(s3, 1);
    await push(s1, 1);
    await push(s2, 2);
    const c = await collect(store(), { from: 'start', contexts: [a, `${b}.`] });
    const got = await c.waitFor(appended.length);
    await c.subscription.close();
    expect(got.map((e) => e.id)).toEqual(appended);
    for (let i = 1; i < got.length; i += 1) expect(got[i]!.position).toBeGreaterThan(got[i - 1]!.position);
    expect(got.filter((e) => e.stream === s1).map((e) => e.revision)).toEqual([0n, 1n, 2n]);
  });

  it('delivers only the requested contexts', async () => {
    const wanted = uniqueContext('w');
    const other = uniqueContext('o');
    const sw = fresh(wanted);
    const so = fresh(other);
    await store().append(so, 'any', [testEvent('Other1')]);
    await store().append(sw, 'any', [testEvent('Wanted1')]);
    await store().append(so, 'any', [testEvent('Other2')]);
    await store().append(sw, 'any', [testEvent('Wanted2')]);
    const c = await collect(store(), { from: 'start', contexts: [`${wanted}.`] });
    await c.waitFor(2);
    // a sentinel after the others proves nothing else was queued before it
    await store().append(so, 'any', [testEvent('Other3')]);
    await store().append(sw, 'any', [testEvent('Wanted3')]);
    const got = await c.waitFor(3);
    await c.subscription.close();
    expect(got.map((e) => e.type)).toEqual([
      'haven.test.v1.Wanted1',
      'haven.test.v1.Wanted2',
      'haven.test.v1.Wanted3',
    ]);
  });

  it('resumes after a checkpoint with only the newer events', async () => {
    const ctx = uniqueContext('r');
    const s = fresh(ctx);
    await store().append(s, 'no_stream', [testEvent('One'), testEvent('Two'), testEvent('Three')]);
    const first = await collect(store(), { from: 'start', contexts: [ctx] });
    const seen = await first.waitFor(3);
    await first.subscription.close();
    const checkpoint = seen[2]!.position;
    await store().append(s, 2n, [testEvent('Four'), testEvent('Five')]);
    const second = await collect(store(), { from: checkpoint, contexts: [ctx] });
    await second.waitFor(2);
    await store().append(s, 4n, [testEvent('Six')]);
    const resumed = await second.waitFor(3);
    await second.subscription.close();
    expect(resumed.map((e) => e.type)).toEqual([
      'haven.test.v1.Four',
      'haven.test.v1.Five',
      'haven.test.v1.Six',
    ]);
    expect(resumed[0]!.position).toBeGreaterThan(checkpoint);
    expect(seen.map((e) => e.type)).toEqual([
      'haven.test.v1.One',
      'haven.test.v1.Two',
      'haven.test.v1.Three',
    ]);
  });

  it('awaits the handler before delivering the next event (back-pressure)', async () => {
    const ctx = uniqueContext('p');
    const s = fresh(ctx);
    await store().append(s, 'no_stream', [testEvent('A'), testEvent('B'), testEvent('C')]);
    let running = 0;
    let maxRunning = 0;
    const order: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const sub = await store().subscribe({
      from: 'start',
      contexts: [ctx],
      handler: async (e) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setImmediate(r));
        order.push(e.type);
        running -= 1;
        if (order.length === 3) done();
      },
    });
    await finished;
    await sub.close();
    expect(maxRunning).toBe(1);
    expect(order).toEqual(['haven.test.v1.A', 'haven.test.v1.B', 'haven.test.v1.C']);
  });
}

/** The {@link testEventStore} tests of inspection. */
function inspectionContract({ store, fresh }: ContractAccess): void {
  const inspection = (): StoreInspection => {
    const found = inspectionOf(store());
    if (!found) throw new Error('the adapter offers no inspection');
    return found;
  };

  it('reports the store as intact, with its last position', async () => {
    const s = fresh();
    const r = await store().append(s, 'no_stream', [testEvent('A'), testEvent('B')]);
    const status = await inspection().status();
    expect(status.exists).toBe(true);
    expect(status.lastPosition).toBeGreaterThanOrEqual(r.position);
    expect(status.missingPositions).toEqual([]);
    expect(status.deviations).toEqual([]);
    if (status.count !== undefined) expect(status.count).toBeGreaterThanOrEqual(2n);
  });

  it('reads events back by position, in order, and says where the store ends', async () => {
    const s = fresh();
    const events = [testEvent('One'), testEvent('Two'), testEvent('Three')];
    const positions: bigint[] = [];
    for (const [i, e] of events.entries()) {
      const expected = i === 0 ? 'no_stream' : BigInt(i - 1);
      positions.push((await store().append(s, expected, [e])).position);
    }
    const range = await inspection().readFrom(positions[0]!, 1_000);
    const mine = range.items.filter((x) => events.some((e) => e.id === x.event?.id));
    expect(mine.map((x) => [x.position, x.event?.id, x.event?.stream])).toEqual(
      events.map((e, i) => [positions[i], e.id, s]),
    );
    expect(range.items.map((x) => x.position)).toEqual(
      [...range.items.map((x) => x.position)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const one = await inspection().readFrom(positions[1]!, 1);
    expect(one.items.map((x) => x.event?.id)).toEqual([events[1]!.id]);
    expect(one.end).toBe(false);
    const last = (await inspection().status()).lastPosition;
    expect(await inspection().readFrom(last + 1n, 10)).toEqual({ items: [], end: true });
  });
}

/** The {@link testEventStore} tests of head. */
function headContract({ store, fresh }: ContractAccess): void {
  it("reports 'start' and nothing pending for a context without events", async () => {
    expect(await store().head({ after: 'start', contexts: [uniqueContext('e')] })).toEqual({
      position: 'start',
      pending: 0,
    });
  });

  it("gives the context's last position and counts only its events after a position", async () => {
    const ctx = uniqueContext('h');
    const other = uniqueContext('o');
    const a = await store().append(fresh(ctx), 'no_stream', [testEvent('A')]);
    await store().append(fresh(other), 'no_stream', [testEvent('X'), testEvent('Y')]);
    const b = await store().append(fresh(ctx), 'no_stream', [testEvent('B'), testEvent('C')]);
    await store().append(fresh(other), 'no_stream', [testEvent('Z')]);
    expect(await store().head({ after: 'start', contexts: [ctx] })).toEqual({
      position: b.position,
      pending: 3,
    });
    expect(await store().head({ after: a.position, contexts: [ctx] })).toEqual({
      position: b.position,
      pending: 2,
    });
    expect(await store().head({ after: b.position, contexts: [ctx] })).toEqual({
      position: b.position,
      pending: 0,
    });
    const all = await store().head({ after: b.position });
    expect(all.pending).toBeGreaterThanOrEqual(1);
    expect(all.position === 'start' ? 0n : all.position).toBeGreaterThan(b.position);
  });
}

/** The {@link testEventStore} tests of followStore. */
function followStoreContract({ store, fresh }: ContractAccess): void {
  it('re-delivers an event whose handler failed, after a back-off, and then goes on in order', async () => {
    const ctx = uniqueContext('f');
    const s = fresh(ctx);
    await store().append(s, 'no_stream', [testEvent('A'), testEvent('B'), testEvent('C')]);
    const health = new ConsumerHealth();
    const attempts: string[] = [];
    const handled: string[] = [];
    let failuresLeft = 2;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const follower = await followStore(store(), {
      name: 'contract.follower',
      from: 'start',
      contexts: [ctx],
      health,
      minBackoffMs: 10,
      maxBackoffMs: 50,
      checkIntervalMs: 200,
      handler: async (e) => {
        attempts.push(e.type);
        if (e.type === 'haven.test.v1.B' && failuresLeft > 0) {
          failuresLeft -= 1;
          throw new Error('injected');
        }
        handled.push(e.type);
        if (handled.length === 3) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        finished,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('not handled in time')), WAIT_MS);
        }),
      ]);
      await follower.caughtUp(WAIT_MS);
      expect(handled).toEqual(['haven.test.v1.A', 'haven.test.v1.B', 'haven.test.v1.C']);
      expect(attempts).toEqual([
        'haven.test.v1.A',
        'haven.test.v1.B',
        'haven.test.v1.B',
        'haven.test.v1.B',
        'haven.test.v1.C',
      ]);
      expect(health.statuses()).toEqual([
        expect.objectContaining({ name: 'contract.follower', state: 'live', lag: 0 }),
      ]);
    } finally {
      clearTimeout(timer);
      await follower.close();
    }
    expect(health.statuses()).toEqual([]);
  });
}

/**
 * Declares the EventStore contract suite (jest `describe`/`it`) for one adapter. `factory` is called once
 * per suite (beforeAll) and its teardown in afterAll.
 */
export function testEventStore(name: string, factory: () => Promise<EventStoreFixture>): void {
  describe(`EventStore contract: ${name}`, () => {
    let fixture: EventStoreFixture | undefined;
    const store = (): EventStore => {
      if (!fixture) throw new Error('fixture not ready');
      return fixture.store;
    };
    beforeAll(async () => {
      fixture = await factory();
    });
    afterAll(async () => {
      await fixture?.teardown();
    });

    const fresh = (ctx = uniqueContext()): string =>
      streamName({ context: ctx, aggregate: 'thing', id: uniqueContext('id') });

    const access: ContractAccess = { store, fresh };

    describe('append', () => appendContract(access));

    describe('read', () => readContract(access));

    describe('read positions', () => readPositionsContract(access));

    describe('subscribe', () => subscribeContract(access));

    describe('inspection', () => inspectionContract(access));

    describe('head', () => headContract(access));

    describe('followStore', () => followStoreContract(access));
  });
}
