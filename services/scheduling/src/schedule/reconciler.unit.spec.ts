/**
 * The booking reconciler over the in-memory store: whatever a dead handler left between a booking's two
 * appends is finished from the stored facts, as the booker, once it has stayed unfinished for the settle time.
 */
import { InMemoryPatientKeyStore } from '@haven/crypto/testing';
import { InMemoryEventStore, InMemorySnapshotStore, newEvent, type NewEvent } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import type { SchedulingDeps } from '../deps';
import type { PatientTokenSigner } from '../link/patient-token';
import { SchedulingReadModel } from '../read-model';
import { BookingReconciler } from './reconciler';

const booker = { kind: 'user', id: 'u-frontdesk', role: 'front_desk' } as const;
const start = '2030-01-07T10:00:00.000Z';
const end = '2030-01-07T10:30:00.000Z';

function setup() {
  const store = new InMemoryEventStore();
  const deps: SchedulingDeps = {
    store,
    clock: () => new Date('2030-01-01T00:00:00Z'),
    keys: new InMemoryPatientKeyStore(),
    logger: createLogger({ service: 'scheduling', level: 'silent' }),
    settings: { requireDobCheck: false, publicUrl: 'http://localhost', timeZone: 'UTC' },
    patientTokens: {} as PatientTokenSigner,
    readModel: new SchedulingReadModel(),
    snapshots: new InMemorySnapshotStore(),
  };
  const reconciler = new BookingReconciler(deps, { settleMs: 1_000 });
  /** Appends events and lets the reconciler observe them, as the subscription would. */
  const append = async (stream: string, events: NewEvent[]) => {
    await store.append(stream, 'any', events);
    for (const e of await store.read(stream)) if (events.some((n) => n.id === e.id)) reconciler.observe(e);
  };
  const later = () => reconciler.runOnce(Date.now() + 2_000);
  return { store, deps, reconciler, append, later };
}

const reserved = (appointmentId: string, extra: Record<string, unknown> = {}, times = { start, end }) =>
  newEvent({
    type: 'haven.scheduling.v1.ClinicianSlotReserved',
    data: { clinicianId: 'clin-1', appointmentId, startTime: times.start, endTime: times.end, ...extra },
    actor: booker,
    correlationId: 'corr-1',
  });

const booked = (appointmentId: string, times = { start, end }) =>
  newEvent({
    type: 'haven.scheduling.v1.AppointmentBooked',
    data: {
      appointmentId,
      clinicianId: 'clin-1',
      patientId: 'p-1',
      startTime: times.start,
      endTime: times.end,
    },
    actor: booker,
  });

describe('when a booking stopped after its reservation', () => {
  it('books the appointment as the booker, caused by the reservation, with its request and sealed reason', async () => {
    const { store, append, later, reconciler } = setup();
    const reservation = {
      ...reserved('a-1', { booking: { patientId: 'p-1', hasReason: true } }),
      phi: { subject: 'p-1', keyId: 'k-1', ciphertext: 'AAAA' },
      request: { id: 'key-1', fingerprint: 'sha256:x' },
    };
    await append('scheduling.clinician_schedule-clin-1', [reservation]);
    expect(await reconciler.runOnce(Date.now())).toMatchObject({ booked: 0 }); // not settled yet
    expect(await later()).toMatchObject({ booked: 1 });
    const [event] = await store.read('scheduling.appointment-a-1');
    expect(event).toMatchObject({
      type: 'haven.scheduling.v1.AppointmentBooked',
      actor: booker,
      correlationId: 'corr-1',
      causationId: reservation.id,
      data: {
        appointmentId: 'a-1',
        clinicianId: 'clin-1',
        patientId: 'p-1',
        startTime: start,
        endTime: end,
        hasReason: true,
      },
      phi: reservation.phi,
      request: reservation.request,
    });
    reconciler.observe({ ...event!, position: 99n });
    expect(reconciler.unfinished).toBe(0);
  });

  it('leaves a booking alone once its appointment is there', async () => {
    const { store, append, later } = setup();
    await append('scheduling.clinician_schedule-clin-1', [
      reserved('a-2', { booking: { patientId: 'p-1' } }),
    ]);
    await append('scheduling.appointment-a-2', [booked('a-2')]);
    expect(await later()).toEqual({ booked: 0, rescheduled: 0, released: 0, failed: 0 });
    expect(await store.read('scheduling.appointment-a-2')).toHaveLength(1);
  });
});

