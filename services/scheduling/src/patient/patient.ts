/**
 * The Patient aggregate: events, state and evolve. Pure: no I/O, no Node builtins.
 * Stream: `scheduling.patient-<id>`. Event `data` carries the patient id and key id only; every PHI field
 * (names, date of birth, contact, medical record number) travels sealed with the patient's own data key in
 * the envelope's `phi`.
 */
import type { SealedPhi } from '@haven/crypto';

export const PatientEventType = {
  Registered: 'haven.scheduling.v1.PatientRegistered',
} as const;

export interface PatientRegistered {
  readonly type: typeof PatientEventType.Registered;
  readonly data: { readonly patientId: string; readonly keyId: string };
}

export type PatientEvent = PatientRegistered;

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
    default:
      return state;
  }
}
