/**
 * A booking as the scheduling context records it, appended straight to the event store: for suites that run the
 * session service (which opens a visit on AppointmentBooked) without scheduling.
 */
import { randomUUID } from 'node:crypto';
import { newEvent, type EventStore, type NewEvent } from '@haven/eventstore';

/** What {@link appendAppointmentBooked} books. */
export interface TestBooking {
  /** Defaults to `apt-<uuid>`. */
  readonly appointmentId?: string;
  readonly clinicianId: string;
  readonly patientId: string;
  /** Defaults to an hour from now. */
  readonly start?: Date;
  /** Defaults to 30 minutes. */
  readonly durationMs?: number;
}

/** The front desk's AppointmentBooked of `booking`. */
export function appointmentBooked(booking: TestBooking & { readonly appointmentId: string }): NewEvent {
  const start = booking.start ?? new Date(Date.now() + 3600_000);
  return newEvent({
    type: 'haven.scheduling.v1.AppointmentBooked',
    actor: { kind: 'user', id: 'u-frontdesk', role: 'front_desk' },
    data: {
      appointmentId: booking.appointmentId,
      clinicianId: booking.clinicianId,
      patientId: booking.patientId,
      startTime: start.toISOString(),
      endTime: new Date(start.getTime() + (booking.durationMs ?? 30 * 60_000)).toISOString(),
    },
  });
}

/** Appends {@link appointmentBooked} on a new appointment stream; resolves with the appointment id. */
export async function appendAppointmentBooked(
  store: Pick<EventStore, 'append'>,
  booking: TestBooking,
): Promise<string> {
  const appointmentId = booking.appointmentId ?? `apt-${randomUUID()}`;
  await store.append(`scheduling.appointment-${appointmentId}`, 'no_stream', [
    appointmentBooked({ ...booking, appointmentId }),
  ]);
  return appointmentId;
}
