/**
 * The Patient aggregate: events, state and evolve. Pure: no I/O, no Node builtins.
 * Stream: `scheduling.patient-<id>`. Event `data` carries the patient id and key id only; every PHI field
 * (names, date of birth, contact, medical record number) travels sealed with the patient's own data key in
 * the envelope's `phi`.
 */
import type { SealedPhi } from '@haven/crypto';

export const PatientEventType = {
  Registered: 'haven.scheduling.v1.PatientRegistered',
  Erased: 'haven.scheduling.v1.PatientErased',
  ErasureRefused: 'haven.scheduling.v1.PatientErasureRefused',
} as const;

/** Why an admin erased a patient (proto `PatientErasureReason`): a code, never free text. */
export const ErasureReason = {
  PatientRequest: 'PATIENT_REQUEST',
  RegisteredInError: 'REGISTERED_IN_ERROR',
  DuplicateRecord: 'DUPLICATE_RECORD',
  RetentionExpired: 'RETENTION_EXPIRED',
  LegalOrder: 'LEGAL_ORDER',
} as const;
export type ErasureReason = (typeof ErasureReason)[keyof typeof ErasureReason];
/** Every {@link ErasureReason}. */
export const ERASURE_REASONS: readonly ErasureReason[] = Object.values(ErasureReason);

/** What stops an erasure (proto `PatientErasureBlocker`). */
export const ErasureBlocker = {
  FutureAppointment: 'FUTURE_APPOINTMENT',
  VisitInProgress: 'VISIT_IN_PROGRESS',
} as const;
export type ErasureBlocker = (typeof ErasureBlocker)[keyof typeof ErasureBlocker];

export interface PatientRegistered {
  readonly type: typeof PatientEventType.Registered;
  readonly data: { readonly patientId: string; readonly keyId: string };
}

/**
 * The patient was erased: their data key is destroyed right after (crypto-shredding), so every field, message
 * and chat sealed with it becomes unreadable. Id and reason code only.
 */
export interface PatientErased {
  readonly type: typeof PatientEventType.Erased;
  readonly data: { readonly patientId: string; readonly reason: ErasureReason };
}

/** An erasure was refused (an appointment to come, a visit in progress). Ids, codes and counts only. */
export interface PatientErasureRefused {
  readonly type: typeof PatientEventType.ErasureRefused;
  readonly data: {
    readonly patientId: string;
    readonly reason: ErasureReason;
    readonly blocker: ErasureBlocker;
    /** The appointments that block it. */
    readonly appointmentIds: readonly string[];
  };
}

export type PatientEvent = PatientRegistered | PatientErased | PatientErasureRefused;

/** The PHI of a patient, as sealed in PatientRegistered's `phi`. */
export interface PatientPhi {
  readonly givenName: string;
  readonly familyName: string;
  /** `YYYY-MM-DD`. */
  readonly dateOfBirth: string;
  readonly email: string;
  readonly phone: string;
  readonly medicalRecordNumber: string;
}

/** Names of the PHI fields, as recorded in PhiAccessed (`what`). */
export const PATIENT_PHI_FIELDS = [
  'given_name',
  'family_name',
  'date_of_birth',
  'email',
  'phone',
  'medical_record_number',
] as const;

/** One PHI field name of a patient. */
export type PatientPhiField = (typeof PATIENT_PHI_FIELDS)[number];

export type PatientState =
  | { readonly status: 'none' }
  | {
      readonly status: 'registered';
      readonly patientId: string;
      readonly keyId: string;
      /** Absent only in unit tests (plain events). */
      readonly phi?: SealedPhi;
      readonly createTime?: string;
      /** Id of the user who registered the patient. */
      readonly registeredBy?: string;
      /** Set once the patient was erased (their key destroyed, or about to be). */
      readonly erased?: { readonly reason: ErasureReason; readonly at?: string };
      readonly revision: number;
    };

export const initialPatientState: PatientState = { status: 'none' };

export function patientStream(patientId: string): string {
  return `scheduling.patient-${patientId}`;
}

/** Folds one event. Unknown types leave the state unchanged. */
export function evolvePatient(state: PatientState, event: { type: string; data: unknown }): PatientState {
  const e = event as PatientEvent;
  const env = event as {
    occurredAt?: string;
    revision?: bigint | number;
    phi?: SealedPhi;
    actor?: { id: string };
  };
  switch (e.type) {
    case PatientEventType.Registered:
      return {
        status: 'registered',
        patientId: e.data.patientId,
        keyId: e.data.keyId,
        revision: env.revision !== undefined ? Number(env.revision) : 0,
        ...(env.phi !== undefined ? { phi: env.phi } : {}),
        ...(env.occurredAt !== undefined ? { createTime: env.occurredAt } : {}),
        ...(env.actor !== undefined ? { registeredBy: env.actor.id } : {}),
      };
    case PatientEventType.Erased:
      if (state.status !== 'registered') return state;
      return {
        ...state,
        erased: { reason: e.data.reason, ...(env.occurredAt !== undefined ? { at: env.occurredAt } : {}) },
        revision: env.revision !== undefined ? Number(env.revision) : state.revision + 1,
      };
    default:
      // Every other event of the stream still moves the revision (the read model folds in order).
      if (state.status !== 'registered') return state;
      return { ...state, revision: env.revision !== undefined ? Number(env.revision) : state.revision + 1 };
  }
}
