/**
 * The waiting room's note through the gateway, against the real services (identity, scheduling, session on a real
 * nats-server and Janus): the clinician posts "running late" and then a typed note; the waiting patient's live
 * channel says `lobby-notice` at once and GET /api/patient/lobby-notice shows it, with their place in the
 * clinician's queue when asked for. The typed text is stored only sealed and reading it is a PhiAccessed.
 * Attacks: another clinician and the patient cannot post one; bad input is refused with the field named.
 */
import type { NatsConnection } from 'nats';
import { eventually, readEventLog } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { waitingPatient } from '../test/gateway';
import { startClinic } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let nc: NatsConnection;
let clinician: string;

beforeAll(async () => {
  ({ stack, nc, clinician } = await startClinic('late.test'));
});
afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});

const CANARY = 'canary-otter-9182';

describe('the waiting room’s note', () => {
  let cara: CookieJar;
  let visitId: string;
  let patient: CookieJar;

  beforeAll(async () => {
    const desk = await stack.signIn('desk@late.test');
    cara = await stack.signIn('cara@late.test');
    const waiting = await waitingPatient(stack.url, desk, clinician, {
      name: 'Ana Ruiz',
      dateOfBirth: '1990-02-03',
    });
    visitId = waiting.visit.visitId;
    patient = waiting.patient;
  });

  it('shows nothing until the clinician posts a note', async () => {
    const r = await patient.fetch(`${stack.url}/api/patient/lobby-notice`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ notice: { kind: 'none', text: '' } });
  });

  it('tells the waiting patient at once that the clinician is running late, with their place', async () => {
    const live = await stack.liveSocket(patient, true);
    const posted = await cara.post(`${stack.url}/api/visits/${visitId}/lobby-notice`, {
      kind: 'running_late',
      delayMinutes: 10,
      showPosition: true,
    });
    expect(posted.status).toBe(200);
    await live.waitFor((m) => m['type'] === 'lobby-notice');
    const r = await patient.fetch(`${stack.url}/api/patient/lobby-notice`);
    expect(await r.json()).toMatchObject({
      notice: { kind: 'running_late', delayMinutes: 10, showPosition: true, position: 1 },
    });
  });

  it('shows a typed note as the same text, stored only sealed, its read recorded', async () => {
    const text = `<b>Sorry</b>, back in 5 ${CANARY}`;
    const posted = await cara.post(`${stack.url}/api/visits/${visitId}/lobby-notice`, {
      kind: 'typed',
      text,
    });
    expect(posted.status).toBe(200);
    const r = await patient.fetch(`${stack.url}/api/patient/lobby-notice`);
    expect(await r.json()).toMatchObject({
      notice: { kind: 'typed', text, showPosition: false, position: 0 },
    });

    const log = await readEventLog(nc, { filter: 'haven.es.>' });
    const notes = log.filter((e) => e.type === 'haven.session.v1.LobbyNoticePosted');
    expect(notes.map((e) => e.data['kind'])).toEqual(['running_late', 'typed']);
    expect(notes[1]?.phi?.subject).toBeTruthy();
    expect(JSON.stringify(log.map((e) => ({ ...e, phi: undefined })))).not.toContain(CANARY);
    expect(stack.logs.join('\n')).not.toContain(CANARY);
    await eventually('the PhiAccessed of the read', async () =>
      (await readEventLog(nc, { filter: 'haven.es.>' })).find(
        (e) => e.type === 'haven.events.v1.PhiAccessed' && e.data['what'] === `visits/${visitId}/lobbyNotice`,
      ),
    );
  });

  it('refuses another clinician, and bad input with the field named', async () => {
    const bo = await stack.signIn('bo@late.test');
    const other = await bo.post(`${stack.url}/api/visits/${visitId}/lobby-notice`, {
      kind: 'running_late',
      delayMinutes: 5,
    });
    expect(other.status).toBe(403);
    for (const [body, field] of [
      [{ kind: 'running_late' }, 'delayMinutes'],
      [{ kind: 'running_late', delayMinutes: 999 }, 'delayMinutes'],
      [{ kind: 'typed', text: 'x'.repeat(501) }, 'text'],
      [{ kind: 'shout' }, 'kind'],
      // A name every object inherits is not a kind either.
      [{ kind: 'constructor' }, 'kind'],
    ] as const) {
      const r = await cara.post(`${stack.url}/api/visits/${visitId}/lobby-notice`, body);
      expect(r.status).toBe(400);
      expect(JSON.stringify(await r.json())).toContain(field);
    }
    // The patient's cookie is not a staff session.
    expect(
      (await patient.post(`${stack.url}/api/visits/${visitId}/lobby-notice`, { kind: 'none' })).status,
    ).toBe(401);
  });
});
