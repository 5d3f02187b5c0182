/**
 * ErasePatient over a real nats-server, the scheduling service a real child process: refused without a reason,
 * for a non-admin, and while an appointment is to come (the refusal an event); then the patient's key is
 * destroyed — the sealed PHI and the secure messages are still in the event log as ciphertext, and nobody can
 * open them (the test tries with the service's own key store and keyring); GetPatient and the message reads
 * answer "patient data erased", the patient is left out of lists and cannot be booked. A kill -9 after
 * `PatientErased` but before the key was destroyed (the event in the log, the key file still there) is finished
 * when the service starts again; a retried erasure appends nothing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { FilePatientKeyStore, LocalKeyringKms, openPhi, PhiShreddedError } from '@haven/crypto';
import { JetStreamEventStore, newEventId, type SealedPhi } from '@haven/eventstore';
import { phiEvents, scheduling } from '@haven/proto';
import { callUnary, parseStatusDetails } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import type { NatsConnection } from 'nats';
import {
  bookVisit,
  createPatient,
  eventually,
  launchStack,
  readEventLog,
  serveJwks,
  startIn,
  type JwksServer,
  type LaunchedStack,
} from '@haven/testing';

jest.setTimeout(120_000);

const issuer = createTestIssuer();
const TREATMENT = phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT;
const REQUEST = scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_PATIENT_REQUEST;
const CANARY = { givenName: 'Ottoline', familyName: 'Vexworth', dateOfBirth: '1968-07-21' };
const MESSAGE = 'my rash is spreading, canary-9931';

let jwks: JwksServer;
let stack: LaunchedStack;
let client: scheduling.SchedulingServiceClient;
let store: JetStreamEventStore;
let nc: NatsConnection;

beforeAll(async () => {
  jwks = await serveJwks(issuer.jwks);
  stack = await launchStack({ services: ['scheduling'], jwksUrl: jwks.url, janus: false });
  client = stack.client(scheduling.SchedulingServiceClient, 'scheduling');
  store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'erasure-test' });
  nc = await stack.nats.connect();
});

afterAll(async () => {
  client?.close();
  await store?.close();
  await nc?.close();
  await stack?.stop();
  await jwks?.close();
});

const admin = () => issuer.metadata({ sub: 'u-admin', role: 'admin' });
const desk = () => issuer.metadata({ sub: 'u-desk', role: 'front_desk' });

/** The service's own key store, opened from outside (its data dir and keyring). */
async function serviceKeys(): Promise<FilePatientKeyStore> {
  const kms = await LocalKeyringKms.open({ file: join(stack.dir, 'keyring.json') });
  return new FilePatientKeyStore({ dir: join(stack.dir, 'data', 'scheduling', 'patient-keys'), kms });
}

/** A new patient with the canary PHI; resolves with its id. */
async function newPatient(): Promise<string> {
  const name = await createPatient({ client, metadata: desk }, { ...CANARY, email: 'ottoline@example.test' });
  return name.slice('patients/'.length);
}

async function book(patientId: string, minutesFromNow: number): Promise<string> {
  const booked = await bookVisit(
    { client, metadata: desk },
    {
      clinician: 'users/doc-erase',
      patient: `patients/${patientId}`,
      reason: 'itchy canary rash',
      start: startIn(minutesFromNow * 60_000),
    },
  );
  return booked.name.slice('appointments/'.length);
}

const erase = async (
  patientId: string,
  reason: scheduling.PatientErasureReason = REQUEST,
  metadata?: grpc.Metadata,
) =>
  callUnary(
    client,
    'erasePatient',
    scheduling.ErasePatientRequest.fromPartial({ name: `patients/${patientId}`, reason }),
    metadata ?? (await admin()),
  );

const failure = async (work: Promise<unknown>) => {
  const error = (await work.then(
    () => undefined,
    (e: unknown) => e,
  )) as grpc.ServiceError | undefined;
  if (!error) throw new Error('expected the call to fail');
  return error;
};

