import { PreconditionError, ValidationError } from '@haven/errors';
import { given } from '../../../../tests/support/decider';
import { AppointmentEventType, evolve, initialAppointmentState, type AppointmentEvent } from './appointment';
import { decide, type AppointmentCommand } from './decide';

const spec = { decide, evolve, initialState: initialAppointmentState };
const now = new Date('2026-11-26T09:00:00Z');
const book = (
  over: Partial<Extract<AppointmentCommand, { type: 'BookAppointment' }>['data']> = {},
): AppointmentCommand => ({
  type: 'BookAppointment',
  data: {
    appointmentId: 'apt-1',
    clinicianId: 'clin-1',
    patientId: 'pat-1',
    startTime: new Date('2026-11-26T10:00:00Z'),
    endTime: new Date('2026-11-26T10:30:00Z'),
    now,
    ...over,
  },
});
const booked: AppointmentEvent = {
  type: AppointmentEventType.Booked,
  data: {
    appointmentId: 'apt-1',
    clinicianId: 'clin-1',
    patientId: 'pat-1',
    startTime: '2026-11-26T10:00:00.000Z',
    endTime: '2026-11-26T10:30:00.000Z',
  },
};

describe('when no appointment exists', () => {
  it('books it', () => given(spec).when(book()).then([booked]));
  it('refuses a start time in the past', () =>
    given(spec)
      .when(book({ startTime: new Date('2026-11-26T08:00:00Z') }))
      .thenThrows(ValidationError, /start_time: must not be in the past/));
  it('refuses an end before the start and names both fields when both are bad', () => {
    const err = given(spec)
      .when(book({ clinicianId: '', endTime: new Date('2026-11-26T09:30:00Z') }))
      .error() as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.violations.map((v) => v.field)).toEqual(['appointment.clinician', 'appointment.end_time']);
  });
  it('refuses a missing start time', () =>
    given(spec)
      .when(book({ startTime: undefined }))
      .thenThrows(ValidationError, /start_time: is required/));
  it('refuses an appointment longer than four hours', () =>
    given(spec)
      .when(book({ endTime: new Date('2026-11-26T14:30:00Z') }))
      .thenThrows(ValidationError, /at most 240 minutes/));
  it('cannot cancel it', () =>
    given(spec)
      .when({ type: 'CancelAppointment', data: { reasonCode: 'x' } })
      .thenThrows(PreconditionError));
});

describe('when the appointment is booked', () => {
  it('refuses to book it again', () =>
    given(spec, [booked])
      .when(book())
      .thenThrows(PreconditionError, /already exists/));
  it('cancels it', () =>
    given(spec, [booked])
      .when({ type: 'CancelAppointment', data: { reasonCode: 'patient_request' } })
      .then([
        {
          type: AppointmentEventType.Cancelled,
          data: { appointmentId: 'apt-1', reasonCode: 'patient_request' },
        },
      ]));
});

describe('when the appointment is cancelled', () => {
  const cancelled: AppointmentEvent = {
    type: AppointmentEventType.Cancelled,
    data: { appointmentId: 'apt-1', reasonCode: 'x' },
  };
  it('refuses to cancel it twice', () =>
    given(spec, [booked, cancelled])
      .when({ type: 'CancelAppointment', data: { reasonCode: 'y' } })
      .thenThrows(PreconditionError, /already cancelled/));
});
