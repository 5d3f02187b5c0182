import { AlreadyExistsError, ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import {
  compactSchedule,
  decideSchedule,
  decodeSchedule,
  encodeSchedule,
  evolveSchedule,
  initialScheduleState,
  ScheduleEventType,
  type ScheduleCommand,
  type ScheduleEvent,
} from './schedule';

const spec = { decide: decideSchedule, evolve: evolveSchedule, initialState: initialScheduleState };
/** ReserveSlot of clin-1 for `appointmentId` from `start` to `end`; `extra` adds fields (a booking). */
const reserve = (
  appointmentId: string,
  start: string,
  end: string,
  extra: Partial<Extract<ScheduleCommand, { type: 'ReserveSlot' }>['data']> = {},
): ScheduleCommand => ({
  type: 'ReserveSlot',
  data: {
    clinicianId: 'clin-1',
    appointmentId,
    startTime: new Date(start),
    endTime: new Date(end),
    field: 'appointment.start_time',
    ...extra,
  },
});
const reserved = (appointmentId: string, start: string, end: string): ScheduleEvent => ({
  type: ScheduleEventType.SlotReserved,
  data: { clinicianId: 'clin-1', appointmentId, startTime: start, endTime: end },
});
const a1 = reserved('a1', '2026-11-26T10:00:00.000Z', '2026-11-26T10:30:00.000Z');

describe('when the clinician has a 10:00–10:30 appointment', () => {
  it('refuses an overlapping booking with a violation on start_time', () => {
    const err = given(spec, [a1])
      .when(reserve('a2', '2026-11-26T10:15:00Z', '2026-11-26T10:45:00Z'))
      .error();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).violations[0]?.field).toBe('appointment.start_time');
  });
  it('refuses a slot that contains it', () =>
    given(spec, [a1])
      .when(reserve('a2', '2026-11-26T09:00:00Z', '2026-11-26T11:00:00Z'))
      .thenThrows(ValidationError, /overlaps/));
  it('accepts the adjacent slot 10:30–11:00', () =>
    given(spec, [a1])
      .when(reserve('a2', '2026-11-26T10:30:00Z', '2026-11-26T11:00:00Z'))
      .then([reserved('a2', '2026-11-26T10:30:00.000Z', '2026-11-26T11:00:00.000Z')]));
  it('lets the same appointment move within its own slot (reschedule)', () =>
    given(spec, [a1])
      .when(reserve('a1', '2026-11-26T10:15:00Z', '2026-11-26T10:45:00Z'))
      .then([reserved('a1', '2026-11-26T10:15:00.000Z', '2026-11-26T10:45:00.000Z')]));
  it('is a no-op to reserve the same slot again (retry)', () =>
    given(spec, [a1])
      .when(reserve('a1', '2026-11-26T10:00:00Z', '2026-11-26T10:30:00Z'))
      .then([]));
  it('frees the time once released', () =>
    given(spec, [
      a1,
      { type: ScheduleEventType.SlotReleased, data: { clinicianId: 'clin-1', appointmentId: 'a1' } },
    ])
      .when(reserve('a2', '2026-11-26T10:00:00Z', '2026-11-26T10:30:00Z'))
      .then([reserved('a2', '2026-11-26T10:00:00.000Z', '2026-11-26T10:30:00.000Z')]));
  it('releasing an unknown appointment is a no-op', () =>
    given(spec, [a1])
      .when({ type: 'ReleaseSlot', data: { clinicianId: 'clin-1', appointmentId: 'zz' } })
      .then([]));
});

