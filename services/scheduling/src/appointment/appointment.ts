/**
 * The Appointment aggregate: events, state and evolve. Pure: no I/O, no Node builtins.
 * Stream: `scheduling.appointment-<id>`. Event data carries ids, times and hashes only, never PHI; the visit
 * reason travels sealed in the envelope's `phi` of AppointmentBooked.
 * The appointment's patient link lives here too: issuing a new one supersedes the old, and the link dies with
 * the appointment (cancelled, completed, no-show).
 */
import type { SealedPhi } from '@haven/crypto';
import { afterPasscodeAttempt } from './link-policy';

export const AppointmentEventType = {
  Booked: 'haven.scheduling.v1.AppointmentBooked',
  Rescheduled: 'haven.scheduling.v1.AppointmentRescheduled',
  Cancelled: 'haven.scheduling.v1.AppointmentCancelled',
  MarkedNoShow: 'haven.scheduling.v1.AppointmentMarkedNoShow',
  Completed: 'haven.scheduling.v1.AppointmentCompleted',
  PatientLinkIssued: 'haven.scheduling.v1.PatientLinkIssued',
  PassCodeAttemptFailed: 'haven.scheduling.v1.PassCodeAttemptFailed',
  PatientLinkRedeemed: 'haven.scheduling.v1.PatientLinkRedeemed',
} as const;

export interface AppointmentBooked {
  readonly type: typeof AppointmentEventType.Booked;
  readonly data: {
    readonly appointmentId: string;
    readonly clinicianId: string;
    readonly patientId: string;
    readonly startTime: string;
    readonly endTime: string;
    /** True when a (sealed) reason travels in the envelope's `phi`. */
    readonly hasReason?: boolean;
    /** The series this appointment is an occurrence of (recurring appointments). */
    readonly seriesId?: string;
    /** Which occurrence of the series, from 1. */
    readonly occurrence?: number;
  };
}

export interface AppointmentRescheduled {
  readonly type: typeof AppointmentEventType.Rescheduled;
  readonly data: {
    readonly appointmentId: string;
    readonly clinicianId?: string;
    readonly previousStartTime?: string;
    readonly previousEndTime?: string;
    readonly startTime: string;
    readonly endTime: string;
  };
}

export interface AppointmentCancelled {
  readonly type: typeof AppointmentEventType.Cancelled;
  readonly data: {
    readonly appointmentId: string;
    readonly clinicianId?: string;
    readonly reasonCode: string;
  };
}

export interface AppointmentMarkedNoShow {
  readonly type: typeof AppointmentEventType.MarkedNoShow;
  readonly data: { readonly appointmentId: string; readonly clinicianId: string };
}

export interface AppointmentCompleted {
  readonly type: typeof AppointmentEventType.Completed;
  readonly data: { readonly appointmentId: string; readonly visitId: string; readonly reason: string };
}

export interface PatientLinkIssued {
  readonly type: typeof AppointmentEventType.PatientLinkIssued;
  readonly data: {
    readonly appointmentId: string;
    readonly linkId: string;
    /** SHA-256 of the link token, hex. The token itself is never stored. */
    readonly tokenSha256: string;
    /** scrypt hash of the passcode (`scrypt$…`). The passcode itself is never stored. */
    readonly passcodeHash: string;
    readonly dateOfBirthRequired: boolean;
    readonly issuedAt: string;
    /** The link closes this many minutes after the end (the clinic setting when issued); absent: 30. */
    readonly graceMinutes?: number;
    /** The link this one supersedes; absent for the first. */
    readonly replaces?: string;
  };
}

export interface PassCodeAttemptFailed {
  readonly type: typeof AppointmentEventType.PassCodeAttemptFailed;
  readonly data: {
    readonly appointmentId: string;
    readonly linkId: string;
    /** Failed attempts since the link was issued, unlocked or redeemed, including this one. */
    readonly attempt: number;
    /** True when this failure locked the link. */
    readonly locked: boolean;
    /** When the lock ends (ISO-8601), when `locked`. */
    readonly lockedUntil?: string;
  };
}

export interface PatientLinkRedeemed {
  readonly type: typeof AppointmentEventType.PatientLinkRedeemed;
  readonly data: {
    readonly appointmentId: string;
    readonly linkId: string;
    readonly patientPrincipalId: string;
    /** `jti` of the issued patient token. */
    readonly tokenId: string;
    readonly expiresAt: string;
  };
}

export type AppointmentEvent =
  | AppointmentBooked
  | AppointmentRescheduled
  | AppointmentCancelled
  | AppointmentMarkedNoShow
  | AppointmentCompleted
  | PatientLinkIssued
  | PassCodeAttemptFailed
  | PatientLinkRedeemed;

