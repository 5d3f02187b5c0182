import { headers as natsHeaders, type NatsConnection } from 'nats';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { ConcurrencyError, UnavailableError } from '@haven/errors';
import { natsSuite, startNatsServer } from '@haven/testing';
import { encodeEnvelope } from './codec';
import { streamName } from './ids';
import { EVENT_STORE_STREAM, JetStreamEventStore, subjectOf } from './jetstream';
import { StreamNotProvisionedError } from './nats-streams';
import { testEvent, testEventStore, uniqueContext } from './testing';

const nats = natsSuite();

// The contract suite appends to made-up contexts: as the operator (the service permissions have their own suite).
testEventStore('jetstream', async () => {
  const store = await JetStreamEventStore.connect({ ...nats.server.operator, name: 'contract' });
  return { store, teardown: () => store.close() };
});

describe('JetStreamEventStore specifics', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await nats.server.connect();
  });
  afterAll(async () => {
    await nc?.drain();
  });

  it('stays idempotent after the server dedup window has passed', async () => {
    // Its own server, provisioned with a short dedup window (the store learns it from the stream).
    const windowMs = 300;
    const own = await startNatsServer({ provision: { duplicateWindowMs: windowMs } });
    const ownNc = await own.connect();
    try {
      const store = await JetStreamEventStore.create(ownNc);
      const ctx = uniqueContext('dd');
      const s = streamName({ context: ctx, aggregate: 'thing', id: 'one' });
      const batch = [testEvent('A'), testEvent('B')];
      const first = await store.append(s, 'no_stream', batch);

      // Wait until the server provably forgot message ids of that age: a probe id published after our
      // batch is accepted again (not reported duplicate) once the window has expired.
      const js = ownNc.jetstream();
      const probeSubject = `haven.es.${ctx}.probe.p`;
      const probe = await js.publish(probeSubject, new Uint8Array(), { msgID: 'probe' });
      expect(probe.duplicate).toBe(false);
      let forgotten = false;
      for (let i = 0; i < 100 && !forgotten; i += 1) {
        await new Promise((r) => setTimeout(r, windowMs / 4));
        forgotten = !(await js.publish(probeSubject, new Uint8Array(), { msgID: 'probe' })).duplicate;
      }
      expect(forgotten).toBe(true);

      // A second store instance (no tail cache) retries the whole batch, then a half of it.
      const other = await JetStreamEventStore.create(ownNc);
      expect(await other.append(s, 'no_stream', batch)).toEqual(first);
      expect(await other.append(s, 'any', batch)).toEqual(first);
      expect(await other.append(s, 0n, [batch[1]!])).toEqual(first);
      expect((await other.read(s)).map((e) => e.id)).toEqual(batch.map((e) => e.id));
      const jsm = await ownNc.jetstreamManager();
      const onSubject = await jsm.streams.info(EVENT_STORE_STREAM, { subjects_filter: subjectOf(s) });
      expect(onSubject.state.subjects).toEqual({ [subjectOf(s)]: 2 });
      const probes = await jsm.streams.info(EVENT_STORE_STREAM, { subjects_filter: probeSubject });
      expect(probes.state.subjects).toEqual({ [probeSubject]: 2 }); // the window really expired for the server
      expect((await jsm.streams.info(EVENT_STORE_STREAM)).config.duplicate_window).toBe(windowMs * 1_000_000);
    } finally {
      await ownNc.drain();
      await own.stop();
    }
  });

  it('detects a writer from another process even when its own tail cache is stale', async () => {
    const a = await JetStreamEventStore.create(nc);
    const b = await JetStreamEventStore.create(nc);
    const s = streamName({ context: uniqueContext('cc'), aggregate: 'thing', id: 'x' });
    await a.append(s, 'no_stream', [testEvent('A')]); // a caches revision 0
    await b.append(s, 0n, [testEvent('B')]);
    await expect(a.append(s, 0n, [testEvent('C')])).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await a.append(s, 1n, [testEvent('D')])).nextRevision).toBe(2n);
  });

  it('an `any` append after another writer lands behind it, from a stale cached tail, in one read', async () => {
    const own = await nats.server.connect();
    const a = await JetStreamEventStore.create(own);
    const b = await JetStreamEventStore.create(nc);
    const s = streamName({ context: uniqueContext('anyc'), aggregate: 'thing', id: 'x' });
    await a.append(s, 'any', [testEvent('A')]); // a caches revision 0
    await b.append(s, 'any', [testEvent('B')]);
    await b.append(s, 'any', [testEvent('C')]);
    // a's cache says revision 0: the server refuses that expected sequence, a reads the tail and appends after C
    // (the refused publish, one tail read, the publish: no search for the batch, whose ids are fresh).
    const before = own.stats().outMsgs;
    expect((await a.append(s, 'any', [testEvent('D')])).nextRevision).toBe(3n);
    expect(own.stats().outMsgs - before).toBe(3);
    expect((await a.append(s, 'any', [testEvent('E')])).nextRevision).toBe(4n);
    await own.close();
    expect((await b.read(s)).map((e) => [e.type.split('.').pop(), e.revision])).toEqual([
      ['A', 0n],
      ['B', 1n],
      ['C', 2n],
      ['D', 3n],
      ['E', 4n],
    ]);
  });

  it('an `any` append to a stream it wrote reads no tail: one request per event', async () => {
    const own = await nats.server.connect();
    try {
      const store = await JetStreamEventStore.create(own);
      const s = streamName({ context: uniqueContext('anyr'), aggregate: 'thing', id: 'x' });
      await store.append(s, 'any', [testEvent('A')]);
      const before = own.stats().outMsgs;
      await store.append(s, 'any', [testEvent('B')]);
      await store.append(s, 'any', [testEvent('C'), testEvent('D')]);
      expect(own.stats().outMsgs - before).toBe(3); // three publishes, no STREAM.MSG.GET
      expect((await store.read(s)).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
    } finally {
      await own.close();
    }
  });

  it('lets exactly one of two concurrent writers at the same revision win', async () => {
    const a = await JetStreamEventStore.create(nc);
    const b = await JetStreamEventStore.create(nc);
    const s = streamName({ context: uniqueContext('race'), aggregate: 'thing', id: 'x' });
    await a.append(s, 'no_stream', [testEvent('A')]);
    const results = await Promise.allSettled([
      a.append(s, 0n, [testEvent('B1'), testEvent('B2')]),
      b.append(s, 0n, [testEvent('C1'), testEvent('C2')]),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(ConcurrencyError);
    const types = (await a.read(s)).map((e) => e.type.split('.').pop());
    expect(types).toHaveLength(3);
    expect([
      ['A', 'B1', 'B2'],
      ['A', 'C1', 'C2'],
    ]).toContainEqual(types);
  });

  it('the server itself refuses to purge the stream or delete a message', async () => {
    const store = await JetStreamEventStore.create(nc);
    const s = streamName({ context: uniqueContext('deny'), aggregate: 'thing', id: 'x' });
    await store.append(s, 'no_stream', [testEvent('A')]);
    const jsm = await nc.jetstreamManager();
    const name = EVENT_STORE_STREAM;
    const seq = (await jsm.streams.getMessage(name, { last_by_subj: subjectOf(s) })).seq;
    await expect(jsm.streams.purge(name)).rejects.toThrow(/purge/i);
    await expect(jsm.streams.purge(name, { filter: subjectOf(s) })).rejects.toThrow(/purge/i);
    await expect(jsm.streams.deleteMessage(name, seq)).rejects.toThrow(/delete/i);
    await expect(jsm.streams.deleteMessage(name, seq, false)).rejects.toThrow(/delete/i);
    const info = await jsm.streams.info(name);
    expect(info.config.deny_delete).toBe(true);
    expect(info.config.deny_purge).toBe(true);
    expect((await jsm.streams.getMessage(name, { seq })).subject).toBe(subjectOf(s));
    expect((await store.read(s)).map((e) => e.type)).toEqual(['haven.test.v1.A']);
  });

  it('stores envelope metadata in headers and the active trace in the envelope', async () => {
    const store = await JetStreamEventStore.create(nc);
    const s = streamName({ context: uniqueContext('hd'), aggregate: 'thing', id: 'x' });
    const e = testEvent('A');
    await store.append(s, 'no_stream', [e]);
    const jsm = await nc.jetstreamManager();
    const m = await jsm.streams.getMessage(EVENT_STORE_STREAM, { last_by_subj: subjectOf(s) });
    expect(m.header.get('Nats-Msg-Id')).toBe(e.id);
    expect(m.header.get('Haven-Revision')).toBe('0');
    expect((JSON.parse(new TextDecoder().decode(m.data)) as { revision: unknown }).revision).toBe('0');

    // With an active span and no traceparent on the event, the envelope carries the span's trace.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new TracerProvider());
    const traced = testEvent('B');
    const traceId = await trace.getTracer('test').startActiveSpan('caller', async (span) => {
      await store.append(s, 0n, [traced]);
      span.end();
      return span.spanContext().traceId;
    });
    const [, read] = await store.read(s);
    expect(read!.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(m.header.get('traceparent')).toBe('');
  });

  it('maps a closed connection to UnavailableError', async () => {
    const own = await nats.server.connect();
    const store = await JetStreamEventStore.create(own);
    await own.close();
    const s = streamName({ context: uniqueContext('down'), aggregate: 'thing', id: 'x' });
    await expect(store.append(s, 'any', [testEvent('A')])).rejects.toBeInstanceOf(UnavailableError);
    await expect(
      JetStreamEventStore.connect({ servers: 'nats://127.0.0.1:1', retryForMs: 0 }),
    ).rejects.toBeInstanceOf(UnavailableError);
  });

  it('skips (and reports) a stored body that is not an event or names a stream other than its subject', async () => {
    const warnings: string[] = [];
    const store = await JetStreamEventStore.create(nc, { onWarning: (w) => warnings.push(w) });
    const ctx = uniqueContext('forge');
    const s = streamName({ context: ctx, aggregate: 'thing', id: 'x' });
    const other = streamName({ context: uniqueContext('victim'), aggregate: 'thing', id: 'y' });
    const js = nc.jetstream();
    // Garbage, then a well-formed envelope of another stream, both on this stream's subject.
    const revision = (n: number) => {
      const h = natsHeaders();
      h.set('Haven-Revision', String(n));
      return { headers: h };
    };
    await js.publish(subjectOf(s), new TextEncoder().encode('not json'), revision(0));
    const forged = { ...testEvent('Forged'), stream: other, revision: 1n };
    await js.publish(subjectOf(s), encodeEnvelope(forged), revision(1));
    await store.append(s, 'any', [testEvent('Real')]);
    const seen: string[] = [];
    const sub = await store.subscribe({
      from: 'start',
      contexts: [ctx],
      handler: async (e) => void seen.push(e.type),
    });
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await sub.close();
    expect(seen).toEqual(['haven.test.v1.Real']);
    expect((await store.read(s)).map((e) => e.type)).toEqual(['haven.test.v1.Real']);
    expect(warnings.join('\n')).toMatch(/is not an event: skipped/);
    expect(warnings.join('\n')).toMatch(/names another stream: skipped/);
    expect(warnings.join('\n')).not.toContain(forged.id);
  });

  it('refuses to append or read when HAVEN_ES is missing, and names each guarantee it lost', async () => {
    const bare = await startNatsServer({ provision: false });
    const c = await bare.connect();
    try {
      const warnings: string[] = [];
      const store = await JetStreamEventStore.create(c, { onWarning: (w) => warnings.push(w) });
      const s = streamName({ context: uniqueContext('np'), aggregate: 'thing', id: 'x' });
      const missing = await store.append(s, 'any', [testEvent('A')]).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(StreamNotProvisionedError);
      expect(String(missing)).toMatch(/HAVEN_ES: the event store does not exist/);
      await expect(store.read(s)).rejects.toBeInstanceOf(StreamNotProvisionedError);
      expect(warnings).toEqual([]);
      // Created by hand without deny-purge and with a message limit: each lost guarantee is named (the audit
      // service's store watch raises the integrity event; the store keeps serving).
      const jsm = await c.jetstreamManager();
      await jsm.streams.add({
        name: EVENT_STORE_STREAM,
        subjects: ['haven.es.>'],
        deny_delete: true,
        max_msgs: 60,
      });
      await store.append(s, 'any', [testEvent('A')]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /HAVEN_ES: .*max_msgs is 60, expected -1.*deny_purge is false, expected true/,
      );
      expect(warnings[0]).toMatch(/operator/);
    } finally {
      await c.drain();
      await bare.stop();
    }
  });
});