describe('an overlap in the clinic time zone', () => {
  const inZone = (timeZone: string, start: string, end: string): ScheduleCommand => {
    const cmd = reserve('a2', start, end);
    return { ...cmd, data: { ...cmd.data, timeZone } } as ScheduleCommand;
  };
  const description = (events: ScheduleEvent[], cmd: ScheduleCommand) =>
    (given(spec, events).when(cmd).error() as ValidationError).violations[0]?.description;

  it('names the other slot in local time with its offset, never as UTC ISO', () => {
    const text = description([a1], inZone('Europe/Berlin', '2026-11-26T10:15:00Z', '2026-11-26T10:45:00Z'));
    expect(text).toBe(
      'overlaps another appointment of the clinician (Thu 26 Nov 2026 11:00–11:30 (Europe/Berlin, UTC+01:00))',
    );
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
  });

  it('follows daylight saving time: the same wall clock in July is UTC+02:00', () => {
    const july = reserved('a1', '2026-07-02T09:00:00.000Z', '2026-07-02T09:30:00.000Z');
    expect(
      description([july], inZone('Europe/Berlin', '2026-07-02T09:10:00Z', '2026-07-02T09:40:00Z')),
    ).toContain('Thu 2 Jul 2026 11:00–11:30 (Europe/Berlin, UTC+02:00)');
  });

  it('names both ends of a slot over a daylight-saving change', () => {
    // New York leaves DST at 02:00 local on 1 Nov 2026: 01:30 EDT, then 01:15 EST.
    const overNight = reserved('a1', '2026-11-01T05:30:00.000Z', '2026-11-01T06:15:00.000Z');
    expect(
      description([overNight], inZone('America/New_York', '2026-11-01T05:45:00Z', '2026-11-01T06:30:00Z')),
    ).toContain('Sun 1 Nov 2026 01:30 (UTC-04:00) – Sun 1 Nov 2026 01:15 (UTC-05:00) America/New_York');
  });
});

describe('a reservation that commits a new booking', () => {
  const booking = { patientId: 'p-1', hasReason: true };
  const reserveBooking = (appointmentId: string, start: string, end: string): ScheduleCommand =>
    reserve(appointmentId, start, end, { booking });
  it('carries the booking', () =>
    given(spec, [a1])
      .when(reserveBooking('a2', '2026-11-26T11:00:00Z', '2026-11-26T11:30:00Z'))
      .then([
        {
          type: ScheduleEventType.SlotReserved,
          data: {
            clinicianId: 'clin-1',
            appointmentId: 'a2',
            startTime: '2026-11-26T11:00:00.000Z',
            endTime: '2026-11-26T11:30:00.000Z',
            booking,
          },
        },
      ]));
  it('is a no-op when that booking already holds the same slot (a retry)', () =>
    given(spec, [a1])
      .when(reserveBooking('a1', '2026-11-26T10:00:00Z', '2026-11-26T10:30:00Z'))
      .then([]));
  it('refuses an id that already holds other times (two bookings chose the same id)', () =>
    given(spec, [a1])
      .when(reserveBooking('a1', '2026-11-26T12:00:00Z', '2026-11-26T12:30:00Z'))
      .thenThrows(AlreadyExistsError, /already exists/));
});

describe('snapshots of a schedule', () => {
  const state = [a1, reserved('a2', '2026-11-27T10:00:00.000Z', '2026-11-27T10:30:00.000Z')].reduce(
    evolveSchedule,
    initialScheduleState,
  );

  it('keep only slots that end less than an hour before now', () => {
    const compacted = compactSchedule(state, new Date('2026-11-26T12:00:00Z'));
    expect([...compacted.slots.keys()]).toEqual(['a2']);
    expect(compactSchedule(state, new Date('2026-11-26T11:00:00Z'))).toBe(state);
  });

  it('encode to JSON and decode back; anything else is refused', () => {
    const raw = JSON.parse(JSON.stringify(encodeSchedule(state))) as unknown;
    expect(decodeSchedule(raw)).toEqual(state);
    expect(() => decodeSchedule({ slots: [['a1', 1, 2]] })).toThrow(TypeError);
    expect(() => decodeSchedule(null)).toThrow(TypeError);
  });
});
