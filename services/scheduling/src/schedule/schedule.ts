/**
 * The ClinicianSchedule aggregate: one stream per clinician, `scheduling.clinician_schedule-<clinicianId>`,
 * holding every slot the clinician is booked for. Every booking, reschedule and cancellation also appends here
 * with the expected revision, so two overlapping bookings can never both succeed, even across replicas.
 *
 * The reservation is where a booking (or a move) commits (docs/adr/0005-atomic-bookings.md): a
 * `ClinicianSlotReserved` of a new booking carries the whole booking (patient, and the sealed reason in the
 * envelope's `phi`), so the appointment's own `AppointmentBooked` can always be written after it — by the
 * handler, or by the reconciler when the handler died in between. The stream grows with the clinician's
 * history; it is read from snapshots ({@link schedulePolicy}) that keep only slots that can still matter.
 * Pure: no I/O, no Node builtins.
 */
import { AlreadyExistsError, ValidationError } from '@haven/errors';
import { formatClinicSpan } from './clinic-time';

export const ScheduleEventType = {
  SlotReserved: 'haven.scheduling.v1.ClinicianSlotReserved',
  SlotReleased: 'haven.scheduling.v1.ClinicianSlotReleased',
} as const;

/** The booking a reservation commits, when it reserves for a new appointment (absent for a move). */
export interface SlotBooking {
  readonly patientId: string;
  /** True when a sealed reason travels in the reservation's `phi`. */
  readonly hasReason?: boolean;
  /** The series the booking is an occurrence of, and which one (recurring appointments). */
  readonly series?: { readonly seriesId: string; readonly occurrence: number };
}

export interface ClinicianSlotReserved {
  readonly type: typeof ScheduleEventType.SlotReserved;
  readonly data: {
    readonly clinicianId: string;
    readonly appointmentId: string;
    readonly startTime: string;
    readonly endTime: string;
    readonly booking?: SlotBooking;
  };
}

export interface ClinicianSlotReleased {
  readonly type: typeof ScheduleEventType.SlotReleased;
  readonly data: {
    readonly clinicianId: string;
    readonly appointmentId: string;
    /** Why, when not a cancellation by a user: `reconciled` (an appointment that was never booked or was cancelled). */
    readonly reason?: string;
  };
}

export type ScheduleEvent = ClinicianSlotReserved | ClinicianSlotReleased;

/** Booked slots by appointment id. */
export interface ScheduleState {
  readonly slots: ReadonlyMap<string, { readonly startTime: string; readonly endTime: string }>;
}

export const initialScheduleState: ScheduleState = { slots: new Map() };

export function scheduleStream(clinicianId: string): string {
  return `scheduling.clinician_schedule-${clinicianId}`;
}

/** Folds one event. Unknown types leave the state unchanged. */
export function evolveSchedule(state: ScheduleState, event: { type: string; data: unknown }): ScheduleState {
  const e = event as ScheduleEvent;
  switch (e.type) {
    case ScheduleEventType.SlotReserved: {
      const slots = new Map(state.slots);
      slots.set(e.data.appointmentId, { startTime: e.data.startTime, endTime: e.data.endTime });
      return { slots };
    }
    case ScheduleEventType.SlotReleased: {
      const slots = new Map(state.slots);
      slots.delete(e.data.appointmentId);
      return { slots };
    }
    default:
      return state;
  }
}

export interface ReserveSlot {
  readonly type: 'ReserveSlot';
  readonly data: {
    readonly clinicianId: string;
    readonly appointmentId: string;
    readonly startTime: Date;
    readonly endTime: Date;
    /** The request field to blame on overlap (`appointment.start_time` or `start_time`). */
    readonly field: string;
    /** The booking this reservation commits (new appointments only). */
    readonly booking?: SlotBooking;
    /** The clinic's IANA time zone: an overlap names the other slot's times in it. Default `UTC`. */
    readonly timeZone?: string;
  };
}

