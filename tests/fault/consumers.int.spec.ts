/**
 * Fan-out under NATS faults, over real servers: nats-server, Janus, and the scheduling, session and audit
 * services as built child processes. A burst of bookings keeps the relays and consumers busy, then nats-server
 * is frozen for 20 s (SIGSTOP) or crashes (kill -9) and comes back on the same port and store directory.
 * Every service must report NOT_SERVING while it cannot follow the store, SERVING once it caught up again,
 * every booking of the burst must get its visit, and a booking made afterwards must open its visit and reach
 * the bus. (Before the fix, scheduling stayed SERVING with a dead relay and the session's booking consumer
 * stopped for good.)
 */
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import type { JetStreamEventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { eventually, healthStatus, type NatsServerHandle, stallProcess } from '@haven/testing';
import { startSkeletonStack, type SkeletonStack } from '../support/skeleton-stack';

jest.setTimeout(180_000);

const SERVING = 1;
const BURST = 30;
const STALL_MS = 20_000;

const issuer = createTestIssuer();
let nats: NatsServerHandle;
let skeleton: SkeletonStack;
/** The services' names and gRPC ports, in start order. */
const services: { name: string; port: number }[] = [];
let schedulingClient: scheduling.SchedulingServiceClient;
let store: JetStreamEventStore;
let nc: NatsConnection;
let frontDesk: string;
let slot = 0;

beforeAll(async () => {
  skeleton = await startSkeletonStack(issuer.jwks, 'fault-consumers-test');
  ({ store, scheduling: schedulingClient } = skeleton);
  nats = skeleton.stack.nats;
  for (const s of skeleton.stack.services.values()) services.push({ name: s.name, port: s.grpcPort! });
  nc = await connect({ ...nats.operator, name: 'fault-consumers-bus-reader', maxReconnectAttempts: -1 });
  frontDesk = await issuer.sign({ sub: 'u-frontdesk', role: 'front_desk' }, { expiresIn: '1h' });
  await skeleton.createPatient(frontDesk, 'pat-fault', { givenName: 'Fault', familyName: 'Tolerant' });
});

afterAll(async () => {
  await nc?.close();
  await skeleton?.stop();
});

/** Books one appointment (its own half-hour slot) and returns its id. */
async function book(): Promise<string> {
  const appointmentId = `apt-${randomUUID()}`;
  slot += 1;
  const start = new Date(Date.now() + 3600_000 + slot * 45 * 60_000);
  await callUnary(
    schedulingClient,
    'bookAppointment',
    scheduling.BookAppointmentRequest.fromPartial({
      appointmentId,
      appointment: {
        clinician: `users/clin-fault-${slot}`,
        patient: 'patients/pat-fault',
        startTime: start,
        endTime: new Date(start.getTime() + 30 * 60_000),
      },
    }),
    clientCallMetadata({ token: frontDesk }),
  );
  return appointmentId;
}

const health = async (): Promise<(number | undefined)[]> =>
  Promise.all(
    services.map((s) =>
      healthStatus(`127.0.0.1:${s.port}`, 1_000, '', skeleton.stack.pki.grpcCredentials('integration')),
    ),
  );

/** Polls every 250 ms (at most `ms`) until `probe` holds; returns how long it took. */
async function timeUntil(what: string, probe: () => Promise<boolean>, ms = 60_000): Promise<number> {
  const started = Date.now();
  await eventually(what, probe, { timeoutMs: ms, intervalMs: 250 });
  return Date.now() - started;
}

const visitOpened = async (appointmentId: string): Promise<boolean> =>
  (await store.read(`session.visit-${appointmentId}`)).some((e) => e.type === 'haven.session.v1.VisitOpened');

/** True when the bus's latest AppointmentBooked (read with a plain NATS client) is this appointment's. */
async function lastBookingOnBus(appointmentId: string): Promise<boolean> {
  const jsm = await nc.jetstreamManager();
  const m = await jsm.streams.getMessage('HAVEN_BUS', {
    last_by_subj: 'haven.bus.scheduling.appointment.AppointmentBooked',
  });
  return (
    (JSON.parse(new TextDecoder().decode(m.data)) as { data?: { appointmentId?: string } }).data
      ?.appointmentId === appointmentId
  );
}

/** Books a burst while every consumer is caught up, so relays and consumers are busy when the fault hits. */
async function busyBurst(): Promise<string[]> {
  await timeUntil('every service SERVING', async () => (await health()).every((s) => s === SERVING));
  return await Promise.all(Array.from({ length: BURST }, () => book()));
}

/** Polls health until `signal` aborts; returns, per service, whether it was seen NOT_SERVING (or not answering). */
async function watchHealth(signal: AbortSignal): Promise<boolean[]> {
  const started = Date.now();
  const firstSeen: (number | undefined)[] = services.map(() => undefined);
  while (!signal.aborted) {
    (await health()).forEach((s, i) => {
      if (s !== SERVING) firstSeen[i] ??= Date.now() - started;
    });
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stdout.write(
    `NOT_SERVING first seen after ${services.map((s, i) => `${s.name} ${firstSeen[i] ?? '-'} ms`).join(', ')}\n`,
  );
  return firstSeen.map((t) => t !== undefined);
}

/**
 * After the fault: every booking of the burst gets its visit, a new booking opens its visit and reaches the
 * bus, and every service is SERVING again. Prints how long each took after the fault ended.
 */
async function expectRecovered(burst: readonly string[], label: string): Promise<void> {
  const burstVisits = await timeUntil(`all ${burst.length} visits of the burst`, async () =>
    (await Promise.all(burst.map(visitOpened))).every(Boolean),
  );
  // The first calls after the fault may still meet a NATS connection that is reconnecting: UNAVAILABLE, which a
  // gRPC client retries. The booking must be accepted within the bound, and its visit and bus event follow.
  let tries = 0;
  const after = await eventually(
    'a booking accepted after the fault',
    () => {
      tries += 1;
      return book();
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  const visitAfter = await timeUntil('the visit of a booking made afterwards', () => visitOpened(after));
  const busAfter = await timeUntil('the booking made afterwards on the bus', () => lastBookingOnBus(after));
  const serving = await timeUntil('every service SERVING again', async () =>
    (await health()).every((s) => s === SERVING),
  );
  process.stdout.write(
    `${label}: burst visits complete ${burstVisits} ms after the fault ended; a new booking (${tries} tries): visit ${visitAfter} ms, ` +
      `on the bus ${busAfter} ms; every service SERVING ${serving} ms after that\n`,
  );
}

describe('fan-out under NATS faults', () => {
  it('rides out nats-server frozen for 20 s (SIGSTOP): NOT_SERVING meanwhile, then everything catches up', async () => {
    const burst = await busyBurst();
    const seenNotServing = await stallProcess(nats.pid, STALL_MS, watchHealth);
    await expectRecovered(burst, 'SIGSTOP 20 s');
    expect(Object.fromEntries(services.map((s, i) => [s.name, seenNotServing[i]]))).toEqual({
      scheduling: true,
      session: true,
      audit: true,
    });
  });

  it('rides out nats-server killed with -9 and restarted on the same port and store', async () => {
    const burst = await busyBurst();
    await nats.down({ signal: 'SIGKILL' });
    const over = new AbortController();
    const watching = watchHealth(over.signal);
    await new Promise((r) => setTimeout(r, 8_000));
    await nats.up();
    over.abort();
    const seenNotServing = await watching;
    await expectRecovered(burst, 'kill -9 + restart');
    expect(Object.fromEntries(services.map((s, i) => [s.name, seenNotServing[i]]))).toEqual({
      scheduling: true,
      session: true,
      audit: true,
    });
  });
});
