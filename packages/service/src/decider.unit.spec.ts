import { ConcurrencyError, PreconditionError, UnauthenticatedError, UnavailableError } from '@haven/errors';
import { InMemoryEventStore, InMemorySnapshotStore } from '@haven/eventstore';
import type { Actor, EventStore, RequestRecord } from '@haven/eventstore';
import { CallAbortedError, findReplay, handleCommand, loadAggregate, type SnapshotPolicy } from './decider';
import { RequestIdReusedError } from './idempotency';
import { commandMetadata } from './principal';
import type { StoredEvent } from './decider';

type CounterEvent =
  | { type: 'haven.test.v1.Incremented'; data: { by: number } }
  | { type: 'haven.test.v1.Closed'; data: Record<string, never> };
type CounterState = { total: number; closed: boolean };
type CounterCommand = { kind: 'increment'; by: number } | { kind: 'close' } | { kind: 'noop' };

const evolve = (state: CounterState, event: StoredEvent<CounterEvent>): CounterState =>
  event.type === 'haven.test.v1.Incremented'
    ? { ...state, total: state.total + event.data.by }
    : { ...state, closed: true };

const decide = (command: CounterCommand, state: CounterState): CounterEvent[] => {
  if (state.closed) throw new PreconditionError('counter is closed');
  switch (command.kind) {
    case 'increment':
      return [{ type: 'haven.test.v1.Incremented', data: { by: command.by } }];
    case 'close':
      return [{ type: 'haven.test.v1.Closed', data: {} }];
    case 'noop':
      return [];
  }
};

const actor: Actor = { kind: 'user', id: 'u-1', role: 'clinician' };
const stream = 'test.counter-1';
const initialState: CounterState = { total: 0, closed: false };

function run(
  store: Pick<EventStore, 'read' | 'append'>,
  command: CounterCommand,
  extra: {
    request?: RequestRecord;
    signal?: AbortSignal;
    guard?: (s: CounterState) => void;
    snapshots?: SnapshotPolicy<CounterState>;
  } = {},
) {
  return handleCommand({
    store,
    stream,
    decide,
    evolve,
    initialState,
    command,
    metadata: {
      actor,
      correlationId: 'corr-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      ...(extra.signal ? { signal: extra.signal } : {}),
    },
    ...(extra.request ? { request: extra.request } : {}),
    ...(extra.guard ? { guard: extra.guard } : {}),
    ...(extra.snapshots ? { snapshots: extra.snapshots } : {}),
  });
}

