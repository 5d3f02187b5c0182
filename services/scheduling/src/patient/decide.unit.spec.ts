import { AlreadyExistsError, NotFoundError, ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import { decidePatient, isCalendarDate, type PatientCommand } from './decide';
import {
  ErasureBlocker,
  ErasureReason,
  evolvePatient,
  initialPatientState,
  PatientEventType,
  type PatientPhi,
} from './patient';

const spec = { decide: decidePatient, evolve: evolvePatient, initialState: initialPatientState };
const now = new Date('2026-11-26T09:00:00Z');
const phi: PatientPhi = {
  givenName: 'Ada',
  familyName: 'Lovelace',
  dateOfBirth: '1990-12-10',
  email: 'ada@example.org',
  phone: '+15551234567',
  medicalRecordNumber: 'MRN-1',
};
const register = (over: Partial<PatientPhi> = {}): PatientCommand => ({
  type: 'RegisterPatient',
  data: { patientId: 'pat-1', phi: { ...phi, ...over }, keyId: 'pk-1', now },
});

describe('when no patient exists', () => {
  it('registers the patient with ids only in data', () =>
    given(spec)
      .when(register())
      .then([{ type: PatientEventType.Registered, data: { patientId: 'pat-1', keyId: 'pk-1' } }]));
  it('refuses a missing name and a bad date of birth, without echoing the values', () => {
    const err = given(spec)
      .when(register({ givenName: ' ', dateOfBirth: '1990-02-30' }))
      .error() as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.violations.map((v) => v.field)).toEqual(['patient.given_name', 'patient.date_of_birth']);
    expect(err.message).not.toMatch(/1990/);
  });
  it('refuses a date of birth in the future', () =>
    given(spec)
      .when(register({ dateOfBirth: '2030-01-01' }))
      .thenThrows(ValidationError, /plausible/));
  it('refuses a malformed phone and e-mail', () =>
    given(spec)
      .when(register({ phone: '555', email: 'nope' }))
      .thenThrows(ValidationError, /email.*phone/));
});

describe('when the patient exists', () => {
  it('refuses to register it again', () =>
    given(spec, [{ type: PatientEventType.Registered, data: { patientId: 'pat-1', keyId: 'pk-1' } }])
      .when(register())
      .thenThrows(AlreadyExistsError, /already exists/));
});

const registered = { type: PatientEventType.Registered, data: { patientId: 'pat-1', keyId: 'pk-1' } };
const erase = (
  over: { reason?: string; futureAppointments?: string[]; visitsInProgress?: string[] } = {},
): PatientCommand => ({
  type: 'ErasePatient',
  data: {
    patientId: 'pat-1',
    reason: over.reason ?? ErasureReason.PatientRequest,
    futureAppointments: over.futureAppointments ?? [],
    visitsInProgress: over.visitsInProgress ?? [],
  },
});

describe('when an admin erases a registered patient', () => {
  it('records PatientErased with the id and the reason code only', () =>
    given(spec, [registered])
      .when(erase())
      .then([{ type: PatientEventType.Erased, data: { patientId: 'pat-1', reason: 'PATIENT_REQUEST' } }]));
  it('refuses without a reason, or with a reason that is not a code', () => {
    given(spec, [registered])
      .when(erase({ reason: '' }))
      .thenThrows(ValidationError, /reason/);
    given(spec, [registered])
      .when(erase({ reason: 'she asked nicely' }))
      .thenThrows(ValidationError, /one of/);
  });
  it('records the refusal while an appointment is to come', () =>
    given(spec, [registered])
      .when(erase({ futureAppointments: ['apt-2', 'apt-1'] }))
      .then([
        {
          type: PatientEventType.ErasureRefused,
          data: {
            patientId: 'pat-1',
            reason: 'PATIENT_REQUEST',
            blocker: ErasureBlocker.FutureAppointment,
            appointmentIds: ['apt-1', 'apt-2'],
          },
        },
      ]));
  it('records the refusal while a visit is in progress (before any appointment to come)', () =>
    given(spec, [registered])
      .when(erase({ futureAppointments: ['apt-2'], visitsInProgress: ['apt-1'] }))
      .then([
        {
          type: PatientEventType.ErasureRefused,
          data: {
            patientId: 'pat-1',
            reason: 'PATIENT_REQUEST',
            blocker: ErasureBlocker.VisitInProgress,
            appointmentIds: ['apt-1'],
          },
        },
      ]));
});

describe('when the patient was erased', () => {
  const erased = { type: PatientEventType.Erased, data: { patientId: 'pat-1', reason: 'LEGAL_ORDER' } };
  it('records nothing more (a retry finishes the key destruction only)', () =>
    given(spec, [registered, erased]).when(erase()).then([]));
  it('folds the erasure into the state', () => {
    const state = [registered, erased].reduce(evolvePatient, initialPatientState);
    expect(state).toMatchObject({ status: 'registered', erased: { reason: 'LEGAL_ORDER' }, revision: 1 });
  });
});

describe('when there is no such patient', () => {
  it('refuses to erase it', () =>
    given(spec)
      .when(erase())
      .thenThrows(NotFoundError, /not found/));
});

describe('isCalendarDate', () => {
  it('accepts real dates only', () => {
    expect(isCalendarDate('2024-02-29')).toBe(true);
    expect(isCalendarDate('2023-02-29')).toBe(false);
    expect(isCalendarDate('2023-2-1')).toBe(false);
  });
});
