/**
 * Scheduling over a real nats-server, in process: PHI sealed in events, PhiAccessed before every PHI answer
 * (and no answer when it cannot be recorded), crypto-shredding, overlap refusal through the clinician's
 * schedule stream, listing, and patient links end to end (redeem → patient token verified over HTTP JWKS,
 * lockout, reissue, cancelled appointment, ended visit), recurring appointments (per-occurrence conflicts,
 * cancel one or the rest). Captures the service's log and checks no PHI is in it.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { JetStreamEventStore } from '@haven/eventstore';
import { newEventId } from '@haven/eventstore';
import { phiEvents, scheduling } from '@haven/proto';
import {
  callUnary,
  clientCallMetadata,
  createJwtVerifier,
  createVerifierFromConfig,
  parseStatusDetails,
} from '@haven/service';
import { captureLogs, createTestIssuer } from '@haven/service/testing';
import { setupTestTelemetry } from '@haven/telemetry/testing';
import { failureOf, passesEventually, type NatsServerHandle } from '@haven/testing';
import { addClinicDays } from './appointment/series';
import type { RunningScheduling } from './server';
import { failingPhiAccessAppends } from './testing';
import { startSchedulingSuite, type SchedulingSuite } from '../test/suite';

jest.setTimeout(60_000);

const issuer = createTestIssuer();
const TREATMENT = phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT;
const OPERATIONS = phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_OPERATIONS;
const NAME = 'Zebulon';
const FAMILY = 'Quixfeather';
const DOB = '1971-03-14';
const REASON = 'persistent migraine with aura';

let suite: SchedulingSuite;
let nats: NatsServerHandle;
let dataDir: string;
let service: RunningScheduling;
let client: scheduling.SchedulingServiceClient;
let store: JetStreamEventStore;
const logs = captureLogs('scheduling');
/** When true, appends to PhiAccessed streams fail (fault injection). */
let failPhiAccessAppends = false;
const secrets: string[] = [];

beforeAll(async () => {
  suite = await startSchedulingSuite({
    issuer,
    dataDirPrefix: 'haven-scheduling-',
    env: { HAVEN_CLINIC_TIME_ZONE: 'America/New_York' },
    logger: logs.logger,
    wrapStore: failingPhiAccessAppends(() => failPhiAccessAppends),
  });
  ({ nats, dataDir, service, client, store } = suite);
});

afterAll(() => suite?.stop());

const as = (sub: string, role: string) => suite.as(sub, role);
const frontDesk = () => as('u-frontdesk', 'front_desk');
const clinician = (id = 'clin-a') => as(id, 'clinician');

/** GetPatient for `patientId` with `request`'s purpose (and read mask), as `metadata`'s caller. */
const getPatient = (
  patientId: string,
  request: { purpose: scheduling.GetPatientRequest['purpose']; readMask?: string[] },
  metadata: grpc.Metadata,
) => callUnary(client, 'getPatient', { name: `patients/${patientId}`, ...request }, metadata);

async function createPatient(over: Partial<scheduling.Patient> = {}): Promise<string> {
  const res = await callUnary(
    client,
    'createPatient',
    scheduling.CreatePatientRequest.fromPartial({
      patient: { givenName: NAME, familyName: FAMILY, dateOfBirth: DOB, phone: '+15551230000', ...over },
    }),
    await frontDesk(),
  );
  return res.patient!.name.slice('patients/'.length);
}

/** Slot starting `minutes` from now, 30 minutes long. */
const slot = (minutes: number, length = 30) => {
  const start = new Date(Math.ceil((Date.now() + minutes * 60_000) / 1000) * 1000);
  return { startTime: start, endTime: new Date(start.getTime() + length * 60_000) };
};

async function book(
  patientId: string,
  times: { startTime: Date; endTime: Date },
  options: { clinicianId?: string; reason?: string; metadata?: grpc.Metadata } = {},
): Promise<string> {
  const res = await callUnary(
    client,
    'bookAppointment',
    scheduling.BookAppointmentRequest.fromPartial({
      appointment: {
        clinician: `users/${options.clinicianId ?? 'clin-a'}`,
        patient: `patients/${patientId}`,
        reason: options.reason ?? '',
        ...times,
      },
    }),
    options.metadata ?? (await frontDesk()),
  );
  return res.appointment!.name.slice('appointments/'.length);
}

async function issueLink(appointmentId: string, requireDateOfBirth = false) {
  const res = await callUnary(
    client,
    'issuePatientLink',
    scheduling.IssuePatientLinkRequest.fromPartial({
      appointment: `appointments/${appointmentId}`,
      requireDateOfBirth,
    }),
    await frontDesk(),
  );
  secrets.push(res.token, res.passcode);
  return res;
}

