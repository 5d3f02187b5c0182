import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { JetStreamEventStore, newEvent, type EventEnvelope } from '@haven/eventstore';
import { eventually, type NatsServerHandle, startNatsServer } from '@haven/testing';
import { BUS_STREAM, EventBus } from './bus';
import { startRelay } from './relay';

/** These waits poll every 10 ms: a short-lived state must not slip between two looks. */
const POLL = { intervalMs: 10 };

jest.setTimeout(30_000);

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(
  new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })] }),
);

let server: NatsServerHandle;
let nc: NatsConnection;
let store: JetStreamEventStore;
beforeAll(async () => {
  server = await startNatsServer();
  // The relay publishes and keeps its checkpoint as the scheduling service's own NATS user (its permissions
  // apply); the test appends events of several contexts as the operator.
  nc = await server.connect('scheduling');
  store = await JetStreamEventStore.connect({ ...server.operator, name: 'relay-test' });
});
afterAll(async () => {
  await store?.close();
  await nc?.drain();
  await server?.stop();
});

const traceId = randomBytes(16).toString('hex');
const booked = (n: number) =>
  newEvent({
    type: 'haven.scheduling.v1.AppointmentBooked',
    data: { appointmentId: `apt-${n}` },
    actor: { kind: 'service', id: 'test' },
    traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
  });

describe('the store-to-bus relay', () => {
  it('publishes each event of its context once, in order, resuming from its checkpoint after a restart', async () => {
    const bus = await EventBus.create(nc);
    for (let n = 1; n <= 3; n++) await store.append(`scheduling.appointment-r${n}`, 'no_stream', [booked(n)]);
    await store.append('scheduling.secret-s1', 'no_stream', [booked(99)]);
    await store.append('session.visit-other', 'no_stream', [
      newEvent({ type: 'haven.session.v1.VisitOpened', data: {}, actor: { kind: 'service', id: 'test' } }),
    ]);

    const got: { event: EventEnvelope; traceparent: string | undefined }[] = [];
    const sub = await bus.subscribe({
      durable: 'relay-test',
      subjects: ['haven.bus.scheduling.>'],
      handler: async (event, ctx) => {
        got.push({ event, traceparent: ctx.span.spanContext().traceId });
      },
    });

    let relay = await startRelay({ store, bus, context: 'scheduling', excludeAggregates: ['secret'] });
    await eventually('three relayed events', () => got.length === 3, POLL);
    await relay.close();
    expect(got.map((g) => g.event.data['appointmentId'])).toEqual(['apt-1', 'apt-2', 'apt-3']);
    // The consumer's span continues the trace of the request that appended the event.
    expect(got.every((g) => g.traceparent === traceId)).toBe(true);

    await store.append('scheduling.appointment-r4', 'no_stream', [booked(4)]);
    relay = await startRelay({ store, bus, context: 'scheduling', excludeAggregates: ['secret'] });
    await eventually('the fourth event', () => got.length === 4, POLL);
    await relay.close();
    const info = await (await nc.jetstreamManager()).streams.info(BUS_STREAM);
    expect(info.state.messages).toBe(4);
    expect(got.map((g) => g.event.data['appointmentId'])).toEqual(['apt-1', 'apt-2', 'apt-3', 'apt-4']);
    await sub.close();
  });
});

describe('per-instance consumers', () => {
  it('can start at new events only, and carry an inactivity threshold so the server removes them', async () => {
    const bus = await EventBus.create(nc);
    const jsm = await nc.jetstreamManager();
    const before = (await jsm.streams.info(BUS_STREAM)).state.messages;
    await store.append('scheduling.appointment-old-1', 'no_stream', [booked(101)]);
    const relay = await startRelay({ store, bus, context: 'scheduling' });
    // The old event is on the bus before the live consumer exists.
    for (let i = 0; i < 500 && (await jsm.streams.info(BUS_STREAM)).state.messages === before; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await jsm.streams.info(BUS_STREAM)).state.messages).toBe(before + 1);
    const got: string[] = [];
    const sub = await bus.subscribe({
      durable: 'live-view-1',
      subjects: ['haven.bus.scheduling.>'],
      deliver: 'new',
      inactiveThresholdMs: 60_000,
      handler: async (event) => {
        got.push(String(event.data['appointmentId']));
      },
    });
    await store.append('scheduling.appointment-new-1', 'no_stream', [booked(102)]);
    await eventually('the new event', () => got.includes('apt-102'), POLL);
    expect(got).not.toContain('apt-101');
    const info = await jsm.consumers.info(BUS_STREAM, 'live-view-1');
    expect(info.config.inactive_threshold).toBe(60_000 * 1_000_000);
    await sub.close();
    await relay.close();
  });
});
