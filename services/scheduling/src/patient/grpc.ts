/**
 * gRPC handlers for patients. PHI is sealed with the patient's own data key before it reaches an event, and
 * every read that returns PHI records PhiAccessed first ("no event, no answer").
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError, PreconditionError, ValidationError } from '@haven/errors';
import { openPhi, sealPhi, unlessErased } from '@haven/crypto';
import { scheduling } from '@haven/proto';
import {
  breakGlassCovers,
  commandMetadata,
  encodePageToken,
  isPageKeyPair,
  keyPage,
  handleCommand,
  idempotencyKey,
  idempotentResourceId,
  requestRecord,
  recordBreakGlassUse,
  loadAggregate,
  requirePrincipal,
  type CallContext,
  type Principal,
} from '@haven/service';
import { isClinician, isStaff, requireSchedulingCaller, SchedulingScope } from '../access';
import type { SchedulingDeps } from '../deps';
import { RESOURCE_ID, requireResourceId } from '../ids';
import { recordPhiAccess, requirePurpose } from '../phi-access';
import { decidePatient, validatePatientPhi } from './decide';
import {
  evolvePatient,
  initialPatientState,
  patientStream,
  PATIENT_PHI_FIELDS,
  type PatientPhiField,
  type PatientPhi,
  type PatientState,
} from './patient';
import type { RegisteredPatient } from '../read-model';

type Deps = SchedulingDeps;

function phiOf(p: scheduling.Patient): PatientPhi {
  return {
    givenName: p.givenName,
    familyName: p.familyName,
    dateOfBirth: p.dateOfBirth,
    email: p.email,
    phone: p.phone,
    medicalRecordNumber: p.medicalRecordNumber,
  };
}

function str(record: Record<string, unknown>, key: string): string {
  const v = record[key];
  return typeof v === 'string' ? v : '';
}

function toProto(state: RegisteredPatient, phi?: Record<string, unknown>): scheduling.Patient {
  return scheduling.Patient.fromPartial({
    name: `patients/${state.patientId}`,
    ...(phi
      ? {
          givenName: str(phi, 'givenName'),
          familyName: str(phi, 'familyName'),
          dateOfBirth: str(phi, 'dateOfBirth'),
          email: str(phi, 'email'),
          phone: str(phi, 'phone'),
          medicalRecordNumber: str(phi, 'medicalRecordNumber'),
        }
      : {}),
    ...(state.createTime ? { createTime: new Date(state.createTime) } : {}),
    etag: String(state.revision),
  });
}

/** Loads a registered patient. Throws NotFoundError when there is none. */
export async function loadPatient(deps: Pick<Deps, 'store'>, patientId: string): Promise<RegisteredPatient> {
  const { state } = await loadAggregate<PatientState, { type: string; data: unknown }>({
    store: deps.store,
    stream: patientStream(patientId),
    evolve: evolvePatient,
    initialState: initialPatientState,
  });
  if (state.status !== 'registered') throw new NotFoundError(`patient ${patientId} not found`);
  return state;
}

/**
 * Loads a registered patient that was not erased (to book for, to write to). Throws NotFoundError when there is
 * none, PreconditionError "patient data erased" when it was erased.
 */
export async function loadLivePatient(
  deps: Pick<Deps, 'store'>,
  patientId: string,
): Promise<RegisteredPatient> {
  const patient = await loadPatient(deps, patientId);
  if (patient.erased) throw new PreconditionError('patient data erased');
  return patient;
}

/**
 * Opens a patient's sealed PHI. Throws PreconditionError "patient data erased" when the key was destroyed
 * (crypto-shredded).
 */
export async function openPatientPhi(
  deps: Pick<Deps, 'keys'>,
  patient: RegisteredPatient,
): Promise<Record<string, unknown>> {
  const sealed = patient.phi;
  if (!sealed || patient.erased) throw new PreconditionError('patient data erased');
  return unlessErased(() => openPhi(deps.keys, sealed), { missingKey: true });
}

