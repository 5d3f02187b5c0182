/**
 * The clinic settings an admin changes in the console, honoured by the running services without a restart
 * (identity, scheduling, session, recording and audit as built, on a real nats-server and Janus; the gateway in
 * process): the recording policy (session: off → the clinician's Record is refused, back on → asked), patients'
 * access to their recordings (recording), the link grace (scheduling: a new link closes accordingly, the link
 * issued before keeps its window) and the passcode delivery (refused with a clear field message without an SMS
 * provider and an e-mail relay). Each change is one ClinicSettingsChanged; nobody but an admin changes them.
 */
import type { JetStreamEventStore } from '@haven/eventstore';
import { eventually } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { admitPatient, bookVisitWithLink, redeemLink, waitingPatient } from '../test/gateway';
import { clinicSettingsChanges, startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(180_000);

let stack: TestStack;
let store: JetStreamEventStore;
let admin: CookieJar;
let desk: CookieJar;
let clinician: CookieJar;
let clinicianId: string;
let secondClinicianId: string;

beforeAll(async () => {
  stack = await startStack({ recordingEnv: {} });
  store = await stack.openStore('clinic-settings-test');
  await stack.createUser('root@settings.test', 'admin', 'Ada Admin');
  await stack.createUser('desk@settings.test', 'front_desk', 'Front Desk');
  clinicianId = await stack.createUser('rhea@settings.test', 'clinician', 'Dr Rhea Stone');
  secondClinicianId = await stack.createUser('omar@settings.test', 'clinician', 'Dr Omar Said');
  admin = await stack.signIn('root@settings.test');
  desk = await stack.signIn('desk@settings.test');
  clinician = await stack.signIn('rhea@settings.test');
});
afterAll(async () => stack?.stop());

const put = (jar: CookieJar, body: unknown) => jar.put(`${stack.url}/api/clinic-settings`, body);

async function saved(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await put(admin, body);
  if (res.status !== 200)
    throw new Error(`saving ${JSON.stringify(body)} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

const changes = () => clinicSettingsChanges(store);

describe('the clinic settings as the console shows them', () => {
  it('start as the deployment’s defaults, with the recording ones unset', async () => {
    const res = await desk.fetch(`${stack.url}/api/clinic-settings`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      passcodeDelivery: 'front-desk',
      recordingPolicy: null,
      recordingPatientAccess: null,
      linkGraceMinutes: 30,
      updateTime: null,
    });
  });

  it('are changed by admins only, each field checked and named', async () => {
    for (const jar of [desk, clinician])
      expect((await put(jar, { recordingPolicy: 'off' })).status).toBe(403);
    const bad = await put(admin, {
      recordingPolicy: 'sometimes',
      recordingPatientAccess: 'yes',
      linkGraceMinutes: 2,
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { fieldViolations?: { field: string }[] } };
    const fields = body.error.fieldViolations?.map((f) => f.field);
    expect(fields).toEqual(
      expect.arrayContaining(['recordingPolicy', 'recordingPatientAccess', 'linkGraceMinutes']),
    );
    // Without an SMS provider and an e-mail relay the passcode cannot go by the other channel than the link.
    const sms = await put(admin, { passcodeDelivery: 'sms' });
    expect(sms.status).toBe(400);
    expect(JSON.stringify(await sms.json())).toMatch(/"field":"passcodeDelivery".*SMS provider/);
    expect(await changes()).toHaveLength(0);
  });

  it('take no name of a JavaScript object member as a choice', async () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const bad = await put(admin, { passcodeDelivery: name, recordingPolicy: name });
      expect(bad.status).toBe(400);
      const body = (await bad.json()) as { error: { fieldViolations?: { field: string }[] } };
      expect(body.error.fieldViolations?.map((f) => f.field).sort()).toEqual([
        'passcodeDelivery',
        'recordingPolicy',
      ]);
    }
    expect(await changes()).toHaveLength(0);
  });
});

describe('a change applies without a restart', () => {
  it('recording policy off: the clinician’s Record is refused; on request again: it is asked', async () => {
    const { visit } = await waitingPatient(stack.url, desk, clinicianId, {
      name: 'Ines Alvarez',
      dateOfBirth: '1971-02-03',
    });
    await admitPatient(stack.url, clinician, visit.visitId);
    expect((await clinician.post(`${stack.url}/api/visits/${visit.visitId}/media`, {})).status).toBe(200);
    const start = () => clinician.post(`${stack.url}/api/visits/${visit.visitId}/recording/start`, {});
    const cancel = () => clinician.post(`${stack.url}/api/visits/${visit.visitId}/recording/cancel`, {});

    expect(await saved({ recordingPolicy: 'off' })).toMatchObject({ recordingPolicy: 'off' });
    await eventually('the session service refusing to record', async () => (await start()).status === 409);

    expect(await saved({ recordingPolicy: 'on-request' })).toMatchObject({ recordingPolicy: 'on-request' });
    const asked = await eventually('the session service asking to record', async () => {
      const res = await start();
      return res.status === 200 ? ((await res.json()) as { state: string }) : undefined;
    });
    expect(asked.state).toBe('requested');
    expect((await cancel()).status).toBe(200);
  });

  it('patients’ access to their recordings: refused by default, allowed once the admin allows it', async () => {
    const visit = await bookVisitWithLink(stack.url, desk, secondClinicianId, {
      name: 'Omar Haddad',
      dateOfBirth: '1984-07-09',
    });
    const patient = await redeemLink(stack.url, visit);
    const list = () => patient.fetch(`${stack.url}/api/patient/recordings`);
    expect((await list()).status).toBe(403);
    expect(await saved({ recordingPatientAccess: true })).toMatchObject({ recordingPatientAccess: true });
    await eventually(
      'the recording service letting the patient list',
      async () => (await list()).status === 200,
    );
    await saved({ recordingPatientAccess: false });
    await eventually('the recording service refusing again', async () => (await list()).status === 403);
  });

  it('link grace: a new link closes that long after the end; the link issued before keeps its window', async () => {
    const created = await desk.post(`${stack.url}/api/patients`, {
      name: 'Lea Brandt',
      dateOfBirth: '1990-01-02',
    });
    const patientId = ((await created.json()) as { patient: { id: string } }).patient.id;
    const end = new Date(Math.ceil((Date.now() + 50 * 3600_000) / 60_000) * 60_000);
    const booked = await desk.post(`${stack.url}/api/appointments`, {
      clinicianId,
      patientId,
      startTime: new Date(end.getTime() - 30 * 60_000).toISOString(),
      endTime: end.toISOString(),
    });
    expect(booked.status).toBe(201);
    const id = ((await booked.json()) as { appointment: { name: string } }).appointment.name.split('/')[1];
    const issue = async () => {
      const res = await desk.post(`${stack.url}/api/appointments/${id}/link`, {});
      expect(res.status).toBe(201);
      return Date.parse(((await res.json()) as { validUntil: string }).validUntil);
    };
    expect(await issue()).toBe(end.getTime() + 30 * 60_000);
    expect(await saved({ linkGraceMinutes: 5 })).toMatchObject({ linkGraceMinutes: 5 });
    expect(await issue()).toBe(end.getTime() + 5 * 60_000);
    const events = await store.read(`scheduling.appointment-${id}`);
    const links = events.filter((e) => e.type === 'haven.scheduling.v1.PatientLinkIssued');
    expect(links.map((e) => e.data['graceMinutes'])).toEqual([30, 5]);
  });

  it('records every change as one ClinicSettingsChanged by the admin, with only the fields changed', async () => {
    const all = await changes();
    expect(all.map((e) => e.data)).toEqual([
      { recordingPolicy: 'off' },
      { recordingPolicy: 'on-request' },
      { recordingPatientAccess: true },
      { recordingPatientAccess: false },
      { linkGraceMinutes: 5 },
    ]);
    expect(new Set(all.map((e) => e.actor.kind))).toEqual(new Set(['user']));
  });
});
