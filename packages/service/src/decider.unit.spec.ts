import { ConcurrencyError, PreconditionError, UnauthenticatedError, UnavailableError } from '@haven/errors';
import { InMemoryEventStore } from '@haven/eventstore';
import type { Actor, EventStore } from '@haven/eventstore';
import { handleCommand, loadAggregate } from './decider';
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

function run(store: Pick<EventStore, 'read' | 'append'>, command: CounterCommand) {
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
    },
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
    expect(result).toEqual({ events: [], state: initialState, nextRevision: -1n });
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

describe('loadAggregate', () => {
  it('folds a stream and reports the expected revision', async () => {
    const store = new InMemoryEventStore();
    expect(await loadAggregate({ store, stream, evolve, initialState })).toEqual({
      state: initialState,
      expectedRevision: 'no_stream',
      eventCount: 0,
    });
    await run(store, { kind: 'increment', by: 4 });
    await run(store, { kind: 'close' });
    expect(await loadAggregate({ store, stream, evolve, initialState })).toEqual({
      state: { total: 4, closed: true },
      expectedRevision: 1n,
      eventCount: 2,
    });
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
