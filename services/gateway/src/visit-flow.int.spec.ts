/**
 * The visit flows through the gateway against the real services (identity, scheduling, session as built child
 * processes on a real nats-server and Janus): front desk registers a patient, books and issues a link; the
 * patient redeems it (wrong passcode, lockout after five, cancelled link) and waits in the lobby; the clinician
 * sees the lobby over the WebSocket and admits; the patient's socket hears `admitted`; the patient's media
 * websocket (/api/media) reaches the session service's media proxy with the credential the gateway handed out,
 * and not without the cookie, the CSRF token or from another origin; logout closes the clinician's socket with
 * 4401; front desk gets 403 on every visit route; another clinician cannot see the visit.
 */
import type { WebSocket } from 'ws';
import { MediaClient, eventually } from '@haven/testing';
import { CookieJar, liveSocket, type LiveSocket } from '../test/gateway';
import { startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let clinicianA: string;
let clinicianB: string;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  stack = await startStack();
  await stack.createUser('desk@gw.test', 'front_desk', 'Front Desk');
  clinicianA = await stack.createUser('ada@gw.test', 'clinician', 'Dr Ada Lovelace');
  clinicianB = await stack.createUser('bob@gw.test', 'clinician', 'Dr Bob Builder');
});
afterAll(async () => {
  for (const s of sockets) s.terminate();
  await stack?.stop();
});

const connect = (jar: CookieJar, options: { as?: 'patient'; origin?: string } = {}): Promise<LiveSocket> =>
  liveSocket(stack.url, jar, {
    asPatient: options.as === 'patient',
    ...(options.origin ? { origin: options.origin } : {}),
    sockets,
  });

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