describe('handleCommand', () => {
  it('appends what decide returns with a full envelope, then folds it', async () => {
    const store = new InMemoryEventStore();
    const first = await run(store, { kind: 'increment', by: 2 });
    expect(first.nextRevision).toBe(0n);
    expect(first.state).toEqual({ total: 2, closed: false });
    const second = await run(store, { kind: 'increment', by: 3 });
    expect(second.state.total).toBe(5);
    expect(second.nextRevision).toBe(1n);
    const stored = await store.read(stream);
    expect(stored).toHaveLength(2);
    expect(stored[1]).toMatchObject({
      id: second.events[0]?.id,
      type: 'haven.test.v1.Incremented',
      revision: 1n,
      actor,
      correlationId: 'corr-1',
      causationId: 'corr-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      data: { by: 3 },
    });
    expect(stored[1]?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });

  it('appends nothing when decide throws', async () => {
    const store = new InMemoryEventStore();
    await run(store, { kind: 'close' });
    await expect(run(store, { kind: 'increment', by: 1 })).rejects.toBeInstanceOf(PreconditionError);
    expect(await store.read(stream)).toHaveLength(1);
  });

  it('appends nothing when decide returns nothing', async () => {
    const store = new InMemoryEventStore();
    const appendSpy = jest.spyOn(store, 'append');
    const result = await run(store, { kind: 'noop' });
    expect(result).toEqual({ events: [], state: initialState, nextRevision: -1n, replayed: false });
    expect(appendSpy).not.toHaveBeenCalled();
  });

  it('re-reads and re-decides after losing a concurrency race', async () => {
    const store = new InMemoryEventStore();
    await run(store, { kind: 'increment', by: 1 });
    let raced = false;
    const racing: Pick<EventStore, 'read' | 'append'> = {
      read: (s, o) => store.read(s, o),
      append: async (s, expected, events) => {
        if (!raced) {
          raced = true;
          await run(store, { kind: 'increment', by: 10 }); // someone else wins
        }
        return store.append(s, expected, events);
      },
    };
    const result = await run(racing, { kind: 'increment', by: 100 });
    expect(result.state.total).toBe(111);
    expect(result.nextRevision).toBe(2n);
    expect((await store.read(stream)).map((e) => e.data['by'])).toEqual([1, 10, 100]);
  });

  it('gives up after three retries', async () => {
    const store = new InMemoryEventStore();
    const append = jest.fn(async () => {
      throw new ConcurrencyError(stream, 'no_stream', '0');
    });
    await expect(
      run({ read: (s) => store.read(s), append }, { kind: 'increment', by: 1 }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(append).toHaveBeenCalledTimes(4);
  });

  it('does not retry errors that are not retryable', async () => {
    const store = new InMemoryEventStore();
    const append = jest.fn(async () => {
      throw new UnavailableError('store down');
    });
    await expect(
      run({ read: (s) => store.read(s), append }, { kind: 'increment', by: 1 }),
    ).rejects.toBeInstanceOf(UnavailableError);
    expect(append).toHaveBeenCalledTimes(1);
  });
});

describe('handleCommand with an idempotent request', () => {
  const request: RequestRecord = { id: 'key-1', fingerprint: 'sha256:one' };

  it('stores the request with the events and answers a retry with the first result, appending nothing', async () => {
    const store = new InMemoryEventStore();
    const first = await run(store, { kind: 'increment', by: 2 }, { request });
    await run(store, { kind: 'increment', by: 5 }); // someone else's change after it
    const retry = await run(store, { kind: 'increment', by: 2 }, { request });
    expect(retry.replayed).toBe(true);
    expect(retry.state).toEqual(first.state); // the state the first attempt answered with
    expect(retry.nextRevision).toBe(0n);
    expect(retry.events.map((e) => e.id)).toEqual(first.events.map((e) => e.id));
    const stored = await store.read(stream);
    expect(stored.map((e) => e.request)).toEqual([request, undefined]);
  });

  it('answers a retry of a request that failed on decide by deciding again (nothing was stored)', async () => {
    const store = new InMemoryEventStore();
    await run(store, { kind: 'close' });
    await expect(run(store, { kind: 'increment', by: 1 }, { request })).rejects.toBeInstanceOf(
      PreconditionError,
    );
    await expect(run(store, { kind: 'increment', by: 1 }, { request })).rejects.toBeInstanceOf(
      PreconditionError,
    );
    expect(await store.read(stream)).toHaveLength(1);
  });

  it('refuses the same key with another fingerprint (RequestIdReusedError, INVALID_ARGUMENT on request_id)', async () => {
    const store = new InMemoryEventStore();
    await run(store, { kind: 'increment', by: 2 }, { request });
    const error = await run(
      store,
      { kind: 'increment', by: 3 },
      { request: { id: 'key-1', fingerprint: 'sha256:two' } },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestIdReusedError);
    expect((error as RequestIdReusedError).violations.map((v) => v.field)).toEqual(['request_id']);
    expect(await store.read(stream)).toHaveLength(1);
  });

  it('skips the guard on a replay and runs it on a fresh decision', async () => {
    const store = new InMemoryEventStore();
    const guard = jest.fn((s: CounterState) => {
      if (s.total > 0) throw new ConcurrencyError(stream, 'old', 'new');
    });
    await run(store, { kind: 'increment', by: 2 }, { request, guard });
    await expect(run(store, { kind: 'increment', by: 2 }, { request, guard })).resolves.toMatchObject({
      replayed: true,
    });
    await expect(run(store, { kind: 'increment', by: 1 }, { guard })).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(guard).toHaveBeenCalledTimes(2);
  });

  it('findReplay finds the first result, or nothing when the stream holds none of the request', async () => {
    const store = new InMemoryEventStore();
    const options = { store, stream, evolve, initialState, request };
    expect(await findReplay(options)).toBeUndefined();
    await run(store, { kind: 'increment', by: 4 }, { request });
    expect(await findReplay(options)).toMatchObject({ replayed: true, state: { total: 4 } });
    await expect(
      findReplay({ ...options, request: { id: 'key-1', fingerprint: 'sha256:other' } }),
    ).rejects.toBeInstanceOf(RequestIdReusedError);
  });
});

describe('handleCommand on a hot stream', () => {
  const concurrently = async (serialize: boolean) => {
    const store = new InMemoryEventStore();
    let conflicts = 0;
    const counting: Pick<EventStore, 'read' | 'append'> = {
      read: async (s, o) => {
        const events = await store.read(s, o);
        await new Promise((r) => setTimeout(r, 1)); // let the others read the same revision
        return events;
      },
      append: async (s, e, events) =>
        store.append(s, e, events).catch((error: unknown) => {
          if (error instanceof ConcurrencyError) conflicts += 1;
          throw error;
        }),
    };
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        handleCommand({
          store: counting,
          stream,
          decide,
          evolve,
          initialState,
          command: { kind: 'increment', by: 1 },
          metadata: { actor, correlationId: 'corr-1' },
          serialize,
          maxRetries: 10,
        }),
      ),
    );
    return { conflicts, ok: results.filter((r) => r.status === 'fulfilled').length, store };
  };

  it('takes turns in this process when serialized: no race lost, every command applied', async () => {
    const { conflicts, ok, store } = await concurrently(true);
    expect(conflicts).toBe(0);
    expect(ok).toBe(8);
    expect(await store.read(stream)).toHaveLength(8);
  });

  it('otherwise races, retrying after a pause (the race is real: conflicts happen)', async () => {
    const { conflicts, store } = await concurrently(false);
    expect(conflicts).toBeGreaterThan(0);
    expect((await store.read(stream)).length).toBeGreaterThan(0);
  });
});

describe('handleCommand when the caller gave up', () => {
  it('appends nothing once the signal is aborted (deadline or cancel)', async () => {
    const store = new InMemoryEventStore();
    const controller = new AbortController();
    controller.abort(new Error('deadline exceeded'));
    await expect(
      run(store, { kind: 'increment', by: 1 }, { signal: controller.signal }),
    ).rejects.toBeInstanceOf(CallAbortedError);
    expect(await store.read(stream)).toEqual([]);
  });

  it('appends nothing when the deadline passes while it reads', async () => {
    const inner = new InMemoryEventStore();
    const controller = new AbortController();
    const slow: Pick<EventStore, 'read' | 'append'> = {
      read: async (s, o) => {
        const events = await inner.read(s, o);
        controller.abort(new Error('deadline exceeded'));
        return events;
      },
      append: (s, e, events) => inner.append(s, e, events),
    };
    await expect(run(slow, { kind: 'increment', by: 1 }, { signal: controller.signal })).rejects.toThrow(
      /deadline exceeded/,
    );
    expect(await inner.read(stream)).toEqual([]);
  });
});

describe('handleCommand with snapshots', () => {
  const policy = (store = new InMemorySnapshotStore()): SnapshotPolicy<CounterState> => ({
    store,
    version: 'counter.v1',
    encode: (s) => s,
    decode: (raw) => raw as CounterState,
  });

  it('reads only the events after the snapshot, with its position as the hint', async () => {
    const store = new InMemoryEventStore();
    const snapshots = policy();
    for (let i = 0; i < 5; i++) await run(store, { kind: 'increment', by: 1 }, { snapshots });
    const read = jest.spyOn(store, 'read');
    const result = await run(store, { kind: 'increment', by: 1 }, { snapshots });
    expect(result.state.total).toBe(6);
    expect(read).toHaveBeenCalledTimes(1);
    const snapshot = await snapshots.store.load(stream);
    expect(read.mock.calls[0]?.[1]).toMatchObject({ fromRevision: 4n });
    expect(snapshot).toMatchObject({ revision: 5n, state: { total: 6, closed: false } });
  });

  it('ignores a snapshot that does not match the stream (another history) and reads it all', async () => {
    const store = new InMemoryEventStore();
    const snapshots = policy();
    await run(store, { kind: 'increment', by: 1 });
    await snapshots.store.save(stream, {
      version: 'counter.v1',
      revision: 0n,
      position: 1n,
      eventId: 'not-the-event',
      state: { total: 1000, closed: false },
      requests: [],
    });
    const result = await run(store, { kind: 'increment', by: 1 }, { snapshots });
    expect(result.state.total).toBe(2);
  });

  it('still recognises a request folded into a snapshot', async () => {
    const store = new InMemoryEventStore();
    const snapshots = policy();
    const request: RequestRecord = { id: 'key-9', fingerprint: 'sha256:nine' };
    await run(store, { kind: 'increment', by: 3 }, { snapshots, request });
    for (let i = 0; i < 3; i++) await run(store, { kind: 'increment', by: 1 }, { snapshots });
    const retry = await run(store, { kind: 'increment', by: 3 }, { snapshots, request });
    expect(retry).toMatchObject({ replayed: true, state: { total: 3 }, nextRevision: 0n });
    expect(await store.read(stream)).toHaveLength(4);
  });
});

describe('loadAggregate', () => {
  it('folds a stream and reports the expected revision and the last event', async () => {
    const store = new InMemoryEventStore();
    expect(await loadAggregate({ store, stream, evolve, initialState })).toEqual({
      state: initialState,
      expectedRevision: 'no_stream',
      eventCount: 0,
    });
    await run(store, { kind: 'increment', by: 4 });
    await run(store, { kind: 'close' });
    const closed = (await store.read(stream))[1];
    expect(await loadAggregate({ store, stream, evolve, initialState })).toEqual({
      state: { total: 4, closed: true },
      expectedRevision: 1n,
      eventCount: 2,
      last: closed,
    });
  });

  it('reports the last event after a snapshot, also when nothing follows it', async () => {
    const store = new InMemoryEventStore();
    const snapshots: SnapshotPolicy<CounterState> = {
      store: new InMemorySnapshotStore(),
      version: 'counter.v1',
      encode: (s) => s,
      decode: (raw) => raw as CounterState,
    };
    for (let i = 0; i < 5; i++) await run(store, { kind: 'increment', by: 1 }, { snapshots });
    const events = await store.read(stream);
    const read = jest.spyOn(store, 'read');
    const loaded = await loadAggregate({ store, stream, evolve, initialState, snapshots });
    expect(read.mock.calls[0]?.[1]).toMatchObject({ fromRevision: 4n });
    expect(loaded).toMatchObject({ state: { total: 5 }, expectedRevision: 4n, eventCount: 0 });
    expect(loaded.last).toEqual(events.at(-1));
  });
});

describe('commandMetadata', () => {
  it('turns a call context into envelope metadata, and refuses an anonymous call', () => {
    const principal = { kind: 'user' as const, id: 'u-1', role: 'clinician', scopes: [] };
    expect(commandMetadata({ principal, correlationId: 'c-1', traceparent: undefined })).toEqual({
      actor: { kind: 'user', id: 'u-1', role: 'clinician' },
      correlationId: 'c-1',
    });
    expect(() =>
      commandMetadata({ principal: undefined, correlationId: 'c-1', traceparent: undefined }),
    ).toThrow(UnauthenticatedError);
  });
});
