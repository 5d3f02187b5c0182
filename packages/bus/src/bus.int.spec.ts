import { headers as natsHeaders } from 'nats';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  ConsumerHealth,
  StreamNotProvisionedError,
  encodeEnvelope,
  newEvent,
  streamName,
  type EventEnvelope,
} from '@haven/eventstore';
import { captureLogs } from '@haven/service/testing';
import { eventually, natsSuite, startNatsServer } from '@haven/testing';
import { EventBus, busSubject, type BusLogger } from './bus';

jest.setTimeout(30_000);

/** These waits poll every 10 ms: a short-lived state must not slip between two looks. */
const POLL = { intervalMs: 10 };

const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(
  new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }),
);

// The operator: these tests publish events of made-up contexts.
const nats = natsSuite();

let n = 0;
function envelope(ctx: string, name: string, data: Record<string, unknown> = {}): EventEnvelope {
  n += 1;
  const e = newEvent({ type: `haven.${ctx}.v1.${name}`, data, actor: { kind: 'service', id: 'test' } });
  return { ...e, stream: streamName({ context: ctx, aggregate: 'thing', id: `t${n}` }), revision: 0n };
}

function recordingLogger(): BusLogger & { lines: { level: string; obj: object; msg: string }[] } {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
}

describe('EventBus', () => {
  it('round-trips an event on haven.bus.<context>.<aggregate>.<EventName>', async () => {
    const bus = await EventBus.create(nats.nc);
    const got: { event: EventEnvelope; subject: string }[] = [];
    const sub = await bus.subscribe({
      durable: 'rt',
      subjects: ['haven.bus.rt.>'],
      handler: async (event, ctx) => void got.push({ event, subject: ctx.subject }),
    });
    const e = {
      ...envelope('rt', 'ThingHappened', { a: 1 }),
      phi: { subject: 'p', keyId: 'k', ciphertext: 'c' },
    };
    await bus.publish(e);
    await eventually('delivery', () => got.length === 1, POLL);
    expect(got[0]!.subject).toBe('haven.bus.rt.thing.ThingHappened');
    expect(got[0]!.event).toEqual(e);
    await sub.close();
    await bus.close();
  });

  it('delivers a duplicate publish once (server dedup and consumer dedup)', async () => {
    const bus = await EventBus.create(nats.nc);
    const got: string[] = [];
    const sub = await bus.subscribe({
      durable: 'dup',
      subjects: ['haven.bus.dup.>'],
      handler: async (e) => void got.push(e.id),
    });
    const e = envelope('dup', 'Once');
    await bus.publish(e);
    await bus.publish(e); // same Nats-Msg-Id: dropped by the server
    // Same event under another message id: only the consumer-side dedup can catch it.
    const h = natsHeaders();
    await nats.nc.jetstream().publish(busSubject(e), encodeEnvelope(e), { msgID: 'other-id', headers: h });
    const sentinel = envelope('dup', 'Sentinel');
    await bus.publish(sentinel);
    await eventually('sentinel', () => got.includes(sentinel.id), POLL);
    expect(got).toEqual([e.id, sentinel.id]);
    await sub.close();
    await bus.close();
  });

  it('redelivers after a handler error and then acks', async () => {
    const logger = recordingLogger();
    const bus = await EventBus.create(nats.nc, { logger });
    const attempts: number[] = [];
    const sub = await bus.subscribe({
      durable: 'retry',
      subjects: ['haven.bus.retry.>'],
      nakDelayMs: 20,
      handler: async (_e, ctx) => {
        attempts.push(ctx.deliveryCount);
        if (attempts.length < 3) throw new Error('transient');
      },
    });
    await bus.publish(envelope('retry', 'Flaky'));
    await eventually('three attempts', () => attempts.length === 3, POLL);
    expect(attempts).toEqual([1, 2, 3]);
    await sub.close();
    const info = await (await nats.nc.jetstreamManager()).consumers.info('HAVEN_BUS', 'retry');
    expect(info.num_ack_pending).toBe(0);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
    await bus.close();
  });

  it('quarantines an event after bounded redeliveries and moves on', async () => {
    const logger = recordingLogger();
    const bus = await EventBus.create(nats.nc, { logger });
    const seen: string[] = [];
    const sub = await bus.subscribe({
      durable: 'dead',
      subjects: ['haven.bus.dead.>'],
      nakDelayMs: 10,
      maxDeliver: 2,
      handler: async (e) => {
        seen.push(e.type);
        if (e.type.endsWith('Poison')) throw new Error('always');
      },
    });
    await bus.publish(envelope('dead', 'Poison'));
    const next = envelope('dead', 'Fine');
    await bus.publish(next);
    await eventually('quarantine log', () => logger.lines.some((l) => l.level === 'error'), POLL);
    await eventually('next event', () => seen.includes(next.type), POLL);
    expect(seen.filter((t) => t.endsWith('Poison'))).toHaveLength(2);
    const line = logger.lines.find((l) => l.level === 'error')!;
    expect(line.obj).toMatchObject({ subject: 'haven.bus.dead.thing.Poison', deliveries: 2 });
    await sub.close();
    await bus.close();
  });

  it('quarantines a malformed message without logging its body and processes the next one', async () => {
    // The services' own logger, with its PHI redaction: the log still says what was wrong.
    const logs = captureLogs('bus');
    const bus = await EventBus.create(nats.nc, { logger: logs.logger });
    const got: string[] = [];
    const sub = await bus.subscribe({
      durable: 'bad',
      subjects: ['haven.bus.bad.>'],
      handler: async (e) => void got.push(e.type),
    });
    await bus.publish(envelope('bad', 'Before')); // creates the stream
    const js = nats.nc.jetstream();
    await js.publish('haven.bus.bad.thing.Broken', new TextEncoder().encode('{not json SECRET-PHI'));
    await js.publish(
      'haven.bus.bad.thing.Partial',
      new TextEncoder().encode(JSON.stringify({ id: 'x', note: 'SECRET-PHI' })),
    );
    await bus.publish(envelope('bad', 'After'));
    await eventually('good events', () => got.length === 2, POLL);
    expect(got).toEqual(['haven.bad.v1.Before', 'haven.bad.v1.After']);
    const warns = logs.records('bus: quarantined a malformed message');
    expect(warns.map((w) => w['subject'])).toEqual([
      'haven.bus.bad.thing.Broken',
      'haven.bus.bad.thing.Partial',
    ]);
    expect(warns[0]!['problems']).toEqual(['body: not JSON']);
    expect(warns[1]!['problems']).toEqual(expect.arrayContaining(['type: required string']));
    expect(logs.text()).not.toContain('SECRET-PHI');
    await sub.close();
    const info = await (await nats.nc.jetstreamManager()).consumers.info('HAVEN_BUS', 'bad');
    expect(info.num_ack_pending).toBe(0);
    await bus.close();
  });

  it("runs the handler in a consumer span that is a child of the publisher's trace", async () => {
    exporter.reset();
    const bus = await EventBus.create(nats.nc);
    let handlerTraceId: string | undefined;
    const sub = await bus.subscribe({
      durable: 'trace',
      subjects: ['haven.bus.tr.>'],
      handler: async () => {
        handlerTraceId = trace.getActiveSpan()?.spanContext().traceId;
      },
    });
    const publisherTraceId = await trace.getTracer('test').startActiveSpan('request', async (span) => {
      await bus.publish(envelope('tr', 'Traced'));
      span.end();
      return span.spanContext().traceId;
    });
    await eventually('handler', () => handlerTraceId !== undefined, POLL);
    await sub.close();
    await eventually(
      'consume span',
      () => exporter.getFinishedSpans().some((s) => s.name === 'haven.bus.consume'),
      POLL,
    );
    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.name === 'haven.bus.publish')!;
    const consume = spans.find((s) => s.name === 'haven.bus.consume')!;
    expect(handlerTraceId).toBe(publisherTraceId);
    expect(consume.spanContext().traceId).toBe(publisherTraceId);
    expect(consume.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    await bus.close();
  });

  it('resumes a durable subscription after close and reconnect without redelivering handled events', async () => {
    const first = await EventBus.connect({ ...nats.server.operator, name: 'durable-1' });
    const got1: string[] = [];
    const sub1 = await first.subscribe({
      durable: 'resume',
      subjects: ['haven.bus.res.>'],
      handler: async (e) => void got1.push(e.type),
    });
    await first.publish(envelope('res', 'One'));
    await eventually('first', () => got1.length === 1, POLL);
    await sub1.close();
    await first.close();

    const publisher = await EventBus.create(nats.nc);
    await publisher.publish(envelope('res', 'Two'));
    await publisher.publish(envelope('res', 'Three'));

    const second = await EventBus.connect({ ...nats.server.operator, name: 'durable-2' });
    const got2: string[] = [];
    const sub2 = await second.subscribe({
      durable: 'resume',
      subjects: ['haven.bus.res.>'],
      handler: async (e) => void got2.push(e.type),
    });
    await eventually('resumed', () => got2.length === 2, POLL);
    await publisher.publish(envelope('res', 'Four'));
    await eventually('live', () => got2.length === 3, POLL);
    expect(got1).toEqual(['haven.res.v1.One']);
    expect(got2).toEqual(['haven.res.v1.Two', 'haven.res.v1.Three', 'haven.res.v1.Four']);
    await sub2.close();
    await second.close();
    await publisher.close();
  });

  it('creates its consumer again when it is deleted on the server and resumes after the last acknowledged event, handing nothing to the handler twice', async () => {
    const logger = recordingLogger();
    const bus = await EventBus.create(nats.nc, { logger });
    const health = new ConsumerHealth();
    // Not idempotent: counts every call per event id.
    const calls = new Map<string, number>();
    const sub = await bus.subscribe({
      durable: 'deleted',
      name: 'test.deleted',
      health,
      checkIntervalMs: 200,
      subjects: ['haven.bus.del.>'],
      handler: async (e) => void calls.set(e.id, (calls.get(e.id) ?? 0) + 1),
    });
    const before = [envelope('del', 'One'), envelope('del', 'Two'), envelope('del', 'Three')];
    for (const e of before) await bus.publish(e);
    await eventually('the first three', () => calls.size === 3, POLL);
    // Someone deletes the durable consumer with a plain client (an operator's mistake, a lost server state).
    const jsm = await nats.nc.jetstreamManager();
    expect(await jsm.consumers.delete('HAVEN_BUS', 'deleted')).toBe(true);
    const after = [envelope('del', 'Four'), envelope('del', 'Five')];
    for (const e of after) await bus.publish(e);
    await eventually('the two published after the deletion', () => calls.size === 5, POLL);
    await eventually('live again', () => health.ready, POLL);
    // Recreated after the last acknowledged event: not from the start of the stream.
    const info = await jsm.consumers.info('HAVEN_BUS', 'deleted');
    expect(info.config.deliver_policy).toBe('by_start_sequence');
    expect([...calls.values()]).toEqual([1, 1, 1, 1, 1]);
    expect([...calls.keys()]).toEqual([...before, ...after].map((e) => e.id));
    expect(logger.lines.map((l) => l.msg)).toContain(
      'bus: the consumer was missing on the server; created it again after the last acknowledged event',
    );
    await sub.close();
    await bus.close();
  });

  it('turns live under steady load once it has handled everything that was there at the last check', async () => {
    // A service restarted under load: events keep arriving as fast as it handles them, so some event is always
    // in flight when the health check looks (num_ack_pending >= 1). Caught up means "reached where the stream
    // ended at the previous check", not "saw an empty queue", which may never happen while clinics are busy.
    const bus = await EventBus.create(nats.nc);
    const health = new ConsumerHealth();
    const published: string[] = [];
    const handled: string[] = [];
    let running = true;
    // A backlog is waiting when the service starts.
    const backlog = Array.from({ length: 20 }, () => envelope('steady', 'Busy'));
    for (const e of backlog) {
      await bus.publish(e);
      published.push(e.id);
    }
    // Each handler call waits until the next event was published: one event is in flight at every moment.
    const sub = await bus.subscribe({
      durable: 'steady',
      name: 'test.steady',
      health,
      checkIntervalMs: 150,
      subjects: ['haven.bus.steady.>'],
      handler: async (e) => {
        const at = published.indexOf(e.id);
        await eventually('the next event', () => !running || published.length > at + 1, {
          ...POLL,
          timeoutMs: 5_000,
        });
        handled.push(e.id);
      },
    });
    const ready = (async () => {
      try {
        await eventually('live under load', () => health.ready, { ...POLL, timeoutMs: 4_000 });
        return true;
      } catch {
        return false;
      }
    })();
    let becameReady: boolean | undefined;
    void ready.then((r) => (becameReady = r));
    for (let i = 0; i < 200 && becameReady === undefined; i++) {
      const e = envelope('steady', 'Busy');
      await bus.publish(e);
      published.push(e.id);
      await new Promise((r) => setTimeout(r, 20));
    }
    running = false;
    expect(await ready).toBe(true);
    // It was a real steady state: the handler kept up with the publisher and never saw an empty queue.
    expect(handled.length).toBeGreaterThan(backlog.length);
    await sub.close();
    await bus.close();
  });

  it('close() waits for in-flight handlers', async () => {
    const bus = await EventBus.create(nats.nc);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    let finished = false;
    const sub = await bus.subscribe({
      durable: 'drain',
      subjects: ['haven.bus.drain.>'],
      handler: async () => {
        started = true;
        await gate;
        finished = true;
      },
    });
    await bus.publish(envelope('drain', 'Slow'));
    await eventually('handler start', () => started, POLL);
    const closing = bus.close();
    setTimeout(release, 50);
    await closing;
    expect(finished).toBe(true);
    const info = await (await nats.nc.jetstreamManager()).consumers.info('HAVEN_BUS', 'drain');
    expect(info.num_ack_pending).toBe(0);
    void sub;
  });
});

describe('streams provisioned by the operator', () => {
  it('refuses to publish or keep checkpoints when HAVEN_BUS or the bucket is missing, and says which', async () => {
    const bare = await startNatsServer({ provision: false });
    const c = await bare.connect();
    try {
      const bus = await EventBus.create(c);
      const publish = await bus.publish(envelope('rep', 'Made')).catch((e: unknown) => e);
      expect(publish).toBeInstanceOf(StreamNotProvisionedError);
      expect(String(publish)).toMatch(/HAVEN_BUS: the event bus does not exist.*operator/);
      const checkpoints = await bus.checkpoints().catch((e: unknown) => e);
      expect(checkpoints).toBeInstanceOf(StreamNotProvisionedError);
      expect(String(checkpoints)).toMatch(/KV_haven_checkpoints/);
      // Nothing was created behind the operator's back.
      const jsm = await c.jetstreamManager();
      expect(await jsm.streams.names().next()).toEqual([]);
    } finally {
      await c.drain();
      await bare.stop();
    }
  });
});