export interface ReleaseSlot {
  readonly type: 'ReleaseSlot';
  readonly data: { readonly clinicianId: string; readonly appointmentId: string; readonly reason?: string };
}

export type ScheduleCommand = ReserveSlot | ReleaseSlot;

/**
 * Reserving a slot that overlaps another appointment of the clinician throws a ValidationError on the start
 * time field, naming the other slot's times in the clinic's time zone; a new booking under an appointment id that already holds other times throws AlreadyExistsError.
 * Reserving the same slot again for the same appointment, or releasing one not held, is a no-op.
 */
export function decideSchedule(command: ScheduleCommand, state: ScheduleState): ScheduleEvent[] {
  switch (command.type) {
    case 'ReserveSlot': {
      const { clinicianId, appointmentId, startTime, endTime, field, booking, timeZone } = command.data;
      const start = startTime.toISOString();
      const end = endTime.toISOString();
      const current = state.slots.get(appointmentId);
      if (current && current.startTime === start && current.endTime === end) return [];
      if (current && booking) {
        // A new booking under an id that already holds another slot: two bookings chose the same id.
        throw new AlreadyExistsError(`appointment ${appointmentId} already exists`);
      }
      for (const [otherId, slot] of state.slots) {
        if (otherId === appointmentId) continue;
        if (
          Date.parse(slot.startTime) < endTime.getTime() &&
          startTime.getTime() < Date.parse(slot.endTime)
        ) {
          throw new ValidationError([
            {
              field,
              description: `overlaps another appointment of the clinician (${formatClinicSpan(
                new Date(slot.startTime),
                new Date(slot.endTime),
                timeZone ?? 'UTC',
              )})`,
            },
          ]);
        }
      }
      return [
        {
          type: ScheduleEventType.SlotReserved,
          data: {
            clinicianId,
            appointmentId,
            startTime: start,
            endTime: end,
            ...(booking !== undefined ? { booking } : {}),
          },
        },
      ];
    }
    case 'ReleaseSlot':
      if (!state.slots.has(command.data.appointmentId)) return [];
      return [{ type: ScheduleEventType.SlotReleased, data: { ...command.data } }];
  }
}

/** How long after its end a slot is kept in snapshots (clock skew between replicas is far smaller). */
const KEEP_AFTER_END_MS = 3600_000;

/**
 * Drops slots that ended more than an hour before `now`: no booking or move may start in the past, so they can
 * never overlap a later one, and a snapshot stays as large as the clinician's future, not their history.
 */
export function compactSchedule(state: ScheduleState, now: Date): ScheduleState {
  const cutoff = now.getTime() - KEEP_AFTER_END_MS;
  const slots = new Map([...state.slots].filter(([, slot]) => Date.parse(slot.endTime) >= cutoff));
  return slots.size === state.slots.size ? state : { slots };
}

/** The snapshot form of a schedule (JSON). */
export function encodeSchedule(state: ScheduleState): unknown {
  return { slots: [...state.slots].map(([id, slot]) => [id, slot.startTime, slot.endTime]) };
}

/** Back from {@link encodeSchedule}. Throws TypeError on anything else. */
export function decodeSchedule(raw: unknown): ScheduleState {
  const list = (raw as { slots?: unknown } | null)?.slots;
  if (!Array.isArray(list)) throw new TypeError('not a schedule snapshot');
  const slots = new Map<string, { startTime: string; endTime: string }>();
  for (const entry of list) {
    if (
      !Array.isArray(entry) ||
      typeof entry[0] !== 'string' ||
      typeof entry[1] !== 'string' ||
      typeof entry[2] !== 'string'
    ) {
      throw new TypeError('not a schedule snapshot');
    }
    slots.set(entry[0], { startTime: entry[1], endTime: entry[2] });
  }
  return { slots };
}

/** Snapshot schema version of the schedule state. */
export const SCHEDULE_SNAPSHOT_VERSION = 'clinician_schedule.v1';
