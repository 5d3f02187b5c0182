/**
 * The Visit aggregate: one per appointment. Stream `session.visit-<appointmentId>`.
 * Pure: no I/O. Event data carries ids, room numbers and times only, never PHI.
 */

export const VisitEventType = {
  Opened: 'haven.session.v1.VisitOpened',
  Ended: 'haven.session.v1.VisitEnded',
} as const;

export interface VisitOpened {
  readonly type: typeof VisitEventType.Opened;
  readonly data: {
    readonly visitId: string;
    readonly appointmentId: string;
    readonly clinicianId: string;
    /** The patient's id (an opaque id, not PHI): lets the audit log answer "everything about this patient". */
    readonly patientId: string;
    readonly janusNode: string;
    readonly room: number;
    readonly startTime: string;
    readonly endTime: string;
  };
}

export interface VisitEnded {
  readonly type: typeof VisitEventType.Ended;
  readonly data: {
    readonly visitId: string;
    readonly reason: 'ended_by_clinician' | 'appointment_cancelled' | 'idle';
  };
}

export type VisitEvent = VisitOpened | VisitEnded;

export type VisitState =
  { readonly status: 'none' } | ({ readonly status: 'open' | 'ended' } & VisitOpened['data']);

export const initialVisitState: VisitState = { status: 'none' };

/** Folds one event into the state; unknown types are ignored. */
export function evolve(state: VisitState, event: { type: string; data: unknown }): VisitState {
  const e = event as VisitEvent;
  switch (e.type) {
    case VisitEventType.Opened:
      return { status: 'open', ...e.data };
    case VisitEventType.Ended:
      return state.status === 'none' ? state : { ...state, status: 'ended' };
    default:
      return state;
  }
}
