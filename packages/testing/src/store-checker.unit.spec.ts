/**
 * The fault suite's store checker on hand-made logs: it must find each kind of trace a fault can leave (so a
 * clean report means something), and nothing on a healthy log.
 */
import type { LoggedEvent } from './event-log';
import { checkScheduling, checkVisits } from './store-checker';

let seq = 0;
function event(
  type: string,
  stream: string,
  data: Record<string, unknown>,
  correlationId = 'c',
): LoggedEvent {
  seq += 1;
  return {
    seq,
    subject: `haven.es.${stream}`,
    id: `e-${seq}`,
    type: `haven.${type}`,
    stream,
    revision: '0',
    occurredAt: '2030-01-01T00:00:00.000Z',
    actor: { kind: 'user', id: 'u-1' },
    correlationId,
    causationId: correlationId,
    data,
  };
}
const times = { startTime: '2030-01-07T10:00:00.000Z', endTime: '2030-01-07T10:30:00.000Z' };
const reserved = (id: string, t = times) =>
  event('scheduling.v1.ClinicianSlotReserved', 'scheduling.clinician_schedule-c1', {
    clinicianId: 'c1',
    appointmentId: id,
    ...t,
  });
const released = (id: string) =>
  event('scheduling.v1.ClinicianSlotReleased', 'scheduling.clinician_schedule-c1', {
    clinicianId: 'c1',
    appointmentId: id,
  });
const booked = (id: string, correlationId = `op-${id}`, t = times) =>
  event(
    'scheduling.v1.AppointmentBooked',
    `scheduling.appointment-${id}`,
    { appointmentId: id, clinicianId: 'c1', patientId: 'p1', ...t },
    correlationId,
  );
const cancelled = (id: string) =>
  event('scheduling.v1.AppointmentCancelled', `scheduling.appointment-${id}`, { appointmentId: id });

describe('checkScheduling', () => {
  it('finds nothing on a healthy log', () => {
    const check = checkScheduling([
      reserved('a1'),
      booked('a1'),
      reserved('a2'),
      booked('a2'),
      cancelled('a2'),
      released('a2'),
    ]);
    expect(check).toMatchObject({ orphanReservations: [], halfBookings: [] });
    expect(check.duplicateBookings.size).toBe(0);
  });

  it('finds a slot held for an appointment never booked, or cancelled', () => {
    const check = checkScheduling([reserved('a1'), reserved('a2'), booked('a2'), cancelled('a2')]);
    expect(check.orphanReservations).toEqual(['c1/a1', 'c1/a2']);
  });

  it('finds a booking whose slot is not held, or held at other times', () => {
    const other = { startTime: '2030-01-08T10:00:00.000Z', endTime: '2030-01-08T10:30:00.000Z' };
    const check = checkScheduling([booked('a1'), reserved('a2', other), booked('a2')]);
    expect(check.halfBookings).toEqual(['c1/a1', 'c1/a2']);
  });

  it('finds one operation that booked twice', () => {
    const check = checkScheduling([reserved('a1'), booked('a1', 'op'), reserved('a2'), booked('a2', 'op')]);
    expect([...check.duplicateBookings.keys()]).toEqual(['op']);
  });
});

describe('checkVisits', () => {
  const opened = (id: string) => event('session.v1.VisitOpened', `session.visit-${id}`, { visitId: id });
  const ended = (id: string) => event('session.v1.VisitEnded', `session.visit-${id}`, { reason: 'x' });
  it('finds a booking without its visit and a cancelled appointment whose visit stayed open', () => {
    const check = checkVisits([
      booked('a1'),
      booked('a2'),
      opened('a2'),
      booked('a3'),
      opened('a3'),
      cancelled('a3'),
    ]);
    expect(check.missingVisits).toEqual(['a1']);
    expect(check.openAfterCancel).toEqual(['a3']);
  });
  it('finds nothing when every booking has its visit and cancelled ones ended', () => {
    const check = checkVisits([
      booked('a1'),
      opened('a1'),
      booked('a2'),
      opened('a2'),
      cancelled('a2'),
      ended('a2'),
    ]);
    expect(check).toMatchObject({ missingVisits: [], openAfterCancel: [] });
  });
});
