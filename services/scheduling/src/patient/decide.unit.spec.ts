import { AlreadyExistsError, ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import { decidePatient, isCalendarDate, type PatientCommand } from './decide';
import { evolvePatient, initialPatientState, PatientEventType, type PatientPhi } from './patient';

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

describe('isCalendarDate', () => {
  it('accepts real dates only', () => {
    expect(isCalendarDate('2024-02-29')).toBe(true);
    expect(isCalendarDate('2023-02-29')).toBe(false);
    expect(isCalendarDate('2023-2-1')).toBe(false);
  });
});