const redeem = (token: string, passcode: string, dateOfBirth = '') =>
  callUnary(
    client,
    'redeemPatientLink',
    scheduling.RedeemPatientLinkRequest.fromPartial({ token, passcode, dateOfBirth }),
    clientCallMetadata({}),
  );

/** JSON of stored events (revisions are bigints). */
const json = (value: unknown) =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

const wrongPasscode = (passcode: string) => String((Number(passcode) + 1) % 100_000_000).padStart(8, '0');

describe('patients', () => {
  it('seals the PHI with the patient key: the raw event has ids in data and PHI only in phi', async () => {
    const patientId = await createPatient();
    const [event] = await store.read(`scheduling.patient-${patientId}`);
    expect(event?.type).toBe('haven.scheduling.v1.PatientRegistered');
    expect(Object.keys(event!.data).sort()).toEqual(['keyId', 'patientId']);
    expect(event?.phi?.subject).toBe(patientId);
    const raw = json(event);
    for (const phi of [NAME, FAMILY, DOB, '+15551230000']) expect(raw).not.toContain(phi);
    expect(statSync(join(dataDir, 'scheduling', 'patient-keys')).isDirectory()).toBe(true);
  });

  it('requires a purpose to read PHI', async () => {
    const patientId = await createPatient();
    const error = await failureOf(
      callUnary(client, 'getPatient', { name: `patients/${patientId}`, purpose: 0 }, await frontDesk()),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(error).fieldViolations.map((v) => v.field)).toEqual(['purpose']);
    expect(await store.read(`scheduling.patient_access-${patientId}`)).toEqual([]);
  });

  it('appends PhiAccessed (who, whose, what, why, outcome) before it answers with the PHI', async () => {
    const patientId = await createPatient();
    const res = await getPatient(patientId, { purpose: OPERATIONS }, await frontDesk());
    expect(res.patient).toMatchObject({ givenName: NAME, familyName: FAMILY, dateOfBirth: DOB });
    // Already there when the answer arrives: no polling.
    const access = await store.read(`scheduling.patient_access-${patientId}`);
    expect(access).toHaveLength(1);
    expect(access[0]?.type).toBe('haven.events.v1.PhiAccessed');
    expect(access[0]?.data).toMatchObject({
      who: { kind: 'user', id: 'u-frontdesk', role: 'front_desk' },
      whose: `patients/${patientId}`,
      what: `patients/${patientId}`,
      why: 'PHI_ACCESS_PURPOSE_OPERATIONS',
      outcome: 'granted',
      method: '/haven.scheduling.v1.SchedulingService/GetPatient',
    });
    expect(json(access[0])).not.toContain(NAME);
  });

  it('opens and records only the fields a read mask asks for (minimum necessary)', async () => {
    const patientId = await createPatient();
    const res = await getPatient(
      patientId,
      { purpose: TREATMENT, readMask: ['given_name', 'family_name'] },
      await frontDesk(),
    );
    expect(res.patient).toMatchObject({ givenName: NAME, familyName: FAMILY, dateOfBirth: '' });
    const access = await store.read(`scheduling.patient_access-${patientId}`);
    expect((access[0]?.data as { fields?: unknown }).fields).toEqual(['given_name', 'family_name']);

    const bad = await failureOf(
      getPatient(patientId, { purpose: TREATMENT, readMask: ['given_name', 'diagnosis'] }, await frontDesk()),
    );
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(bad).fieldViolations.map((v) => v.field)).toEqual(['read_mask']);
    expect(await store.read(`scheduling.patient_access-${patientId}`)).toHaveLength(1);
  });

  it('returns no PHI when PhiAccessed cannot be appended (UNAVAILABLE)', async () => {
    const patientId = await createPatient();
    const appointmentId = await book(patientId, slot(600), { reason: REASON });
    failPhiAccessAppends = true;
    try {
      const error = await failureOf(getPatient(patientId, { purpose: OPERATIONS }, await frontDesk()));
      expect(error.code).toBe(grpc.status.UNAVAILABLE);
      expect(JSON.stringify(error)).not.toContain(NAME);
      const list = await failureOf(
        callUnary(
          client,
          'listPatients',
          scheduling.ListPatientsRequest.fromPartial({ purpose: OPERATIONS }),
          await frontDesk(),
        ),
      );
      expect(list.code).toBe(grpc.status.UNAVAILABLE);
      const full = await failureOf(
        callUnary(
          client,
          'getAppointment',
          {
            name: `appointments/${appointmentId}`,
            view: scheduling.AppointmentView.APPOINTMENT_VIEW_FULL,
            purpose: TREATMENT,
          },
          await frontDesk(),
        ),
      );
      expect(full.code).toBe(grpc.status.UNAVAILABLE);
      expect(JSON.stringify(full)).not.toContain('migraine');
    } finally {
      failPhiAccessAppends = false;
    }
    expect(await store.read(`scheduling.patient_access-${patientId}`)).toEqual([]);
  });

  it('lists patients with their PHI and records one PhiAccessed each; pages with a token', async () => {
    const a = await createPatient({ givenName: 'Listable', medicalRecordNumber: `MRN-${randomUUID()}` });
    const meta = await frontDesk();
    const first = await callUnary(
      client,
      'listPatients',
      scheduling.ListPatientsRequest.fromPartial({ purpose: OPERATIONS, pageSize: 1 }),
      meta,
    );
    expect(first.patients).toHaveLength(1);
    expect(first.patients[0]?.name).toBe(`patients/${a}`); // newest first
    expect(first.patients[0]?.givenName).toBe('Listable');
    expect(first.nextPageToken).not.toBe('');
    const second = await callUnary(
      client,
      'listPatients',
      scheduling.ListPatientsRequest.fromPartial({
        purpose: OPERATIONS,
        pageSize: 1,
        pageToken: first.nextPageToken,
      }),
      meta,
    );
    expect(second.patients[0]?.name).not.toBe(`patients/${a}`);
    expect((await store.read(`scheduling.patient_access-${a}`)).map((e) => e.data['what'])).toEqual([
      `patients/${a}`,
    ]);
    // The token belongs to that query: with a medical record number filter, or altered, it is refused.
    for (const request of [
      { pageToken: first.nextPageToken, medicalRecordNumber: 'MRN-other' },
      { pageToken: `${first.nextPageToken.slice(0, -2)}xx` },
    ]) {
      const refused = await failureOf(
        callUnary(
          client,
          'listPatients',
          scheduling.ListPatientsRequest.fromPartial({ purpose: OPERATIONS, pageSize: 1, ...request }),
          meta,
        ),
      );
      expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
    }
  });

  it('reads a crypto-shredded patient as FAILED_PRECONDITION "patient data erased"', async () => {
    const patientId = await createPatient();
    await service.deps.keys.destroy(patientId);
    const error = await failureOf(getPatient(patientId, { purpose: OPERATIONS }, await frontDesk()));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/patient data erased/);
  });

  it('hides a patient from a clinician who has no appointment with them', async () => {
    const patientId = await createPatient();
    const error = await failureOf(getPatient(patientId, { purpose: TREATMENT }, await clinician('clin-z')));
    expect(error.code).toBe(grpc.status.NOT_FOUND);
  });

  it('lets a break-glass grant for that patient through, and records the use against the grant', async () => {
    const patientId = await createPatient();
    const other = await createPatient();
    const grantId = `bg-${patientId}`;
    const token = await issuer.sign({
      sub: 'clin-emergency',
      role: 'clinician',
      scope: 'breakglass',
      bg: grantId,
      bg_res: `patients/${patientId}`,
    });
    const read = await getPatient(patientId, { purpose: TREATMENT }, clientCallMetadata({ token }));
    expect(read.patient?.name).toBe(`patients/${patientId}`);
    const uses = await store.read(`breakglass.use-${grantId}`);
    expect(uses.map((e) => [e.type, e.data['resource'], e.actor.id])).toEqual([
      ['haven.identity.v1.BreakGlassUsed', `patients/${patientId}`, 'clin-emergency'],
    ]);
    const accessed = (await store.read(`scheduling.patient_access-${patientId}`)).at(-1)?.data;
    expect(accessed?.['outcome']).toBe('granted');
    // The PhiAccessed names the grant, so the patient's access log can say it was an emergency access.
    expect(accessed?.['breakGlassGrant']).toBe(grantId);
    // The grant covers that one patient only.
    const error = await failureOf(
      callUnary(
        client,
        'getPatient',
        { name: `patients/${other}`, purpose: TREATMENT },
        clientCallMetadata({ token }),
      ),
    );
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    expect(await store.read(`breakglass.use-${grantId}`)).toHaveLength(1);
  });
});