function mayReadPatient(deps: Deps, principal: Principal, patient: RegisteredPatient): boolean {
  if (isStaff(principal, SchedulingScope.PatientsRead)) return true;
  return (
    isClinician(principal) &&
    (patient.registeredBy === principal.id ||
      deps.readModel.clinicianSeesPatient(principal.id, patient.patientId))
  );
}

/**
 * CreatePatient: staff and clinicians register patients; PHI is sealed, `data` holds ids only. Idempotent with
 * `request_id`: the patient's id is derived from the key, and a retry answers from the stored registration.
 */
export function createPatient(deps: Deps) {
  return async (
    request: scheduling.CreatePatientRequest,
    ctx: CallContext,
  ): Promise<scheduling.CreatePatientResponse> => {
    const principal = requirePrincipal(ctx);
    requireSchedulingCaller(principal, SchedulingScope.PatientsWrite);
    if (!request.patient) throw new ValidationError([{ field: 'patient', description: 'is required' }]);
    if (request.patientId !== '' && !RESOURCE_ID.test(request.patientId)) {
      throw new ValidationError([{ field: 'patient_id', description: 'must match [a-z0-9-]{4,63}' }]);
    }
    const key = idempotencyKey(ctx, request.requestId);
    const phi = phiOf(request.patient);
    const now = deps.clock();
    const violations = validatePatientPhi(phi, now);
    if (violations.length > 0) throw new ValidationError(violations);
    const patientId = request.patientId || (key ? idempotentResourceId(key, 'patient') : randomUUID());
    // The request is PHI: its fingerprint is keyed with the patient's own data key.
    const record = key
      ? requestRecord(
          key,
          { patientId: request.patientId, phi },
          (await deps.keys.getOrCreate(patientId)).key,
        )
      : undefined;
    const sealed = await sealPhi(deps.keys, patientId, { ...phi });
    const result = await handleCommand({
      store: deps.store,
      stream: patientStream(patientId),
      decide: (command, state: PatientState) =>
        decidePatient(command, state).map((e) => ({ ...e, phi: sealed })),
      evolve: evolvePatient,
      initialState: initialPatientState,
      command: { type: 'RegisterPatient' as const, data: { patientId, phi, keyId: sealed.keyId, now } },
      metadata: commandMetadata(ctx),
      ...(record ? { request: record } : {}),
      now: deps.clock,
    });
    if (result.state.status !== 'registered') throw new Error('patient not registered');
    deps.readModel.putPatient(result.state);
    if (!result.replayed) deps.logger.info({ patientId }, 'patient registered');
    // The caller just sent this PHI; echoing it back is not a new disclosure.
    return { patient: { ...toProto(result.state), ...request.patient, name: `patients/${patientId}` } };
  };
}

/** GetPatient: records PhiAccessed (purpose required), then answers with the opened PHI. */
export function getPatient(deps: Deps) {
  return async (
    request: scheduling.GetPatientRequest,
    ctx: CallContext,
  ): Promise<scheduling.GetPatientResponse> => {
    const principal = requirePrincipal(ctx);
    requireSchedulingCaller(principal, SchedulingScope.PatientsRead);
    const patientId = requireResourceId(request.name, 'patients');
    const why = requirePurpose(request.purpose);
    const fields = phiFieldsOf(request.readMask);
    const patient = await loadPatient(deps, patientId);
    const access = {
      principal,
      ctx,
      patientId,
      what: `patients/${patientId}`,
      fields,
      why,
    };
    if (!mayReadPatient(deps, principal, patient)) {
      if (breakGlassCovers(principal, `patients/${patientId}`)) {
        // Emergency access outside normal rights: every use is recorded against the grant (the grant itself
        // raised an alert for admins and auditors when identity issued it).
        await recordBreakGlassUse(deps.store, principal, `patients/${patientId}`, {
          correlationId: ctx.correlationId,
          service: 'scheduling',
          action: 'GetPatient',
          ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
        });
      } else {
        await recordPhiAccess(deps, { ...access, fields: [], outcome: 'denied' });
        throw new NotFoundError(`patient ${patientId} not found`);
      }
    }
    let phi: Record<string, unknown>;
    try {
      phi = await openPatientPhi(deps, patient);
    } catch (error) {
      await recordPhiAccess(deps, { ...access, fields: [], outcome: 'failed' }).catch(() => undefined);
      throw error;
    }
    await recordPhiAccess(deps, { ...access, outcome: 'granted' });
    return { patient: toProto(patient, onlyFields(phi, fields)) };
  };
}