describe('when a move stopped after its reservation', () => {
  it('moves the appointment to the reserved times', async () => {
    const { store, append, later } = setup();
    await append('scheduling.appointment-a-3', [booked('a-3')]);
    const moved = { start: '2030-01-08T09:00:00.000Z', end: '2030-01-08T09:30:00.000Z' };
    await append('scheduling.clinician_schedule-clin-1', [reserved('a-3', {}, moved)]);
    expect(await later()).toMatchObject({ rescheduled: 1 });
    const events = await store.read('scheduling.appointment-a-3');
    expect(events[1]).toMatchObject({
      type: 'haven.scheduling.v1.AppointmentRescheduled',
      data: { startTime: moved.start, endTime: moved.end },
    });
  });

  it('releases a slot held for an appointment that does not exist', async () => {
    const { store, append, later } = setup();
    await append('scheduling.clinician_schedule-clin-1', [reserved('a-4')]);
    expect(await later()).toMatchObject({ released: 1 });
    const schedule = await store.read('scheduling.clinician_schedule-clin-1');
    expect(schedule[1]).toMatchObject({
      type: 'haven.scheduling.v1.ClinicianSlotReleased',
      actor: { kind: 'service', id: 'scheduling' },
      data: { appointmentId: 'a-4', reason: 'reconciled' },
    });
  });
});

describe('when a cancellation stopped before releasing the slot', () => {
  it('releases it', async () => {
    const { store, append, later } = setup();
    await append('scheduling.clinician_schedule-clin-1', [
      reserved('a-5', { booking: { patientId: 'p-1' } }),
    ]);
    await append('scheduling.appointment-a-5', [
      booked('a-5'),
      newEvent({
        type: 'haven.scheduling.v1.AppointmentCancelled',
        data: { appointmentId: 'a-5', reasonCode: 'other' },
        actor: booker,
      }),
    ]);
    expect(await later()).toMatchObject({ released: 1 });
    expect((await store.read('scheduling.clinician_schedule-clin-1')).map((e) => e.type)).toEqual([
      'haven.scheduling.v1.ClinicianSlotReserved',
      'haven.scheduling.v1.ClinicianSlotReleased',
    ]);
    expect(await later()).toMatchObject({ released: 0 }); // done: nothing left to do
  });

  it.each([
    [
      'completed',
      'haven.scheduling.v1.AppointmentCompleted',
      { visitId: 'a-7', reason: 'ended_by_clinician' },
    ],
    ['marked no-show', 'haven.scheduling.v1.AppointmentMarkedNoShow', { clinicianId: 'clin-1' }],
  ])('releases the slot of an appointment %s', async (_what, type, data) => {
    const { store, append, later } = setup();
    await append('scheduling.clinician_schedule-clin-1', [
      reserved('a-7', { booking: { patientId: 'p-1' } }),
    ]);
    await append('scheduling.appointment-a-7', [
      booked('a-7'),
      newEvent({ type, data: { appointmentId: 'a-7', ...data }, actor: booker }),
    ]);
    expect(await later()).toMatchObject({ released: 1 });
    expect((await store.read('scheduling.clinician_schedule-clin-1')).map((e) => e.type)).toEqual([
      'haven.scheduling.v1.ClinicianSlotReserved',
      'haven.scheduling.v1.ClinicianSlotReleased',
    ]);
  });

  it('keeps trying with back-off while the store is down, and finishes once it is back', async () => {
    const { store, deps, append, reconciler } = setup();
    await append('scheduling.clinician_schedule-clin-1', [
      reserved('a-6', { booking: { patientId: 'p-1' } }),
    ]);
    const append0 = store.append.bind(store);
    let down = true;
    (deps as { store: unknown }).store = {
      ...store,
      read: store.read.bind(store),
      append: (...args: Parameters<typeof store.append>) =>
        down ? Promise.reject(new Error('store down')) : append0(...args),
    };
    expect(await reconciler.runOnce(Date.now() + 2_000)).toMatchObject({ failed: 1 });
    down = false;
    expect(await reconciler.runOnce(Date.now() + 2_000)).toMatchObject({ booked: 0 }); // backing off
    expect(await reconciler.runOnce(Date.now() + 60_000)).toMatchObject({ booked: 1 });
  });
});