describe('appointments', () => {
  let patientId: string;
  beforeAll(async () => {
    patientId = await createPatient();
  });

  it('refuses a booking for an unknown patient with NOT_FOUND', async () => {
    const error = await failureOf(book('pat-nobody-here', slot(60)));
    expect(error.code).toBe(grpc.status.NOT_FOUND);
  });

  it('refuses an overlapping booking for the same clinician with a violation on start_time', async () => {
    const s = slot(24 * 60);
    await book(patientId, s, { clinicianId: 'clin-overlap' });
    const overlapping = {
      startTime: new Date(s.startTime.getTime() + 10 * 60_000),
      endTime: new Date(s.endTime.getTime() + 10 * 60_000),
    };
    const error = await failureOf(book(patientId, overlapping, { clinicianId: 'clin-overlap' }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(error).fieldViolations.map((v) => v.field)).toEqual(['appointment.start_time']);
    // Another clinician is free at that time.
    await book(patientId, overlapping, { clinicianId: 'clin-other' });
  });

  it("names the other appointment's times in the clinic's time zone, not in UTC", async () => {
    const s = slot(25 * 60);
    await book(patientId, s, { clinicianId: 'clin-zone' });
    const error = await failureOf(book(patientId, slot(25 * 60 + 10), { clinicianId: 'clin-zone' }));
    const [violation] = parseStatusDetails(error).fieldViolations;
    const local = (d: Date) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'America/New_York',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(d);
    // A span over midnight names both ends in full; either way both local times, the zone and the offset appear.
    expect(violation?.description).toContain(local(s.startTime));
    expect(violation?.description).toContain(local(s.endTime));
    expect(violation?.description).toMatch(/America\/New_York/);
    expect(violation?.description).toMatch(/UTC-0[45]:00/);
    expect(violation?.description).not.toContain(s.startTime.toISOString());
  });

  it('frees the slot of an appointment marked no-show', async () => {
    const clinicianId = `clin-${randomUUID().slice(0, 8)}`;
    const first = slot(0.05); // starts in 3 s: no-show may be marked once it started
    const id = await book(patientId, first, { clinicianId });
    await new Promise((r) => setTimeout(r, first.startTime.getTime() - Date.now() + 100));
    const marked = await callUnary(
      client,
      'markNoShow',
      scheduling.MarkNoShowRequest.fromPartial({ name: `appointments/${id}`, requestId: randomUUID() }),
      await frontDesk(),
    );
    expect(marked.appointment?.state).toBe(scheduling.AppointmentState.APPOINTMENT_STATE_NO_SHOW);
    await book(patientId, slot(1, 20), { clinicianId }); // inside the no-show's 30 minutes
  });

  it('lets only one of two concurrent overlapping bookings win', async () => {
    const s = slot(26 * 60);
    const results = await Promise.allSettled([
      book(patientId, s, { clinicianId: 'clin-race' }),
      book(
        patientId,
        { startTime: new Date(s.startTime.getTime() + 60_000), endTime: s.endTime },
        { clinicianId: 'clin-race' },
      ),
      book(patientId, s, { clinicianId: 'clin-race' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('reschedules, refuses a move onto another appointment, cancels (freeing the slot) and lists by day', async () => {
    const meta = await clinician('clin-b');
    const day = slot(3 * 24 * 60);
    const a1 = await book(patientId, day, { clinicianId: 'clin-b', metadata: meta });
    const later = {
      startTime: new Date(day.startTime.getTime() + 3600_000),
      endTime: new Date(day.endTime.getTime() + 3600_000),
    };
    const a2 = await book(patientId, later, { clinicianId: 'clin-b', metadata: meta });
    const clash = await failureOf(
      callUnary(
        client,
        'rescheduleAppointment',
        { name: `appointments/${a2}`, ...day, etag: '', requestId: '' },
        meta,
      ),
    );
    expect(clash.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(clash).fieldViolations.map((v) => v.field)).toEqual(['start_time']);
    const stale = await failureOf(
      callUnary(
        client,
        'rescheduleAppointment',
        { name: `appointments/${a2}`, ...slot(5 * 24 * 60), etag: '99', requestId: '' },
        meta,
      ),
    );
    expect(stale.code).toBe(grpc.status.ABORTED);
    const cancelled = await callUnary(
      client,
      'cancelAppointment',
      {
        name: `appointments/${a1}`,
        reason: scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST,
        includeFollowing: false,
        etag: '',
        requestId: '',
      },
      meta,
    );
    expect(cancelled.appointment?.state).toBe(scheduling.AppointmentState.APPOINTMENT_STATE_CANCELLED);
    const moved = await callUnary(
      client,
      'rescheduleAppointment',
      { name: `appointments/${a2}`, ...day, etag: '', requestId: '' },
      meta,
    );
    expect(moved.appointment?.startTime).toEqual(day.startTime);

    const dayString = day.startTime.toISOString().slice(0, 10);
    const list = (pageToken = '') =>
      callUnary(
        client,
        'listAppointments',
        scheduling.ListAppointmentsRequest.fromPartial({
          clinician: 'users/clin-b',
          day: dayString,
          pageSize: 1,
          pageToken,
        }),
        meta,
      );
    const page1 = await list();
    const page2 = await list(page1.nextPageToken);
    const names = [...page1.appointments, ...page2.appointments].map((a) => a.name).sort();
    expect(names).toEqual([`appointments/${a1}`, `appointments/${a2}`].sort());
    expect(page2.nextPageToken).toBe('');
    const other = await failureOf(
      callUnary(
        client,
        'listAppointments',
        scheduling.ListAppointmentsRequest.fromPartial({ clinician: 'users/clin-a' }),
        meta,
      ),
    );
    expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('a clinician books only for themself and sees only their own appointments', async () => {
    const error = await failureOf(
      book(patientId, slot(7 * 24 * 60), { clinicianId: 'clin-a', metadata: await clinician('clin-b') }),
    );
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    const id = await book(patientId, slot(7 * 24 * 60), { clinicianId: 'clin-a' });
    const hidden = await failureOf(
      callUnary(
        client,
        'getAppointment',
        { name: `appointments/${id}`, view: 0, purpose: 0 },
        await clinician('clin-b'),
      ),
    );
    expect(hidden.code).toBe(grpc.status.NOT_FOUND);
  });

  it('seals the reason; the FULL view records PhiAccessed and returns it, BASIC does not', async () => {
    const p = await createPatient();
    const id = await book(p, slot(8 * 24 * 60), { reason: REASON });
    const [booked] = await store.read(`scheduling.appointment-${id}`);
    expect(json(booked)).not.toContain('migraine');
    expect(booked?.phi?.subject).toBe(p);
    const meta = await clinician('clin-a');
    const basic = await callUnary(
      client,
      'getAppointment',
      { name: `appointments/${id}`, view: 0, purpose: 0 },
      meta,
    );
    expect(basic.appointment?.reason).toBe('');
    expect(await store.read(`scheduling.patient_access-${p}`)).toEqual([]);
    const full = await callUnary(
      client,
      'getAppointment',
      {
        name: `appointments/${id}`,
        view: scheduling.AppointmentView.APPOINTMENT_VIEW_FULL,
        purpose: TREATMENT,
      },
      meta,
    );
    expect(full.appointment?.reason).toBe(REASON);
    const access = await store.read(`scheduling.patient_access-${p}`);
    expect(access.map((e) => [e.data['what'], e.data['fields'], e.data['why']])).toEqual([
      [`appointments/${id}`, ['reason'], 'PHI_ACCESS_PURPOSE_TREATMENT'],
    ]);
  });
});

describe('patient links', () => {
  let patientId: string;
  beforeAll(async () => {
    patientId = await createPatient();
  });

  it('redeems token + passcode for a patient token that verifies against the JWKS over HTTP', async () => {
    const id = await book(patientId, slot(5), { clinicianId: `clin-${randomUUID().slice(0, 8)}` });
    const link = await issueLink(id);
    expect(Buffer.from(link.token, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(link.passcode).toMatch(/^\d{8}$/);
    expect(link.url).toContain(link.token);
    // Only hashes are stored.
    const events = await store.read(`scheduling.appointment-${id}`);
    const raw = json(events);
    expect(raw).not.toContain(link.token);
    expect(raw).not.toContain(link.passcode);

    const res = await redeem(link.token, link.passcode);
    expect(res.appointment).toBe(`appointments/${id}`);
    const jwksUrl = `http://127.0.0.1:${service.httpPort}/.well-known/jwks.json`;
    const verifier = createJwtVerifier({ jwksUrl, issuer: 'haven-scheduling', audience: 'haven' });
    const principal = await verifier.verify(res.accessToken);
    expect(principal).toMatchObject({ kind: 'patient', id: patientId, subjectOf: `visits/${id}` });
    expect(principal.id).not.toContain(NAME);
    expect(res.expireTime!.getTime()).toBeLessThanOrEqual(Date.now() + 2 * 3600_000 + 1000);
    // Other services trust it through HAVEN_PATIENT_JWKS_URL.
    const stackVerifier = createVerifierFromConfig({
      HAVEN_JWKS_URL: 'http://127.0.0.1:1/unused',
      HAVEN_PATIENT_JWKS_URL: jwksUrl,
      HAVEN_JWT_ISSUER: 'haven-identity',
      HAVEN_JWT_AUDIENCE: 'haven',
    });
    expect((await stackVerifier.verify(res.accessToken)).kind).toBe('patient');
  });

  it('locks the link after five wrong passcodes, with a clear message, even for the right one', async () => {
    const id = await book(patientId, slot(5, 20), { clinicianId: `clin-${randomUUID().slice(0, 8)}` });
    const link = await issueLink(id);
    for (let i = 1; i <= 4; i++) {
      const error = await failureOf(redeem(link.token, wrongPasscode(link.passcode)));
      expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(error.details).toMatch(new RegExp(`${5 - i} attempts? left`));
    }
    const fifth = await failureOf(redeem(link.token, wrongPasscode(link.passcode)));
    expect(fifth.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(fifth.details).toMatch(/link locked, ask the clinic/);
    const right = await failureOf(redeem(link.token, link.passcode));
    expect(right.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(right.details).toMatch(/link locked, ask the clinic/);
    const failed = (await store.read(`scheduling.appointment-${id}`)).filter((e) =>
      e.type.endsWith('PassCodeAttemptFailed'),
    );
    expect(failed.map((e) => e.data['locked'])).toEqual([false, false, false, false, true]);
  });

  it('refuses a link reused after the visit ended (VisitEnded in the session context)', async () => {
    const id = await book(patientId, slot(5, 25), { clinicianId: `clin-${randomUUID().slice(0, 8)}` });
    const link = await issueLink(id);
    await redeem(link.token, link.passcode);
    await store.append(`session.visit-${id}`, 'any', [
      {
        id: newEventId(),
        type: 'haven.session.v1.VisitEnded',
        occurredAt: new Date().toISOString(),
        actor: { kind: 'user', id: 'clin-a', role: 'clinician' },
        correlationId: randomUUID(),
        causationId: randomUUID(),
        data: { visitId: id, reason: 'ended_by_clinician' },
      },
    ]);
    const error = await failureOf(redeem(link.token, link.passcode));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/visit has ended/);
    const events = await store.read(`scheduling.appointment-${id}`);
    expect(events.filter((e) => e.type === 'haven.scheduling.v1.AppointmentCompleted')).toHaveLength(1);
  });

  it('follows the session context: an ended visit completes its appointment by itself, in its trace', async () => {
    const clinicianId = `clin-${randomUUID().slice(0, 8)}`;
    const id = await book(patientId, slot(5, 35), { clinicianId });
    const ended = {
      id: newEventId(),
      type: 'haven.session.v1.VisitEnded',
      occurredAt: new Date().toISOString(),
      actor: { kind: 'service', id: 'session' },
      correlationId: randomUUID(),
      causationId: randomUUID(),
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      data: { visitId: id, reason: 'idle' },
    } as const;
    // The completion and the slot's release are caused by the VisitEnded, in the visit's trace, under a span
    // whose parent is the VisitEnded's.
    const caused = {
      traceparent: ended.traceparent,
      correlationId: ended.correlationId,
      causationId: ended.id,
    };
    const telemetry = setupTestTelemetry();
    try {
      await store.append(`session.visit-${id}`, 'any', [ended]);
      await passesEventually(async () => {
        const appointment = await store.read(`scheduling.appointment-${id}`);
        expect(appointment.find((e) => e.type === 'haven.scheduling.v1.AppointmentCompleted')).toMatchObject(
          caused,
        );
        const schedule = await store.read(`scheduling.clinician_schedule-${clinicianId}`);
        expect(schedule.find((e) => e.type === 'haven.scheduling.v1.ClinicianSlotReleased')).toMatchObject(
          caused,
        );
        const [span] = telemetry.spans('haven.scheduling.complete_visit');
        expect(span?.spanContext().traceId).toBe(ended.traceparent.split('-')[1]);
        expect(span?.parentSpanContext?.spanId).toBe(ended.traceparent.split('-')[2]);
      });
    } finally {
      await telemetry.shutdown();
    }
    const res = await callUnary(
      client,
      'getAppointment',
      { name: `appointments/${id}`, view: 0, purpose: 0 },
      await frontDesk(),
    );
    expect(res.appointment?.state).toBe(scheduling.AppointmentState.APPOINTMENT_STATE_COMPLETED);
  });

  it("frees an ended visit's slot: the rest of its time can be booked again", async () => {
    const clinicianId = `clin-${randomUUID().slice(0, 8)}`;
    const times = slot(5, 30);
    const id = await book(patientId, times, { clinicianId });
    const error = await failureOf(book(patientId, times, { clinicianId }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT); // held while the appointment is booked
    await store.append(`session.visit-${id}`, 'any', [
      {
        id: newEventId(),
        type: 'haven.session.v1.VisitEnded',
        occurredAt: new Date().toISOString(),
        actor: { kind: 'user', id: clinicianId, role: 'clinician' },
        correlationId: randomUUID(),
        causationId: randomUUID(),
        data: { visitId: id, reason: 'ended_by_clinician' },
      },
    ]);
    let rebooked: string | undefined;
    for (let i = 0; i < 100 && rebooked === undefined; i++) {
      rebooked = await book(patientId, times, { clinicianId }).catch(() => undefined);
      if (rebooked === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(rebooked).toBeDefined();
    const schedule = await store.read(`scheduling.clinician_schedule-${clinicianId}`);
    expect(schedule.map((e) => e.type)).toEqual([
      'haven.scheduling.v1.ClinicianSlotReserved',
      'haven.scheduling.v1.ClinicianSlotReleased',
      'haven.scheduling.v1.ClinicianSlotReserved',
    ]);
  });

  it("refuses a cancelled appointment's link", async () => {
    const id = await book(patientId, slot(5, 15), { clinicianId: `clin-${randomUUID().slice(0, 8)}` });
    const link = await issueLink(id);
    await callUnary(
      client,
      'cancelAppointment',
      {
        name: `appointments/${id}`,
        reason: scheduling.CancellationReason.CANCELLATION_REASON_OTHER,
        includeFollowing: false,
        etag: '',
        requestId: '',
      },
      await frontDesk(),
    );
    const error = await failureOf(redeem(link.token, link.passcode));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/cancelled/);
  });

  it('a reissued link invalidates the old one', async () => {
    const id = await book(patientId, slot(5, 10), { clinicianId: `clin-${randomUUID().slice(0, 8)}` });
    const first = await issueLink(id);
    const second = await issueLink(id);
    expect(second.passcode === first.passcode && second.token === first.token).toBe(false);
    const old = await failureOf(redeem(first.token, first.passcode));
    expect(old.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(old.details).toMatch(/replaced by a newer one/);
    await expect(redeem(second.token, second.passcode)).resolves.toMatchObject({
      appointment: `appointments/${id}`,
    });
  });

  it('checks the date of birth when the link requires it', async () => {
    const id = await book(patientId, slot(5, 5), { clinicianId: `clin-${randomUUID().slice(0, 8)}` });
    const link = await issueLink(id, true);
    expect(link.patientLink?.dateOfBirthRequired).toBe(true);
    const missing = await failureOf(redeem(link.token, link.passcode));
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT);
    const wrong = await failureOf(redeem(link.token, link.passcode, '1971-03-15'));
    expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
    await expect(redeem(link.token, link.passcode, DOB)).resolves.toMatchObject({
      appointment: `appointments/${id}`,
    });
  });

  it('refuses an unknown token without revealing anything', async () => {
    const error = await failureOf(redeem(Buffer.alloc(32, 7).toString('base64url'), '12345678'));
    expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
  });
});

describe('recurring appointments', () => {
  let patientId: string;
  beforeAll(async () => {
    patientId = await createPatient();
  });
  const WEEK = 7 * 86_400_000;
  const bookSeries = async (
    clinicianId: string,
    first: { startTime: Date; endTime: Date },
    recurrence: Partial<scheduling.Recurrence>,
    requestId = '',
  ) =>
    callUnary(
      client,
      'bookAppointment',
      scheduling.BookAppointmentRequest.fromPartial({
        appointment: { clinician: `users/${clinicianId}`, patient: `patients/${patientId}`, ...first },
        recurrence,
        requestId,
      }),
      await frontDesk(),
    );
  const get = async (name: string) =>
    (
      await callUnary(
        client,
        'getAppointment',
        scheduling.GetAppointmentRequest.fromPartial({ name }),
        await frontDesk(),
      )
    ).appointment!;
  const cancel = async (name: string, includeFollowing = false) =>
    callUnary(
      client,
      'cancelAppointment',
      scheduling.CancelAppointmentRequest.fromPartial({
        name,
        reason: scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST,
        includeFollowing,
      }),
      await frontDesk(),
    );
  const SCHEDULED = scheduling.AppointmentState.APPOINTMENT_STATE_SCHEDULED;
  const CANCELLED = scheduling.AppointmentState.APPOINTMENT_STATE_CANCELLED;

  it('books every occurrence as its own appointment with its own link; a retry books nothing new', async () => {
    const clinicianId = `clin-${randomUUID().slice(0, 8)}`;
    const first = slot(48 * 60);
    const requestId = randomUUID();
    const r = await bookSeries(clinicianId, first, { intervalWeeks: 1, count: 3 }, requestId);
    expect(r.occurrences.map((a) => a.occurrence)).toEqual([1, 2, 3]);
    expect(new Set(r.occurrences.map((a) => a.name)).size).toBe(3);
    expect(new Set(r.occurrences.map((a) => a.seriesId)).size).toBe(1);
    expect(r.occurrences[0]!.seriesId).not.toBe('');
    expect(r.appointment?.name).toBe(r.occurrences[0]!.name);
    // Weekly at the same time of day in the clinic's zone (New York): 7 days apart unless the offset changed.
    for (const [i, a] of r.occurrences.entries()) {
      const drift = Math.abs(a.startTime!.getTime() - (first.startTime.getTime() + i * WEEK));
      expect(drift === 0 || drift === 3600_000).toBe(true);
      expect(a.endTime!.getTime() - a.startTime!.getTime()).toBe(30 * 60_000);
      expect((await get(a.name)).state).toBe(SCHEDULED);
    }
    const ids = r.occurrences.map((a) => a.name.slice('appointments/'.length));
    const [one, two] = [await issueLink(ids[0]!), await issueLink(ids[1]!)];
    expect(one.token).not.toBe(two.token);
    expect(one.passcode).not.toBe(two.passcode);
    const again = await bookSeries(clinicianId, first, { intervalWeeks: 1, count: 3 }, requestId);
    expect(again.occurrences.map((a) => a.name)).toEqual(r.occurrences.map((a) => a.name));
  });

  it('names every occurrence that overlaps, and books none of them', async () => {
    const clinicianId = `clin-${randomUUID().slice(0, 8)}`;
    const first = slot(50 * 60);
    /** Occurrence `k` (from 0) moved by `minutes`, at the series' wall-clock time in the clinic's zone. */
    const week = (k: number, minutes = 10) => {
      const start = addClinicDays(first.startTime, 7 * k, 'America/New_York').getTime() + minutes * 60_000;
      return { startTime: new Date(start), endTime: new Date(start + 30 * 60_000) };
    };
    await book(patientId, week(1), { clinicianId });
    await book(patientId, week(3), { clinicianId });
    const error = await failureOf(bookSeries(clinicianId, first, { intervalWeeks: 1, count: 4 }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(error).fieldViolations.map((v) => v.field)).toEqual([
      'occurrences[1].start_time',
      'occurrences[3].start_time',
    ]);
    // Nothing was booked: the first and third weeks are still free.
    await book(patientId, week(0, 0), { clinicianId });
    await book(patientId, week(2, 0), { clinicianId });
  });

  it('cancels one occurrence alone, or it and the rest of the series, freeing their slots', async () => {
    const clinicianId = `clin-${randomUUID().slice(0, 8)}`;
    const first = slot(52 * 60);
    const r = await bookSeries(clinicianId, first, { intervalWeeks: 2, count: 4 });
    const [a1, a2, a3, a4] = r.occurrences.map((a) => a.name);
    // One alone: the others stay.
    await cancel(a3!);
    expect((await get(a2!)).state).toBe(SCHEDULED);
    expect((await get(a4!)).state).toBe(SCHEDULED);
    // The second and the following: the fourth goes too; the third was already cancelled; the first stays.
    const rest = await cancel(a2!, true);
    expect(rest.appointment?.state).toBe(CANCELLED);
    expect(rest.following.map((a) => a.name)).toEqual([a4]);
    for (const name of [a2!, a3!, a4!]) expect((await get(name)).state).toBe(CANCELLED);
    expect((await get(a1!)).state).toBe(SCHEDULED);
    // Their slots are free again.
    const fourth = r.occurrences[3]!;
    await book(patientId, { startTime: fourth.startTime!, endTime: fourth.endTime! }, { clinicianId });
  });

  it('lets a clinician book a series only for themself', async () => {
    const error = await failureOf(
      callUnary(
        client,
        'bookAppointment',
        scheduling.BookAppointmentRequest.fromPartial({
          appointment: { clinician: 'users/clin-b', patient: `patients/${patientId}`, ...slot(54 * 60) },
          recurrence: { intervalWeeks: 1, count: 2 },
        }),
        await clinician('clin-a'),
      ),
    );
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('refuses a rule without a count or an end date', async () => {
    const error = await failureOf(bookSeries('clin-a', slot(56 * 60), { intervalWeeks: 1 }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(error).fieldViolations.map((v) => v.field)).toEqual(['recurrence.count']);
  });
});

describe('logs', () => {
  it('never contain PHI, link tokens or passcodes', () => {
    expect(logs.text().length).toBeGreaterThan(0);
    for (const phi of [NAME, FAMILY, DOB, 'migraine', ...secrets]) expect(logs.text()).not.toContain(phi);
  });
});

describe('when NATS is gone', () => {
  it('answers a PHI read with UNAVAILABLE and no PHI', async () => {
    const patientId = await createPatient();
    await nats.stop();
    const error = await failureOf(
      callUnary(
        client,
        'getPatient',
        { name: `patients/${patientId}`, purpose: OPERATIONS },
        await frontDesk(),
        {
          deadlineMs: 15_000,
        },
      ),
    );
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(error.code);
    expect(JSON.stringify(error)).not.toContain(NAME);
  });
});
