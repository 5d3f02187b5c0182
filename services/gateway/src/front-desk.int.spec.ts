/**
 * The front desk's day through the gateway against the real services: an overlap names the other appointment's
 * times in the clinic's time zone (HAVEN_CLINIC_TIME_ZONE), a reschedule frees the old slot, a no-show is marked
 * only once the appointment started and frees its slot, and both are idempotent with an Idempotency-Key.
 * The appointment's messages: a patient without an e-mail address gets no invitation, and the front desk (and
 * the appointment's clinician, not another one nor an auditor) reads why — codes and times, no PHI.
 */
import { randomUUID } from 'node:crypto';
import { CookieJar } from '../test/gateway';
import { catcherSmtpEnv, eventually, startMailCatcher, type MailCatcher } from '@haven/testing';
import { STACK_PASSWORD, startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let clinician: string;
let desk: CookieJar;
let patientId: string;
let catcher: MailCatcher;

beforeAll(async () => {
  catcher = await startMailCatcher();
  stack = await startStack({
    schedulingEnv: {
      HAVEN_CLINIC_TIME_ZONE: 'Europe/Berlin',
      ...catcherSmtpEnv(catcher, 'Clinic <no-reply@fd.test>'),
      HAVEN_REMINDER_POLL_MS: '100',
    },
  });
  await stack.createUser('desk@fd.test', 'front_desk', 'Front Desk');
  clinician = await stack.createUser('dee@fd.test', 'clinician', 'Dr Dee Park');
  desk = new CookieJar();
  await desk.fetch(`${stack.url}/`);
  await desk.post(`${stack.url}/api/auth/login`, { username: 'desk@fd.test', password: STACK_PASSWORD });
  const patient = await desk.post(`${stack.url}/api/patients`, {
    name: 'Ola Nordmann',
    dateOfBirth: '1970-07-07',
  });
  patientId = ((await patient.json()) as { patient: { id: string } }).patient.id;
});
afterAll(async () => {
  await stack?.stop();
  await catcher?.close();
});

const at = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
async function book(start: Date, minutes = 30): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await desk.post(`${stack.url}/api/appointments`, {
    clinicianId: clinician,
    patientId,
    startTime: start.toISOString(),
    endTime: new Date(start.getTime() + minutes * 60_000).toISOString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const idOf = (body: Record<string, unknown>) =>
  String((body['appointment'] as { name: string }).name).replace('appointments/', '');

describe('the front desk through the gateway', () => {
  it('names an overlap in the clinic time zone, reschedules (freeing the old slot) idempotently', async () => {
    const start = at(3 * 3600_000);
    const first = await book(start);
    expect(first.status).toBe(201);
    const clash = await book(new Date(start.getTime() + 10 * 60_000));
    expect(clash.status).toBe(400);
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Berlin',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(start);
    // A span over midnight is written end to end in full, so only the local time, zone and offset are fixed.
    expect(JSON.stringify(clash.body)).toContain(local);
    expect(JSON.stringify(clash.body)).toContain('Europe/Berlin');
    expect(JSON.stringify(clash.body)).toContain('UTC+01:00');
    expect(JSON.stringify(clash.body)).not.toContain(start.toISOString());

    const later = new Date(start.getTime() + 2 * 3600_000);
    const key = randomUUID();
    const move = () =>
      desk.post(
        `${stack.url}/api/appointments/${idOf(first.body)}/reschedule`,
        { startTime: later.toISOString(), endTime: new Date(later.getTime() + 30 * 60_000).toISOString() },
        { headers: { 'idempotency-key': key } },
      );
    const moved = await move();
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ appointment: { startTime: later.toISOString() } });
    expect((await move()).status).toBe(200); // the retry answers the first result
    expect((await book(start)).status).toBe(201); // the old slot is free
  });

  it('marks a no-show only once the appointment started, and frees its slot', async () => {
    const start = at(3_000);
    const booked = await book(start, 20);
    expect(booked.status).toBe(201);
    const id = idOf(booked.body);
    const early = await desk.post(`${stack.url}/api/appointments/${id}/no-show`, {});
    expect(early.status).toBe(409);
    await new Promise((r) => setTimeout(r, start.getTime() - Date.now() + 200));
    const marked = await desk.post(
      `${stack.url}/api/appointments/${id}/no-show`,
      {},
      {
        headers: { 'idempotency-key': randomUUID() },
      },
    );
    expect(marked.status).toBe(200);
    expect(await marked.json()).toMatchObject({ appointment: { state: 'no_show' } });
    expect((await book(at(60_000), 10)).status).toBe(201); // within the no-show's 20 minutes
  });

  it('says which message did not reach the patient and why, to the desk and the appointment’s clinician only', async () => {
    const booked = await book(at(11 * 3600_000));
    expect(booked.status).toBe(201);
    const id = idOf(booked.body);
    // The invitation waits for the link; the patient has no e-mail address, so it is not sent.
    expect((await desk.post(`${stack.url}/api/appointments/${id}/link`, {})).status).toBe(201);
    type Delivery = { kind: string; channel: string; state: string; reason: string; updateTime: string };
    // Wait for the invitation's outcome: `sending` is the outbox's claim on it, not an outcome.
    const settled = new Set(['sent', 'failed', 'suppressed']);
    const deliveries = await eventually('the invitation settled', async () => {
      const res = await desk.fetch(`${stack.url}/api/appointments/${id}/deliveries`);
      expect(res.status).toBe(200);
      const listed = ((await res.json()) as { deliveries: Delivery[] }).deliveries;
      return listed.some((d) => d.kind === 'invitation' && settled.has(d.state)) && listed;
    });
    const invitation = deliveries.find((d) => d.kind === 'invitation');
    expect(invitation).toMatchObject({ channel: 'email', state: 'suppressed', reason: 'no_contact' });
    expect(Date.parse(invitation!.updateTime)).toBeGreaterThan(Date.now() - 60_000);
    // The 1 h reminder is still to come.
    expect(deliveries).toContainEqual(expect.objectContaining({ kind: 'reminder', state: 'scheduled' }));
    expect(JSON.stringify(deliveries)).not.toMatch(/Ola|Nordmann|1970/);
    expect(catcher.messages()).toHaveLength(0);

    const login = async (email: string, role: 'clinician' | 'auditor', name: string) => {
      const userId = await stack.createUser(email, role, name);
      const jar = new CookieJar();
      await jar.fetch(`${stack.url}/`);
      await jar.post(`${stack.url}/api/auth/login`, { username: email, password: STACK_PASSWORD });
      return { jar, userId };
    };
    const own = await login('dee2@fd.test', 'clinician', 'Dr Dee Two');
    // The appointment's own clinician reads it; another clinician learns nothing (404); an auditor is refused.
    const mine = await desk.post(`${stack.url}/api/appointments`, {
      clinicianId: own.userId,
      patientId,
      startTime: at(13 * 3600_000).toISOString(),
      endTime: at(13 * 3600_000 + 30 * 60_000).toISOString(),
    });
    expect(mine.status).toBe(201);
    const mineId = idOf((await mine.json()) as Record<string, unknown>);
    expect((await own.jar.fetch(`${stack.url}/api/appointments/${mineId}/deliveries`)).status).toBe(200);
    expect((await own.jar.fetch(`${stack.url}/api/appointments/${id}/deliveries`)).status).toBe(404);
    const auditor = await login('audit@fd.test', 'auditor', 'Audra Tor');
    expect((await auditor.jar.fetch(`${stack.url}/api/appointments/${id}/deliveries`)).status).toBe(403);
    expect((await new CookieJar().fetch(`${stack.url}/api/appointments/${id}/deliveries`)).status).toBe(401);
  });
});
