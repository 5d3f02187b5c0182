/**
 * Patients (`/api/patients`): register one (front desk), list them, and read one patient's name for the
 * clinician console. Reads are PHI reads for a declared purpose (`?purpose=`, default treatment) that scheduling
 * records as PhiAccessed.
 */
import type { Request, Response, Router } from 'express';
import { phiEvents, scheduling } from '@haven/proto';
import type { RouteContext } from '../context';
import { asRecord, invalid, lastSegment, pathId, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { idempotencyKey } from '../security';
import { LIST_FIELDS, staff } from './guards';

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

/** The declared purpose of a PHI read (`?purpose=`, default treatment); answers 400 and undefined when unknown. */
function purposeOf(req: Request, res: Response): phiEvents.PhiAccessPurpose | undefined {
  const name = typeof req.query['purpose'] === 'string' ? req.query['purpose'] : 'treatment';
  const purpose = PURPOSES[name];
  if (purpose === undefined)
    invalid(res, [{ field: 'purpose', description: 'must be treatment, payment or operations' }]);
  return purpose;
}

/** The registration form as a CreatePatientRequest, or undefined after answering 400. */
function createPatientRequest(req: Request, res: Response): scheduling.CreatePatientRequest | undefined {
  const body = asRecord(req.body);
  const violations: HttpFieldViolation[] = [];
  const name = stringField(body, 'name', 200, violations) ?? '';
  const dateOfBirth = stringField(body, 'dateOfBirth', 10, violations) ?? '';
  const email = stringField(body, 'email', 254, violations) ?? '';
  const phone = stringField(body, 'phone', 32, violations) ?? '';
  const requestId = idempotencyKey(req, violations);
  const { givenName, familyName } = splitName(name);
  if (name.trim() === '') violations.push({ field: 'name', description: 'is required' });
  else if (givenName === '')
    violations.push({ field: 'name', description: 'needs a given and a family name' });
  if (invalid(res, violations)) return undefined;
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
  const { clients } = ctx;

  api.post(
    '/patients',
    staff(ctx, { rpc: 'scheduling.CreatePatient', fields: PATIENT_FIELDS }, async (req, res, { token }) => {
      const request = createPatientRequest(req, res);
      if (!request) return;
      const r = await ctx.call(res, token, clients.scheduling, 'createPatient', request);
      res.status(201).json({ patient: { id: lastSegment(r.patient?.name ?? '') } });
    }),
  );

  api.get(
    '/patients',
    staff(ctx, { rpc: 'scheduling.ListPatients', fields: LIST_FIELDS }, async (req, res, { token }) => {
      const purpose = purposeOf(req, res);
      if (purpose === undefined) return;
      const r = await ctx.call(
        res,
        token,
        clients.scheduling,
        'listPatients',
        scheduling.ListPatientsRequest.fromPartial({ pageSize: 100, purpose }),
      );
      res.status(200).json({
        patients: r.patients.map((p) => ({
          id: lastSegment(p.name),
          name: `${p.givenName} ${p.familyName}`.trim(),
          dateOfBirth: p.dateOfBirth,
        })),
      });
    }),
  );

  // One patient's name, for the clinician console: a PHI read for the declared purpose (default treatment),
  // recorded by scheduling as PhiAccessed naming only the two name fields (the read mask): minimum necessary.
  api.get(
    '/patients/:id',
    staff(ctx, { rpc: 'scheduling.GetPatient', fields: LIST_FIELDS }, async (req, res, { token }) => {
      const id = pathId(req, res);
      if (!id) return;
      const purpose = purposeOf(req, res);
      if (purpose === undefined) return;
      const r = await ctx.call(
        res,
        token,
        clients.scheduling,
        'getPatient',
        scheduling.GetPatientRequest.fromPartial({
          name: `patients/${id}`,
          purpose,
          readMask: ['given_name', 'family_name'],
        }),
      );
      const p = r.patient;
      res.status(200).json({ patient: { id, name: `${p?.givenName ?? ''} ${p?.familyName ?? ''}`.trim() } });
    }),
  );
}
