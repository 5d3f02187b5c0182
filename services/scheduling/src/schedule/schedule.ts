/**
 * The ClinicianSchedule aggregate: one stream per clinician, `scheduling.clinician_schedule-<clinicianId>`,
 * holding every slot the clinician is booked for. Every booking, reschedule and cancellation also appends here
 * with the expected revision, so two overlapping bookings can never both succeed, even across replicas.
 * Pure: no I/O, no Node builtins.
 */
import { ValidationError } from '@haven/errors';

export const ScheduleEventType = {
  SlotReserved: 'haven.scheduling.v1.ClinicianSlotReserved',
  SlotReleased: 'haven.scheduling.v1.ClinicianSlotReleased',
} as const;

export interface ClinicianSlotReserved {
  readonly type: typeof ScheduleEventType.SlotReserved;
  readonly data: {
    readonly clinicianId: string;
    readonly appointmentId: string;
    readonly startTime: string;
    readonly endTime: string;
  };
}

export interface ClinicianSlotReleased {
  readonly type: typeof ScheduleEventType.SlotReleased;
  readonly data: { readonly clinicianId: string; readonly appointmentId: string };
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
  };
}

export interface ReleaseSlot {
  readonly type: 'ReleaseSlot';
  readonly data: { readonly clinicianId: string; readonly appointmentId: string };
}

export type ScheduleCommand = ReserveSlot | ReleaseSlot;

/**
 * Reserving a slot that overlaps another appointment of the clinician throws a ValidationError on the start
 * time field. Reserving the same slot again for the same appointment, or releasing one not held, is a no-op.
 */
export function decideSchedule(command: ScheduleCommand, state: ScheduleState): ScheduleEvent[] {
  switch (command.type) {
    case 'ReserveSlot': {
      const { clinicianId, appointmentId, startTime, endTime, field } = command.data;
      const start = startTime.toISOString();
      const end = endTime.toISOString();
      const current = state.slots.get(appointmentId);
      if (current && current.startTime === start && current.endTime === end) return [];
      for (const [otherId, slot] of state.slots) {
        if (otherId === appointmentId) continue;
        if (
          Date.parse(slot.startTime) < endTime.getTime() &&
          startTime.getTime() < Date.parse(slot.endTime)
        ) {
          throw new ValidationError([
            {
              field,
              description: `overlaps another appointment of the clinician (${slot.startTime} to ${slot.endTime})`,
            },
          ]);
        }
      }
      return [
        {
          type: ScheduleEventType.SlotReserved,
          data: { clinicianId, appointmentId, startTime: start, endTime: end },
        },
      ];
    }
    case 'ReleaseSlot':
      if (!state.slots.has(command.data.appointmentId)) return [];
      return [{ type: ScheduleEventType.SlotReleased, data: { ...command.data } }];
  }
}
