/**
 * Patients (`/api/patients`): register one (front desk), list them, and read one patient's name for the
 * clinician console. Reads are PHI reads for a declared purpose (`?purpose=`, default treatment) that scheduling
 * records as PhiAccessed.
 */
import type { Request, Router } from 'express';
import { phiEvents, scheduling } from '@haven/proto';
import type { PatientCreatedView, PatientListView, PatientNameView, PatientView } from '../appointment-view';
import type { RouteContext } from '../context';
import { choiceOf, lastSegment, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { idempotencyKey } from '../security';
import { LIST_FIELDS, staff } from './guards';
import { oneCall } from './one-call';
import type { CallInput } from './one-call';

const PATIENT_FIELDS = {
  patient: 'form',
  'patient.given_name': 'name',
  'patient.family_name': 'name',
  'patient.date_of_birth': 'dateOfBirth',
  'patient.email': 'email',
  'patient.phone': 'phone',
  request_id: 'idempotencyKey',
} as const;
const PURPOSES: Readonly<Record<string, phiEvents.PhiAccessPurpose>> = {
  treatment: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT,
  payment: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PAYMENT,
  operations: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_OPERATIONS,
};

/** Splits "Given Names Family" at the last space (a single word is the family name). */
function splitName(full: string): { givenName: string; familyName: string } {
  const trimmed = full.trim().replace(/\s+/g, ' ');
  const i = trimmed.lastIndexOf(' ');
  return i < 0
    ? { givenName: '', familyName: trimmed }
    : { givenName: trimmed.slice(0, i), familyName: trimmed.slice(i + 1) };
}

/** The declared purpose of a PHI read (`?purpose=`, default treatment); a violation when unknown. */
function purposeOf(req: Request, violations: HttpFieldViolation[]): phiEvents.PhiAccessPurpose {
  const name = typeof req.query['purpose'] === 'string' ? req.query['purpose'] : 'treatment';
  const purpose = choiceOf(PURPOSES, name);
  if (purpose !== undefined) return purpose;
  violations.push({ field: 'purpose', description: 'must be treatment, payment or operations' });
  return phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_UNSPECIFIED;
}

/** The registration form as a CreatePatientRequest; its field violations in `violations`. */
function createPatientRequest({ req, body, violations }: CallInput): scheduling.CreatePatientRequest {
  const name = stringField(body, 'name', 200, violations) ?? '';
  const dateOfBirth = stringField(body, 'dateOfBirth', 10, violations) ?? '';
  const email = stringField(body, 'email', 254, violations) ?? '';
  const phone = stringField(body, 'phone', 32, violations) ?? '';
  const requestId = idempotencyKey(req, violations);
  const { givenName, familyName } = splitName(name);
  if (name.trim() === '') violations.push({ field: 'name', description: 'is required' });
  else if (givenName === '')
    violations.push({ field: 'name', description: 'needs a given and a family name' });
  return scheduling.CreatePatientRequest.fromPartial({
    patient: {
      givenName,
      familyName,
      dateOfBirth: dateOfBirth.trim(),
      email: email.trim(),
      phone: phone.replace(/[\s()-]/g, ''),
    },
    requestId,
  });
}

/** Registers POST /patients, GET /patients and GET /patients/:id on the /api router. */
export function registerPatientRoutes(api: Router, ctx: RouteContext): void {
  api.post(
    '/patients',
    staff(
      ctx,
      { rpc: 'scheduling.CreatePatient', fields: PATIENT_FIELDS },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'createPatient',
        request: createPatientRequest,
        status: 201,
        view: (r): PatientCreatedView => ({ patient: { id: lastSegment(r.patient?.name ?? '') } }),
      }),
    ),
  );

  api.get(
    '/patients',
    staff(
      ctx,
      { rpc: 'scheduling.ListPatients', fields: LIST_FIELDS },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'listPatients',
        request: ({ req, violations }) =>
          scheduling.ListPatientsRequest.fromPartial({ pageSize: 100, purpose: purposeOf(req, violations) }),
        view: (r): PatientListView => ({
          patients: r.patients.map((p): PatientView => ({
            id: lastSegment(p.name),
            name: `${p.givenName} ${p.familyName}`.trim(),
            dateOfBirth: p.dateOfBirth,
          })),
        }),
      }),
    ),
  );

  // One patient's name, for the clinician console: a PHI read for the declared purpose (default treatment),
  // recorded by scheduling as PhiAccessed naming only the two name fields (the read mask): minimum necessary.
  api.get(
    '/patients/:id',
    staff(
      ctx,
      { rpc: 'scheduling.GetPatient', fields: LIST_FIELDS },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'getPatient',
        request: ({ req, id, violations }) =>
          scheduling.GetPatientRequest.fromPartial({
            name: `patients/${id}`,
            purpose: purposeOf(req, violations),
            readMask: ['given_name', 'family_name'],
          }),
        view: ({ patient: p }, { id }): PatientNameView => ({
          patient: { id, name: `${p?.givenName ?? ''} ${p?.familyName ?? ''}`.trim() },
        }),
      }),
    ),
  );
}