/** The PHI field names a read mask asks for (all when empty). Throws ValidationError on an unknown path. */
function phiFieldsOf(readMask: readonly string[] | undefined): readonly PatientPhiField[] {
  if (!readMask || readMask.length === 0) return PATIENT_PHI_FIELDS;
  const known = new Set<string>(PATIENT_PHI_FIELDS);
  const unknown = readMask.filter((p) => !known.has(p));
  if (unknown.length > 0) {
    throw new ValidationError([
      {
        field: 'read_mask',
        description: `unknown field ${unknown.join(', ')}; one of ${PATIENT_PHI_FIELDS.join(', ')}`,
      },
    ]);
  }
  return PATIENT_PHI_FIELDS.filter((f) => readMask.includes(f));
}

/** The opened PHI restricted to `fields` (snake_case names; the PHI object is camelCase). */
function onlyFields(
  phi: Record<string, unknown>,
  fields: readonly PatientPhiField[],
): Record<string, unknown> {
  const camel = (f: string): string => f.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  return Object.fromEntries(fields.map((f) => [camel(f), phi[camel(f)]]));
}

/**
 * ListPatients: newest first; a clinician sees only their patients. Every patient returned is recorded with
 * PhiAccessed before the page leaves; erased (crypto-shredded) patients are skipped.
 */
export function listPatients(deps: Deps) {
  return async (
    request: scheduling.ListPatientsRequest,
    ctx: CallContext,
  ): Promise<scheduling.ListPatientsResponse> => {
    const principal = requirePrincipal(ctx);
    requireSchedulingCaller(principal, SchedulingScope.PatientsRead);
    const why = requirePurpose(request.purpose);
    const filter = ['patients', principal.id, request.medicalRecordNumber];
    const { size: pageSize, after } = keyPage(
      request,
      filter,
      { defaultSize: 50, maxSize: 100 },
      isPageKeyPair,
    );
    const key = (p: RegisteredPatient): [string, string] => [p.createTime ?? '', p.patientId];
    const newerFirst = (a: [string, string], b: readonly [string, string]) =>
      a[0] === b[0] ? (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0) : a[0] < b[0] ? 1 : -1;
    const candidates = [...deps.readModel.patients()]
      .filter((p) => mayReadPatient(deps, principal, p))
      .sort((a, b) => newerFirst(key(a), key(b)))
      .filter((p) => !after || newerFirst(key(p), after) > 0);
    const page: { patient: RegisteredPatient; phi: Record<string, unknown> }[] = [];
    let more = false;
    for (const patient of candidates) {
      let phi: Record<string, unknown>;
      try {
        phi = await openPatientPhi(deps, patient);
      } catch {
        continue; // erased
      }
      if (request.medicalRecordNumber !== '' && phi['medicalRecordNumber'] !== request.medicalRecordNumber)
        continue;
      if (page.length === pageSize) {
        more = true;
        break;
      }
      page.push({ patient, phi });
    }
    for (const { patient } of page) {
      await recordPhiAccess(deps, {
        principal,
        ctx,
        patientId: patient.patientId,
        what: `patients/${patient.patientId}`,
        fields: PATIENT_PHI_FIELDS,
        why,
        outcome: 'granted',
      });
    }
    const last = page[page.length - 1];
    return {
      patients: page.map(({ patient, phi }) => toProto(patient, phi)),
      nextPageToken: more && last ? encodePageToken(filter, key(last.patient)) : '',
    };
  };
}