describe('front desk, patient and clinician through the gateway', () => {
  let desk: CookieJar;
  let ada: CookieJar;
  let patientId: string;
  let appointmentId: string;
  let link: { url: string; passcode: string; validFrom: string; validUntil: string };

  beforeAll(async () => {
    desk = await stack.signIn('desk@gw.test');
    ada = await stack.signIn('ada@gw.test');
  });

  it('lists clinicians for front desk: id and display name only', async () => {
    const res = await desk.fetch(`${stack.url}/api/clinicians`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { clinicians: Array<Record<string, unknown>> };
    expect(body.clinicians).toEqual(
      expect.arrayContaining([
        { id: clinicianA, displayName: 'Dr Ada Lovelace' },
        { id: clinicianB, displayName: 'Dr Bob Builder' },
      ]),
    );
    expect(body.clinicians).toHaveLength(2); // no front desk, no admins
  });

  it('registers a patient, with field errors named like the form', async () => {
    const bad = await desk.post(`${stack.url}/api/patients`, {
      name: 'Jane Public',
      dateOfBirth: '2999-01-01',
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('"field":"dateOfBirth"');
    const res = await desk.post(`${stack.url}/api/patients`, {
      name: 'Jane Q Public',
      dateOfBirth: '1980-02-03',
      email: 'jane@example.test',
    });
    expect(res.status).toBe(201);
    patientId = ((await res.json()) as { patient: { id: string } }).patient.id;
    expect(patientId).toMatch(/\S/);
    const list = await desk.fetch(`${stack.url}/api/patients?purpose=treatment`);
    expect(list.status).toBe(200);
    for (const name of ['constructor', 'toString', '__proto__']) {
      const odd = await desk.fetch(`${stack.url}/api/patients/${patientId}?purpose=${name}`);
      expect(odd.status).toBe(400);
      expect(JSON.stringify(await odd.json())).toContain('"field":"purpose"');
    }
    expect(((await list.json()) as { patients: unknown[] }).patients).toContainEqual({
      id: patientId,
      name: 'Jane Q Public',
      dateOfBirth: '1980-02-03',
    });
  });

  it('books, lists the day and issues a patient link shown once', async () => {
    const res = await desk.post(`${stack.url}/api/appointments`, {
      clinicianId: clinicianA,
      patientId,
      startTime: inMinutes(2),
      endTime: inMinutes(32),
    });
    expect(res.status).toBe(201);
    const booked = ((await res.json()) as { appointment: { name: string; startTime: string } }).appointment;
    appointmentId = String(booked.name).replace('appointments/', '');
    const day = booked.startTime.slice(0, 10); // the UTC day it starts on: right at midnight too
    const list = await desk.fetch(`${stack.url}/api/appointments?day=${day}&clinicianId=${clinicianA}`);
    expect(list.status).toBe(200);
    expect(((await list.json()) as { appointments: unknown[] }).appointments).toContainEqual(
      expect.objectContaining({ id: appointmentId, clinicianId: clinicianA, patientId, state: 'scheduled' }),
    );
    const issued = await desk.post(`${stack.url}/api/appointments/${appointmentId}/link`, {});
    expect(issued.status).toBe(201);
    link = (await issued.json()) as typeof link;
    expect(link.url).toMatch(new RegExp(`^${stack.url}/join#[A-Za-z0-9_-]{22,}$`));
    expect(link.passcode).toMatch(/^\d{4,}$/);
    expect(Date.parse(link.validUntil)).toBeGreaterThan(Date.now());
  });

  it('gives front desk 403 on every visit route', async () => {
    const id = appointmentId;
    const gets = ['/api/visits', `/api/visits/${id}`];
    const posts = ['admit', 'deny', 'kick', 'lock', 'unlock', 'end', 'media', 'leave'].map(
      (a) => `/api/visits/${id}/${a}`,
    );
    for (const path of gets)
      expect([path, (await desk.fetch(`${stack.url}${path}`)).status]).toEqual([path, 403]);
    for (const path of posts)
      expect([path, (await desk.post(`${stack.url}${path}`, { participantId: 'p1234' })).status]).toEqual([
        path,
        403,
      ]);
  });

  it('runs the waiting room: wrong passcode, join, lobby seen live, admit heard by the patient', async () => {
    const token = link.url.split('#')[1] ?? '';
    const patient = new CookieJar();
    await patient.fetch(`${stack.url}/join`);
    const wrong = await patient.post(`${stack.url}/api/join`, { token, passcode: '000000x' });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toBe(
      'That passcode is not right. 4 attempts left.',
    );
    const ok = await patient.post(`${stack.url}/api/join`, { token, passcode: link.passcode });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ visitId: appointmentId, requiresDob: false });
    const cookie = patient.last.find((c) => c.name === 'haven_patient');
    expect(cookie?.attributes).toMatchObject({ httponly: '', path: '/api', samesite: 'Strict' });

    const clinicianSocket = await connect(ada);
    await clinicianSocket.waitFor((m) => m['type'] === 'hello');
    const patientSocket = await connect(patient, { as: 'patient' });
    await patientSocket.waitFor((m) => m['type'] === 'hello' && m['visitId'] === appointmentId);

    const lobby = await patient.post(`${stack.url}/api/patient/lobby`, {});
    expect(lobby.status).toBe(200);
    expect(await lobby.json()).toMatchObject({ status: 'waiting' });

    const seen = await clinicianSocket.waitFor(
      (m) =>
        m['type'] === 'lobby' &&
        m['visitId'] === appointmentId &&
        (m['participants'] as Array<{ state: string }>).some((p) => p.state === 'lobby'),
    );
    const participantId = (seen['participants'] as Array<{ id: string; state: string }>).find(
      (p) => p.state === 'lobby',
    )!.id;

    // The list is the session service's projection, which follows the event store on its own; the live message
    // above came through the gateway's bus consumer. Neither waits for the other, so the list may be a moment
    // behind: it must show the waiting patient once it has caught up.
    const listed = await eventually(
      'the waiting patient in the clinician’s list of visits',
      async () => {
        const visits = await ada.fetch(`${stack.url}/api/visits`);
        expect(visits.status).toBe(200);
        const mine = ((await visits.json()) as { visits: Array<{ id: string; lobbyCount: number }> }).visits;
        return mine.find((v) => v.id === appointmentId && v.lobbyCount > 0);
      },
      { timeoutMs: 10_000 },
    );
    expect(listed).toMatchObject({ id: appointmentId, lobbyCount: 1, admittedCount: 0, locked: false });
    // The front desk's day view sees that someone waits, and nothing else about the visit.
    const desks = await desk.fetch(`${stack.url}/api/appointments/waiting`);
    expect(desks.status).toBe(200);
    expect(((await desks.json()) as { visits: unknown[] }).visits).toContainEqual({
      appointmentId,
      status: 'open',
      waiting: 1,
      inVisit: 0,
    });
    expect((await ada.fetch(`${stack.url}/api/appointments/waiting`)).status).toBe(403);
    const detail = await ada.fetch(`${stack.url}/api/visits/${appointmentId}`);
    expect(
      ((await detail.json()) as { visit: { participants: unknown[] } }).visit.participants,
    ).toContainEqual({
      id: participantId,
      kind: 'patient',
      state: 'lobby',
      inMedia: false,
      device: 1,
      recordingConsented: false,
      host: false,
      self: false,
      deviceCheck: null,
      joinTime: expect.any(String) as unknown,
      // A patient is never named by a visit read (the console's own audited read shows the name).
      name: null,
    });

    // Another clinician can neither read the visit nor act on it.
    const bob = await stack.signIn('bob@gw.test');
    expect([403, 404]).toContain((await bob.fetch(`${stack.url}/api/visits/${appointmentId}`)).status);
    expect([403, 404]).toContain(
      (await bob.post(`${stack.url}/api/visits/${appointmentId}/admit`, { participantId })).status,
    );

    // Before admission the patient cannot get media credentials.
    expect((await patient.post(`${stack.url}/api/patient/media`, {})).status).toBe(403);

    const admit = await ada.post(`${stack.url}/api/visits/${appointmentId}/admit`, { participantId });
    expect(admit.status).toBe(200);
    await patientSocket.waitFor((m) => m['type'] === 'admitted' && m['visitId'] === appointmentId);
    const state = await patient.fetch(`${stack.url}/api/patient/visit`);
    expect(await state.json()).toMatchObject({ status: 'admitted', locked: false });
    const media = await patient.post(`${stack.url}/api/patient/media`, {});
    expect(media.status).toBe(200);
    const creds = (await media.json()) as Record<string, unknown>;
    // The gateway's own media websocket and a credential: no Janus address, token, room PIN or room token.
    expect(creds).toMatchObject({
      serverUrl: '/api/media?as=patient',
      mediaCredential: expect.stringMatching(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/) as unknown,
      iceServers: [],
    });
    for (const key of ['room', 'pin', 'token', 'janusToken', 'displayName'])
      expect(creds).not.toHaveProperty(key);
    // The media websocket: the patient's cookie, the CSRF token, the gateway's own origin, then the proxy.
    const csrf = patient.cookies.get('haven_csrf') ?? '';
    const jar = patient.header();
    const door = (q: string, headers: Record<string, string>) => ({
      url: `${stack.url.replace('http', 'ws')}/api/media?as=patient${q}`,
      headers,
    });
    const credential = String(creds['mediaCredential']);
    const mediaSocket = await MediaClient.open(
      door(`&csrf=${encodeURIComponent(csrf)}`, { cookie: jar, origin: stack.url }),
      credential,
    );
    expect((await mediaSocket.create()).janus).toBe('success');
    mediaSocket.close();
    for (const [q, headers] of [
      ['', { cookie: jar, origin: stack.url }],
      [`&csrf=${encodeURIComponent(csrf)}`, { cookie: jar, origin: 'http://evil.example' }],
      [
        `&csrf=${encodeURIComponent(csrf)}`,
        { cookie: `haven_csrf=${encodeURIComponent(csrf)}`, origin: stack.url },
      ],
    ] as const) {
      await expect(MediaClient.open(door(q, headers), credential)).rejects.toThrow(/40[13]/);
    }

    const lock = await ada.post(`${stack.url}/api/visits/${appointmentId}/lock`, {});
    expect(lock.status).toBe(200);
    await clinicianSocket.waitFor((m) => m['type'] === 'visit' && m['locked'] === true);
    expect((await ada.post(`${stack.url}/api/visits/${appointmentId}/unlock`, {})).status).toBe(200);
  });

  it('locks a link after five wrong passcodes and explains a cancelled link', async () => {
    const book = async (from: number) => {
      const res = await desk.post(`${stack.url}/api/appointments`, {
        clinicianId: clinicianB,
        patientId,
        startTime: inMinutes(from),
        endTime: inMinutes(from + 10),
      });
      const id = String(((await res.json()) as { appointment: { name: string } }).appointment.name).split(
        '/',
      )[1];
      const issued = (await (await desk.post(`${stack.url}/api/appointments/${id}/link`, {})).json()) as {
        url: string;
        passcode: string;
      };
      return { id, token: issued.url.split('#')[1] ?? '', passcode: issued.passcode };
    };
    const a = await book(3);
    const patient = new CookieJar();
    await patient.fetch(`${stack.url}/join`);
    const messages: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await patient.post(`${stack.url}/api/join`, { token: a.token, passcode: '999999z' });
      messages.push(`${res.status} ${((await res.json()) as { error: { message: string } }).error.message}`);
    }
    expect(messages[3]).toBe('401 That passcode is not right. 1 attempt left.');
    expect(messages[4]).toBe('409 This link is locked. Please call the clinic.');
    const right = await patient.post(`${stack.url}/api/join`, { token: a.token, passcode: a.passcode });
    expect(right.status).toBe(409);
    expect(patient.cookies.has('haven_patient')).toBe(false);

    const b = await book(20);
    for (const reason of ['toString', 'constructor', '__proto__']) {
      const odd = await desk.post(`${stack.url}/api/appointments/${b.id}/cancel`, { reason });
      expect(odd.status).toBe(400);
      expect(JSON.stringify(await odd.json())).toContain('"field":"reason"');
    }
    expect(
      (await desk.post(`${stack.url}/api/appointments/${b.id}/cancel`, { reason: 'patient_request' })).status,
    ).toBe(200);
    const cancelled = await patient.post(`${stack.url}/api/join`, { token: b.token, passcode: b.passcode });
    expect(cancelled.status).toBe(409);
    expect(((await cancelled.json()) as { error: { message: string } }).error.message).toMatch(/cancelled/);
  });

  it('refuses a WebSocket from another origin or without the CSRF token', async () => {
    await expect(connect(ada, { origin: 'https://evil.example' })).rejects.toThrow('HTTP 403');
    const noCsrf = new CookieJar();
    for (const [k, v] of ada.cookies) if (k !== 'haven_csrf') noCsrf.cookies.set(k, v);
    await expect(connect(noCsrf)).rejects.toThrow('HTTP 403');
  });

  it('closes the clinician socket with 4401 within 5 s of logout', async () => {
    const jar = await stack.signIn('ada@gw.test');
    const live = await connect(jar);
    await live.waitFor((m) => m['type'] === 'hello');
    const started = Date.now();
    expect((await jar.post(`${stack.url}/api/auth/logout`, {})).status).toBe(204);
    const closed = await live.closed;
    expect(closed.code).toBe(4401);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(live.messages).toContainEqual({ type: 'signed-out', reason: 'revoked' });
  });
});
