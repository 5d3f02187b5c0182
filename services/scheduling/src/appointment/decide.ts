/**
 * Commands and decide() for the Appointment aggregate. Pure: validation and rules only.
 */
import { PreconditionError, ValidationError, type FieldViolation } from '@haven/errors';
import { AppointmentEventType, type AppointmentEvent, type AppointmentState } from './appointment';

/** Longest appointment we accept. */
export const MAX_APPOINTMENT_MINUTES = 240;

export interface BookAppointment {
  readonly type: 'BookAppointment';
  readonly data: {
    readonly appointmentId: string;
    readonly clinicianId: string;
    readonly patientId: string;
    readonly startTime: Date | undefined;
    readonly endTime: Date | undefined;
    /** The decision time, passed in so decide stays pure. */
    readonly now: Date;
  };
}

export interface CancelAppointment {
  readonly type: 'CancelAppointment';
  readonly data: { readonly reasonCode: string };
}

export type AppointmentCommand = BookAppointment | CancelAppointment;

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function validateBooking(cmd: BookAppointment['data']): FieldViolation[] {
  const v: FieldViolation[] = [];
  if (!ID.test(cmd.clinicianId))
    v.push({ field: 'appointment.clinician', description: 'must name a clinician' });
  if (!ID.test(cmd.patientId)) v.push({ field: 'appointment.patient', description: 'must name a patient' });
  const { startTime: start, endTime: end } = cmd;
  if (!start || Number.isNaN(start.getTime())) {
    v.push({ field: 'appointment.start_time', description: 'is required' });
  } else if (start.getTime() < cmd.now.getTime()) {
    v.push({ field: 'appointment.start_time', description: 'must not be in the past' });
  }
  if (!end || Number.isNaN(end.getTime())) {
    v.push({ field: 'appointment.end_time', description: 'is required' });
  } else if (start && end.getTime() <= start.getTime()) {
    v.push({ field: 'appointment.end_time', description: 'must be after start_time' });
  } else if (start && end.getTime() - start.getTime() > MAX_APPOINTMENT_MINUTES * 60_000) {
    v.push({
      field: 'appointment.end_time',
      description: `must be at most ${MAX_APPOINTMENT_MINUTES} minutes after start_time`,
    });
  }
  return v;
}

/**
 * Decides which events a command produces.
 * Throws ValidationError on bad input, PreconditionError when the appointment's state forbids it.
 */
export function decide(command: AppointmentCommand, state: AppointmentState): AppointmentEvent[] {
  switch (command.type) {
    case 'BookAppointment': {
      const violations = validateBooking(command.data);
      if (violations.length > 0) throw new ValidationError(violations);
      if (state.status !== 'none') throw new PreconditionError('appointment already exists');
      const { appointmentId, clinicianId, patientId, startTime, endTime } = command.data;
      return [
        {
          type: AppointmentEventType.Booked,
          data: {
            appointmentId,
            clinicianId,
            patientId,
            startTime: (startTime as Date).toISOString(),
            endTime: (endTime as Date).toISOString(),
          },
        },
      ];
    }
    case 'CancelAppointment': {
      if (state.status === 'none') throw new PreconditionError('appointment does not exist');
      if (state.status === 'cancelled') throw new PreconditionError('appointment is already cancelled');
      return [
        {
          type: AppointmentEventType.Cancelled,
          data: { appointmentId: state.appointmentId, reasonCode: command.data.reasonCode },
        },
      ];
    }
  }
}
