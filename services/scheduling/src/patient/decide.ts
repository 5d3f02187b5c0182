/**
 * Commands and decide() for the Patient aggregate. Pure: validation and rules only.
 */
import { AlreadyExistsError, NotFoundError, ValidationError, type FieldViolation } from '@haven/errors';
import {
  ERASURE_REASONS,
  ErasureBlocker,
  PatientEventType,
  type ErasureReason,
  type PatientEvent,
  type PatientPhi,
  type PatientState,
} from './patient';

export interface RegisterPatient {
  readonly type: 'RegisterPatient';
  readonly data: {
    readonly patientId: string;
    /** Validated here; the handler seals it into the event's `phi`, never into `data`. */
    readonly phi: PatientPhi;
    /** Key id of the data key that sealed `phi`. */
    readonly keyId: string;
    readonly now: Date;
  };
}

/**
 * Erases a patient (admin). The handler brings what the other aggregates say: the patient's appointments still
 * to come and their visits in progress.
 */
export interface ErasePatient {
  readonly type: 'ErasePatient';
  readonly data: {
    readonly patientId: string;
    readonly reason: string;
    /** Appointments of the patient that are booked and not started yet. */
    readonly futureAppointments: readonly string[];
    /** Appointments of the patient whose visit is in progress. */
    readonly visitsInProgress: readonly string[];
  };
}

export type PatientCommand = RegisterPatient | ErasePatient;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,63}$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const NAME_MAX = 200;

/** True when `value` is a real calendar date `YYYY-MM-DD`. */
export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

/** The field violations of a patient's PHI (paths under `patient.`); empty when valid. Never echoes values. */
export function validatePatientPhi(phi: PatientPhi, now: Date): FieldViolation[] {
  const v: FieldViolation[] = [];
  const name = (field: string, value: string) => {
    if (value.trim().length === 0) v.push({ field: `patient.${field}`, description: 'is required' });
    else if (value.length > NAME_MAX)
      v.push({ field: `patient.${field}`, description: `must be at most ${NAME_MAX} characters` });
  };
  name('given_name', phi.givenName);
  name('family_name', phi.familyName);
  if (phi.dateOfBirth === '') v.push({ field: 'patient.date_of_birth', description: 'is required' });
  else if (!isCalendarDate(phi.dateOfBirth))
    v.push({ field: 'patient.date_of_birth', description: 'must be a date YYYY-MM-DD' });
  else if (phi.dateOfBirth > now.toISOString().slice(0, 10) || phi.dateOfBirth < '1880-01-01')
    v.push({ field: 'patient.date_of_birth', description: 'must be a plausible past date' });
  if (phi.email !== '' && !EMAIL.test(phi.email))
    v.push({ field: 'patient.email', description: 'must be an e-mail address' });
  if (phi.phone !== '' && !E164.test(phi.phone))
    v.push({ field: 'patient.phone', description: 'must be an E.164 number (+15551234567)' });
  if (phi.medicalRecordNumber.length > 64)
    v.push({ field: 'patient.medical_record_number', description: 'must be at most 64 characters' });
  return v;
}

/**
 * Decides which events a command produces.
 * Throws ValidationError on bad PHI, AlreadyExistsError when the patient already exists.
 */
export function decidePatient(command: PatientCommand, state: PatientState): PatientEvent[] {
  switch (command.type) {
    case 'RegisterPatient': {
      const violations = validatePatientPhi(command.data.phi, command.data.now);
      if (violations.length > 0) throw new ValidationError(violations);
      if (state.status !== 'none') throw new AlreadyExistsError('patient already exists');
      return [
        {
          type: PatientEventType.Registered,
          data: { patientId: command.data.patientId, keyId: command.data.keyId },
        },
      ];
    }
    case 'ErasePatient':
      return decideErasure(command, state);
  }
}

/**
 * Erasure: `PatientErased`, or `PatientErasureRefused` while a visit is in progress or an appointment is to
 * come (the handler answers that refusal as FAILED_PRECONDITION once it is recorded). Nothing when the patient
 * is already erased (a retry, or the finishing of an interrupted erasure). Throws ValidationError on a missing
 * or unknown reason, NotFoundError when there is no such patient.
 */
function decideErasure(command: ErasePatient, state: PatientState): PatientEvent[] {
  const { patientId, futureAppointments, visitsInProgress } = command.data;
  const reason = command.data.reason as ErasureReason;
  if (!ERASURE_REASONS.includes(reason)) {
    throw new ValidationError([
      { field: 'reason', description: `is required, one of ${ERASURE_REASONS.join(', ')}` },
    ]);
  }
  if (state.status !== 'registered') throw new NotFoundError(`patient ${patientId} not found`);
  if (state.erased) return [];
  const blocked: [ErasureBlocker, readonly string[]] | undefined =
    visitsInProgress.length > 0
      ? [ErasureBlocker.VisitInProgress, visitsInProgress]
      : futureAppointments.length > 0
        ? [ErasureBlocker.FutureAppointment, futureAppointments]
        : undefined;
  if (blocked) {
    return [
      {
        type: PatientEventType.ErasureRefused,
        data: { patientId, reason, blocker: blocked[0], appointmentIds: [...blocked[1]].sort() },
      },
    ];
  }
  return [{ type: PatientEventType.Erased, data: { patientId, reason } }];
}