/** The current patient link of an appointment (hashes only). */
export interface PatientLinkState extends Pick<
  PatientLinkIssued['data'],
  'linkId' | 'tokenSha256' | 'passcodeHash' | 'dateOfBirthRequired' | 'issuedAt' | 'graceMinutes'
> {
  /** Failed attempts since the link was issued, last locked or redeemed. */
  readonly failures: number;
  /** How many times the link has been locked (the lock doubles each time). */
  readonly lockCount: number;
  readonly lockedUntil?: string;
  readonly redemptions: number;
  /** The link token, sealed with the patient's key (links issued before the outbox have none). */
  readonly tokenPhi?: SealedPhi;
}

export type AppointmentStatus = 'booked' | 'cancelled' | 'no_show' | 'completed';

export interface ExistingAppointment {
  readonly status: AppointmentStatus;
  readonly appointmentId: string;
  readonly clinicianId: string;
  readonly patientId: string;
  readonly startTime: string;
  readonly endTime: string;
  /** The sealed reason, when one was given at booking. */
  readonly reasonPhi?: SealedPhi;
  /** The series this appointment is an occurrence of, and which one (from 1). */
  readonly series?: { readonly seriesId: string; readonly occurrence: number };
  readonly createTime?: string;
  readonly updateTime?: string;
  /** Revision of the last event folded (etag); -1 when unknown (unit tests). */
  readonly revision: number;
  readonly link?: PatientLinkState;
}

export type AppointmentState = { readonly status: 'none' } | ExistingAppointment;

export const initialAppointmentState: AppointmentState = { status: 'none' };

/** The envelope fields evolve may use when present (stored events); plain `{type, data}` works too. */
interface EnvelopeBits {
  readonly occurredAt?: string;
  readonly revision?: bigint | number;
  readonly phi?: SealedPhi;
}

function withMeta(state: ExistingAppointment, event: EnvelopeBits): ExistingAppointment {
  return {
    ...state,
    revision: event.revision !== undefined ? Number(event.revision) : state.revision + 1,
    ...(event.occurredAt !== undefined ? { updateTime: event.occurredAt } : {}),
  };
}

/** Folds one event into the state. Unknown event types leave the state unchanged (forward compatible). */
export function evolve(state: AppointmentState, event: { type: string; data: unknown }): AppointmentState {
  const e = event as AppointmentEvent;
  const env = event as EnvelopeBits;
  if (e.type === AppointmentEventType.Booked) {
    const { appointmentId, clinicianId, patientId, startTime, endTime, seriesId, occurrence } = e.data;
    return withMeta(
      {
        status: 'booked',
        appointmentId,
        clinicianId,
        patientId,
        startTime,
        endTime,
        revision: -1,
        ...(seriesId !== undefined ? { series: { seriesId, occurrence: occurrence ?? 0 } } : {}),
        ...(env.phi !== undefined ? { reasonPhi: env.phi } : {}),
        ...(env.occurredAt !== undefined ? { createTime: env.occurredAt } : {}),
      },
      env,
    );
  }
  if (state.status === 'none') return state;
  switch (e.type) {
    case AppointmentEventType.Rescheduled:
      return withMeta({ ...state, startTime: e.data.startTime, endTime: e.data.endTime }, env);
    case AppointmentEventType.Cancelled:
      return withMeta({ ...state, status: 'cancelled' }, env);
    case AppointmentEventType.MarkedNoShow:
      return withMeta({ ...state, status: 'no_show' }, env);
    case AppointmentEventType.Completed:
      return withMeta({ ...state, status: 'completed' }, env);
    case AppointmentEventType.PatientLinkIssued: {
      const { linkId, tokenSha256, passcodeHash, dateOfBirthRequired, issuedAt, graceMinutes } = e.data;
      return withMeta(
        {
          ...state,
          link: {
            linkId,
            tokenSha256,
            passcodeHash,
            dateOfBirthRequired,
            issuedAt,
            ...(typeof graceMinutes === 'number' ? { graceMinutes } : {}),
            failures: 0,
            lockCount: 0,
            redemptions: 0,
            ...(env.phi !== undefined ? { tokenPhi: env.phi } : {}),
          },
        },
        env,
      );
    }
    case AppointmentEventType.PassCodeAttemptFailed: {
      const link = state.link;
      if (!link || link.linkId !== e.data.linkId) return withMeta(state, env);
      return withMeta({ ...state, link: afterPasscodeAttempt(link, e.data) }, env);
    }
    case AppointmentEventType.PatientLinkRedeemed: {
      const link = state.link;
      if (!link || link.linkId !== e.data.linkId) return withMeta(state, env);
      return withMeta(
        { ...state, link: { ...afterPasscodeAttempt(link), redemptions: link.redemptions + 1 } },
        env,
      );
    }
    default:
      return state;
  }
}
