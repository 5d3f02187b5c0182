/**
 * The Appointment aggregate: events, state and evolve. Pure: no I/O, no Node builtins.
 * Stream: `scheduling.appointment-<id>`. Event data carries ids and times only, never PHI.
 */

export const AppointmentEventType = {
  Booked: 'haven.scheduling.v1.AppointmentBooked',
  Rescheduled: 'haven.scheduling.v1.AppointmentRescheduled',
  Cancelled: 'haven.scheduling.v1.AppointmentCancelled',
} as const;

export interface AppointmentBooked {
  readonly type: typeof AppointmentEventType.Booked;
  readonly data: {
    readonly appointmentId: string;
    readonly clinicianId: string;
    readonly patientId: string;
    readonly startTime: string;
    readonly endTime: string;
  };
}

export interface AppointmentRescheduled {
  readonly type: typeof AppointmentEventType.Rescheduled;
  readonly data: { readonly appointmentId: string; readonly startTime: string; readonly endTime: string };
}

export interface AppointmentCancelled {
  readonly type: typeof AppointmentEventType.Cancelled;
  readonly data: { readonly appointmentId: string; readonly reasonCode: string };
}

export type AppointmentEvent = AppointmentBooked | AppointmentRescheduled | AppointmentCancelled;

export type AppointmentState =
  | { readonly status: 'none' }
  | {
      readonly status: 'booked' | 'cancelled';
      readonly appointmentId: string;
      readonly clinicianId: string;
      readonly patientId: string;
      readonly startTime: string;
      readonly endTime: string;
    };

export const initialAppointmentState: AppointmentState = { status: 'none' };

/** Folds one event into the state. Unknown event types leave the state unchanged (forward compatible). */
export function evolve(state: AppointmentState, event: { type: string; data: unknown }): AppointmentState {
  const e = event as AppointmentEvent;
  switch (e.type) {
    case AppointmentEventType.Booked:
      return { status: 'booked', ...e.data };
    case AppointmentEventType.Rescheduled:
      return state.status === 'none'
        ? state
        : { ...state, startTime: e.data.startTime, endTime: e.data.endTime };
    case AppointmentEventType.Cancelled:
      return state.status === 'none' ? state : { ...state, status: 'cancelled' };
    default:
      return state;
  }
}