/** How GetPatient of `patientId` (for treatment, as the front desk) fails. */
const getPatientFailure = async (patientId: string) =>
  failure(
    callUnary(
      client,
      'getPatient',
      scheduling.GetPatientRequest.fromPartial({ name: `patients/${patientId}`, purpose: TREATMENT }),
      await desk(),
    ),
  );
const typesOf = async (patientId: string) =>
  (await store.read(`scheduling.patient-${patientId}`)).map((e) => e.type.split('.').pop());

describe('ErasePatient', () => {
  let patientId: string;
  let appointmentId: string;
  let threadName: string;
  let sealed: SealedPhi;

  beforeAll(async () => {
    patientId = await newPatient();
    appointmentId = await book(patientId, 3 * 24 * 60);
    const thread = await callUnary(
      client,
      'createMessageThread',
      scheduling.CreateMessageThreadRequest.fromPartial({
        patient: `patients/${patientId}`,
        topic: scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_SCHEDULING,
      }),
      await desk(),
    );
    threadName = thread.thread!.name;
    await callUnary(
      client,
      'postSecureMessage',
      scheduling.PostSecureMessageRequest.fromPartial({ parent: threadName, text: MESSAGE }),
      await desk(),
    );
    const [registered] = await store.read(`scheduling.patient-${patientId}`);
    sealed = registered!.phi!;
  });

  it('is refused without a reason and for anyone but an admin', async () => {
    const noReason = await failure(
      erase(patientId, scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_UNSPECIFIED),
    );
    expect(noReason.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(noReason).fieldViolations[0]?.field).toBe('reason');
    for (const role of ['front_desk', 'clinician', 'auditor']) {
      const denied = await failure(
        erase(patientId, REQUEST, await issuer.metadata({ sub: `u-${role}`, role })),
      );
      expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    }
    expect(await typesOf(patientId)).toEqual(['PatientRegistered']);
  });

  it('is refused while an appointment is to come, and the refusal is an event without PHI', async () => {
    const refused = await failure(erase(patientId));
    expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/1 appointment to come .*cancel it first/);
    expect(parseStatusDetails(refused).reason).toBe('FUTURE_APPOINTMENT');
    const events = await store.read(`scheduling.patient-${patientId}`);
    expect(events.map((e) => e.type.split('.').pop())).toEqual([
      'PatientRegistered',
      'PatientErasureRefused',
    ]);
    expect(events[1]?.data).toEqual({
      patientId,
      reason: 'PATIENT_REQUEST',
      blocker: 'FUTURE_APPOINTMENT',
      appointmentIds: [appointmentId],
    });
    expect(events[1]?.phi).toBeUndefined();
    // Still readable: the refusal changed nothing.
    expect((await openPhi(await serviceKeys(), sealed))['familyName']).toBe(CANARY.familyName);
  });

  it('destroys the key: the ciphertext stays in the log and cannot be opened by anyone', async () => {
    const before = await callUnary(
      client,
      'getPatient',
      scheduling.GetPatientRequest.fromPartial({ name: `patients/${patientId}`, purpose: TREATMENT }),
      await desk(),
    );
    expect(before.patient?.familyName).toBe(CANARY.familyName);
    await callUnary(
      client,
      'cancelAppointment',
      scheduling.CancelAppointmentRequest.fromPartial({ name: `appointments/${appointmentId}` }),
      await desk(),
    );

    const erased = await erase(patientId);
    expect(erased).toMatchObject({ name: `patients/${patientId}`, reason: REQUEST });
    expect(erased.eraseTime).toBeInstanceOf(Date);

    const events = await store.read(`scheduling.patient-${patientId}`);
    const last = events.at(-1)!;
    expect(last.type).toBe('haven.scheduling.v1.PatientErased');
    expect(last.data).toEqual({ patientId, reason: 'PATIENT_REQUEST' });
    expect(last.phi).toBeUndefined();
    // The sealed PHI is still in the log, byte for byte, and no key opens it any more.
    expect(events[0]?.phi).toEqual(sealed);
    expect(sealed.ciphertext.length).toBeGreaterThan(40);
    await expect(openPhi(await serviceKeys(), sealed)).rejects.toBeInstanceOf(PhiShreddedError);
    const keyFiles = readdirSync(join(stack.dir, 'data', 'scheduling', 'patient-keys'));
    expect(keyFiles.filter((f) => f.endsWith('.shredded'))).toHaveLength(1);
    // No PHI in any plain field of any event of the scheduling context (read with a plain NATS consumer).
    const log = await readEventLog(nc, { filter: 'haven.es.scheduling.>' });
    expect(log.some((e) => e.type === 'haven.scheduling.v1.PatientErased')).toBe(true);
    const all = JSON.stringify(log.map((e) => ({ ...e, phi: undefined })));
    for (const value of [...Object.values(CANARY), MESSAGE]) expect(all).not.toContain(value);
  });

  it('answers "patient data erased" for the patient and the messages, and leaves it out of lists', async () => {
    const get = await getPatientFailure(patientId);
    expect(get.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(get.details).toBe('patient data erased');
    const messages = await failure(
      callUnary(
        client,
        'listSecureMessages',
        scheduling.ListSecureMessagesRequest.fromPartial({ parent: threadName }),
        await desk(),
      ),
    );
    expect(messages.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(messages.details).toBe('patient data erased');
    const list = await callUnary(
      client,
      'listPatients',
      scheduling.ListPatientsRequest.fromPartial({ purpose: TREATMENT, pageSize: 100 }),
      await desk(),
    );
    expect(list.patients.map((p) => p.name)).not.toContain(`patients/${patientId}`);
    const booking = await failure(book(patientId, 4 * 24 * 60));
    expect(booking.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(booking.details).toBe('patient data erased');
  });

  it('is idempotent: a retry answers the same and appends nothing', async () => {
    const count = (await typesOf(patientId)).length;
    const again = await erase(patientId, scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_LEGAL_ORDER);
    expect(again.reason).toBe(REQUEST); // the first erasure's reason
    expect(await typesOf(patientId)).toHaveLength(count);
  });
});

describe('a kill -9 between PatientErased and the key destruction', () => {
  it('is finished when the service starts again', async () => {
    const patientId = await newPatient();
    const [registered] = await store.read(`scheduling.patient-${patientId}`);
    const keys = await serviceKeys();
    expect((await openPhi(keys, registered!.phi!))['givenName']).toBe(CANARY.givenName);
    const service = stack.service('scheduling');
    await service.signal('SIGKILL');
    // What the killed process left: its event appended, the key file not yet destroyed.
    await store.append(`scheduling.patient-${patientId}`, registered!.revision, [
      {
        id: newEventId(),
        type: 'haven.scheduling.v1.PatientErased',
        occurredAt: new Date().toISOString(),
        actor: { kind: 'user', id: 'u-admin', role: 'admin' },
        correlationId: newEventId(),
        causationId: newEventId(),
        data: { patientId, reason: 'REGISTERED_IN_ERROR' },
      },
    ]);
    const keyDir = join(stack.dir, 'data', 'scheduling', 'patient-keys');
    const before = readdirSync(keyDir);
    expect((await openPhi(await serviceKeys(), registered!.phi!))['givenName']).toBe(CANARY.givenName);

    await service.start();
    await eventually('the interrupted erasure finished', async () =>
      (await openPhi(await serviceKeys(), registered!.phi!).then(
        () => false,
        (e: unknown) => e instanceof PhiShreddedError,
      ))
        ? true
        : undefined,
    );
    // The key file is gone, a tombstone took its place (destroy() writes the tombstone first, then overwrites
    // and removes the file: wait for the removal too).
    const keyFiles = () => readdirSync(keyDir).filter((f) => f.endsWith('.json')).length;
    const left = before.filter((f) => f.endsWith('.json')).length - 1;
    await eventually('the key file removed', () => keyFiles() === left);
    expect(keyFiles()).toBe(left);
    expect(existsSync(keyDir)).toBe(true);
    const get = await getPatientFailure(patientId);
    expect(get.details).toBe('patient data erased');
    // A retried erasure after the restart appends nothing more.
    const again = await erase(patientId);
    expect(again.reason).toBe(scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_REGISTERED_IN_ERROR);
    expect(await typesOf(patientId)).toEqual(['PatientRegistered', 'PatientErased']);
  });
});
