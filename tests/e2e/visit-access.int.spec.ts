/**
 * The waiting room is enforced by the server, not by the UI. Real servers: nats-server, Janus (signed-token core
 * auth, videoroom admin key, HTTP event handler posting to the session service) and the built session service as
 * a child process. A visit is opened by appending AppointmentBooked straight to the store. Participants reach
 * the room only through the session service's media proxy with the media credential JoinMedia issues; and Janus
 * itself still refuses a raw websocket client — an attacker who knows the room number, the PIN and holds a valid
 * Janus core token — without a room token, with a made-up one, with a kicked participant's, after lock, after
 * end. Plus the RPC-level rules: a front-desk user can call nothing, a clinician cannot see another clinician's
 * lobby.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { newEvent, type EventEnvelope, type JetStreamEventStore, type NewEvent } from '@haven/eventstore';
import { session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import {
  connectJanusWs,
  eventually,
  type JanusHandle,
  type JanusWsClient,
  joinAsPublisher,
  type MediaClient,
  publishThrough,
  signJanusToken,
  startJanus,
  appendAppointmentBooked,
  appointmentBooked,
} from '@haven/testing';
import { roomCredentials, roomNumberOf } from '../../services/session/src/visit/open-visit';
import { roomToken } from '../../services/session/src/visit/room-access';
import { type SessionStack, startSessionStack } from './support/session-stack';

jest.setTimeout(60_000);

let stack: SessionStack;
let janus: JanusHandle;
let client: session.SessionServiceClient;
let store: JetStreamEventStore;
const attackers: JanusWsClient[] = [];
const mediaClients: MediaClient[] = [];
/** The password Janus's event handler sends (HTTP Basic) to the session service's /janus-events. */
const EVENTS_SECRET = randomBytes(24).toString('base64url');
let sessionHttpPort = 0;
const tokenSecret = randomBytes(24).toString('base64url');

beforeAll(async () => {
  const roomAdminKey = randomBytes(24).toString('base64url');
  stack = await startSessionStack({
    name: 'visit-access-test',
    janusTokenSecret: tokenSecret,
    janus: async (httpPort) => {
      janus = await startJanus({
        tokenAuthSecret: tokenSecret,
        videoroomAdminKey: roomAdminKey,
        eventHandlerUrl: `http://127.0.0.1:${httpPort}/janus-events`,
        eventHandlerPassword: EVENTS_SECRET,
        eventHandlerEvents: 'plugins',
      });
      return janus.wsUrl;
    },
    env: {
      HAVEN_JANUS_ADMIN_SECRET: roomAdminKey,
      HAVEN_JANUS_EVENTS_SECRET: EVENTS_SECRET,
      // Short, so the idle test is quick; the other visits start in an hour and keep someone in the room.
      HAVEN_VISIT_IDLE_MINUTES: '0.05',
      HAVEN_VISIT_IDLE_CHECK_SECONDS: '0.5',
    },
  });
  ({ client, store, httpPort: sessionHttpPort } = stack);
});

afterAll(async () => {
  for (const a of attackers) a.close();
  for (const m of mediaClients) m.close();
  await stack?.stop();
  await janus?.stop();
});

/** Books an appointment by appending AppointmentBooked, and waits until the session service opened its visit. */
async function openVisit(opts: { clinicianId: string; startInMs?: number }): Promise<string> {
  const visitId = await appendAppointmentBooked(store, {
    clinicianId: opts.clinicianId,
    patientId: 'pat-0001',
    start: new Date(Date.now() + (opts.startInMs ?? 3600_000)),
  });
  await eventually('VisitOpened', async () => (await store.read(`session.visit-${visitId}`))[0]);
  return visitId;
}

async function eventOf(visitId: string, type: string): Promise<EventEnvelope> {
  return eventually(type, async () =>
    (await store.read(`session.visit-${visitId}`)).find((e) => e.type === `haven.session.v1.${type}`),
  );
}

const clinicianToken = (id = 'clin-a') => stack.identity.sign({ sub: id, role: 'clinician' });
const patientToken = (visitId: string, id = 'pp-1') =>
  stack.scheduling.sign({ sub: id, kind: 'patient', visit: `visits/${visitId}` });

async function call<K extends keyof session.SessionServiceClient>(
  method: K,
  request: unknown,
  token: string,
): Promise<{ ok: true; value: unknown } | { ok: false; error: grpc.ServiceError }> {
  // Every field the test leaves out takes its proto default (an empty request_id, as a client without one sends).
  const type = (session as unknown as Record<string, { fromPartial?: (r: unknown) => unknown }>)[
    `${method[0]!.toUpperCase()}${method.slice(1)}Request`
  ];
  const full = type?.fromPartial ? type.fromPartial(request) : request;
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const value = await callUnary(client, method as any, full as any, clientCallMetadata({ token }));
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: error as grpc.ServiceError };
  }
}

/** JoinLobby of `visitId` with `token`, as the call answered (the caller checks `ok`). */
const joinLobby = async (visitId: string, token: string) =>
  (await call('joinLobby', { appointment: `appointments/${visitId}`, displayName: '' }, token)) as {
    ok: true;
    value: session.JoinLobbyResponse;
  };

async function expectCode(
  promise: Promise<{ ok: true; value: unknown } | { ok: false; error: grpc.ServiceError }>,
  code: grpc.status,
  message?: RegExp,
): Promise<void> {
  const result = await promise;
  if (result.ok) throw new Error(`expected status ${grpc.status[code]}, the call succeeded`);
  expect(grpc.status[result.error.code]).toBe(grpc.status[code]);
  if (message) expect(result.error.details).toMatch(message);
}

/**
 * A raw Janus client joining a room as a publisher with whatever it has. Resolves with 'joined' or the Janus
 * error code (433 not allowed, 426 no such room). The core token is valid: the attack is on the room.
 */
async function rawJoin(
  room: number,
  opts: { token?: string; pin?: string; display?: string; coreToken?: string },
): Promise<{ outcome: 'joined' | number; client: JanusWsClient; feed?: number }> {
  const ws = await connectJanusWs(janus.wsUrl);
  attackers.push(ws);
  const core =
    opts.coreToken ??
    signJanusToken({ secret: janus.tokenSecret!, expiresAt: new Date(Date.now() + 60_000) });
  const joined = await joinAsPublisher(ws, core, {
    room,
    display: opts.display ?? 'intruder',
    ...(opts.pin !== undefined ? { pin: opts.pin } : {}),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
  });
  return { ...joined, client: ws };
}

/** A participant's media client through the session service's media proxy (the gateway's way: a bearer). */
async function proxyJoin(
  media: session.JoinMediaResponse,
  bearer: string,
): Promise<{ outcome: 'joined' | number; client: MediaClient }> {
  const r = await publishThrough(
    { url: `ws://127.0.0.1:${sessionHttpPort}/media`, headers: { authorization: `Bearer ${bearer}` } },
    media.mediaCredential,
  );
  mediaClients.push(r.client);
  return r;
}

describe('the waiting room, enforced by the server', () => {
  it('lets only an admitted participant’s credential into the room, and refuses every other way in', async () => {
    const visitId = await openVisit({ clinicianId: 'clin-a' });
    const room = roomNumberOf(visitId);
    const clinician = await clinicianToken();
    const patient = await patientToken(visitId);

    // The patient waits in the lobby; the clinician sees them there.
    const joined = await joinLobby(visitId, patient);
    expect(joined.ok).toBe(true);
    expect(joined.value.participant?.state).toBe(session.ParticipantState.PARTICIPANT_STATE_WAITING);
    const participant = joined.value.participant!.name;
    const lobby = (await call(
      'listLobby',
      { visit: `visits/${visitId}`, pageSize: 0, pageToken: '' },
      clinician,
    )) as {
      ok: true;
      value: session.ListLobbyResponse;
    };
    expect(lobby.value.participants.map((p) => p.name)).toEqual([participant]);

    // Not admitted: no media credential, and Janus refuses the room to anyone, PIN or not (an attacker may
    // know the PIN: it never leaves the session service, but the test derives it as the service does).
    await expectCode(
      call('joinMedia', { visit: `visits/${visitId}` }, patient),
      grpc.status.PERMISSION_DENIED,
    );
    const { pin } = roomCredentials(tokenSecret, visitId);
    expect((await rawJoin(room, { pin })).outcome).toBe(433);
    expect((await rawJoin(room, { pin, token: randomBytes(32).toString('base64url') })).outcome).toBe(433);

    // The clinician's media access (they are admitted implicitly): a credential for the media proxy, nothing
    // for Janus. Their join through the proxy is recorded from Janus events.
    const clinMedia = (await call('joinMedia', { visit: `visits/${visitId}` }, clinician)) as {
      ok: true;
      value: session.JoinMediaResponse;
    };
    expect(clinMedia.ok).toBe(true);
    expect(clinMedia.value.serverUrl).toBe('/api/media');

    expect([clinMedia.value.pin, clinMedia.value.token, clinMedia.value.janusToken]).toEqual(['', '', '']);

    // A made-up credential, or the clinician's credential under a patient's bearer, opens nothing.
    const forged = {
      ...clinMedia.value,
      mediaCredential: `${clinMedia.value.mediaCredential.split('.')[0]}.AAAA`,
    };
    expect((await proxyJoin(forged, clinician)).outcome).toBe(403);
    expect((await proxyJoin(clinMedia.value, patient)).outcome).toBe(403);
    const clinInRoom = await proxyJoin(clinMedia.value, clinician);
    expect(clinInRoom.outcome).toBe('joined');
    await eventOf(visitId, 'ParticipantJoinedMedia');

    // Admission: the patient's media access now works.
    const admitted = (await call('admitParticipant', { name: participant }, clinician)) as {
      ok: true;
      value: session.AdmitParticipantResponse;
    };
    expect(admitted.value.participant?.state).toBe(session.ParticipantState.PARTICIPANT_STATE_ADMITTED);
    const admittedEvent = await eventOf(visitId, 'ParticipantAdmitted');
    const media = (await call('joinMedia', { visit: `visits/${visitId}` }, patient)) as {
      ok: true;
      value: session.JoinMediaResponse;
    };
    expect(media.ok).toBe(true);
    expect(media.value.mediaCredential.length).toBeGreaterThanOrEqual(43);
    expect(media.value.expireTime!.getTime()).toBeGreaterThan(Date.now());
    // The events carry the room token's hash, never the token or the credential.
    const patientDisplay = participant.split('/').pop()!;
    const admission = String(admittedEvent.data['admission']);
    const patientRoomToken = roomToken(tokenSecret, visitId, patientDisplay, admission);
    const stored = JSON.stringify((await store.read(`session.visit-${visitId}`)).map((e) => e.data));
    expect(stored).not.toContain(patientRoomToken);
    expect(stored).not.toContain(media.value.mediaCredential);
    expect(admittedEvent.data['tokenHash']).toEqual(expect.any(String));
    const patientInRoom = await proxyJoin(media.value, patient);
    expect(patientInRoom.outcome).toBe('joined');
    await eventually('the patient’s ParticipantJoinedMedia', async () => {
      const events = await store.read(`session.visit-${visitId}`);
      return events.some(
        (e) =>
          e.type === 'haven.session.v1.ParticipantJoinedMedia' && e.data['participantId'] === patientDisplay,
      )
        ? true
        : undefined;
    });

    // Kick: the feed is kicked, the media connection closed, and neither the credential nor the room token
    // opens anything again.
    const kicked = (await call('kickParticipant', { name: participant, allowRejoin: true }, clinician)) as {
      ok: true;
      value: session.KickParticipantResponse;
    };
    expect(kicked.value.participant?.state).toBe(session.ParticipantState.PARTICIPANT_STATE_KICKED);
    await eventOf(visitId, 'ParticipantLeftMedia');
    expect((await patientInRoom.client.closedWithin(2000))?.code).toBe(4403);
    expect((await proxyJoin(media.value, patient)).outcome).toBe(403);
    expect((await rawJoin(room, { pin, token: patientRoomToken, display: patientDisplay })).outcome).toBe(
      433,
    );
    await expectCode(
      call('joinMedia', { visit: `visits/${visitId}` }, patient),
      grpc.status.PERMISSION_DENIED,
    );

    // Back to the lobby (a new admission is needed); then the clinician locks: no admission, Janus refuses.
    await joinLobby(visitId, patient);
    const locked = (await call('lockVisit', { name: `visits/${visitId}` }, clinician)) as {
      ok: true;
      value: session.LockVisitResponse;
    };
    expect(locked.value.visit?.locked).toBe(true);
    await expectCode(
      call('admitParticipant', { name: participant }, clinician),
      grpc.status.FAILED_PRECONDITION,
      /visit is locked/,
    );
    expect((await rawJoin(room, { pin, token: patientRoomToken })).outcome).toBe(433);
    expect((await rawJoin(room, { pin, token: randomBytes(16).toString('hex') })).outcome).toBe(433);
    await expectCode(
      call('joinMedia', { visit: `visits/${visitId}` }, patient),
      grpc.status.PERMISSION_DENIED,
    );

    // End: the room is gone, for everyone, with any token; the clinician's media connection is closed.
    const ended = (await call('endVisit', { name: `visits/${visitId}` }, clinician)) as {
      ok: true;
      value: session.EndVisitResponse;
    };
    expect(ended.value.visit?.state).toBe(session.VisitState.VISIT_STATE_ENDED);
    expect((await eventOf(visitId, 'VisitEnded')).data).toEqual({ visitId, reason: 'ended_by_clinician' });
    expect((await clinInRoom.client.closedWithin(2000))?.code).toBe(4410);
    expect((await proxyJoin(clinMedia.value, clinician)).outcome).toBe(403);
    expect((await rawJoin(room, { pin })).outcome).toBe(426);
    await expectCode(
      call('joinMedia', { visit: `visits/${visitId}` }, clinician),
      grpc.status.FAILED_PRECONDITION,
    );
    await expectCode(
      call('joinLobby', { appointment: `appointments/${visitId}`, displayName: '' }, patient),
      grpc.status.FAILED_PRECONDITION,
    );

    // No PHI in any event's data: ids, codes, times and hashes only.
    for (const e of await store.read(`session.visit-${visitId}`)) {
      expect(Object.keys(e.data)).not.toEqual(expect.arrayContaining(['displayName']));
      expect(e.phi).toBeUndefined();
    }
  });

  it('refuses Janus event posts without the event handler password (media joins above came with it)', async () => {
    const post = async (authorization?: string): Promise<number> =>
      (
        await fetch(`http://127.0.0.1:${sessionHttpPort}/janus-events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(authorization ? { authorization } : {}),
          },
          body: '[]',
        })
      ).status;
    const basic = (user: string, password: string): string =>
      `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    expect(await post()).toBe(401);
    expect(await post(basic('janus', 'not-the-password-at-all'))).toBe(401);
    expect(await post(basic('janus', EVENTS_SECRET))).toBe(204);
  });

  it('ends a visit nobody has been in for the idle time, and destroys its room', async () => {
    const visitId = await openVisit({ clinicianId: 'clin-a', startInMs: -60_000 });
    const ended = await eventOf(visitId, 'VisitEnded');
    expect(ended.data).toEqual({ visitId, reason: 'idle' });
    expect((await rawJoin(roomNumberOf(visitId), {})).outcome).toBe(426);
  });
});

describe('who may call the session service', () => {
  it('refuses every session RPC but the day list to a front-desk user, and the list tells roles and states only', async () => {
    const visitId = await openVisit({ clinicianId: 'clin-a' });
    const frontDesk = await stack.identity.sign({ sub: 'u-frontdesk', role: 'front_desk' });
    const visit = `visits/${visitId}`;
    const someone = `${visit}/participants/pabc`;
    const calls: [keyof session.SessionServiceClient, unknown][] = [
      ['getVisit', { name: visit }],
      ['joinLobby', { appointment: `appointments/${visitId}`, displayName: '' }],
      ['listLobby', { visit, pageSize: 0, pageToken: '' }],
      ['admitParticipant', { name: someone }],
      ['denyParticipant', { name: someone }],
      ['lockVisit', { name: visit }],
      ['unlockVisit', { name: visit }],
      ['kickParticipant', { name: someone, allowRejoin: false }],
      ['endVisit', { name: visit }],
      [
        'recordConsent',
        { visit, participant: '', scope: session.ConsentScope.CONSENT_SCOPE_RECORDING, granted: true },
      ],
      ['joinMedia', { visit }],
      ['leaveVisit', { visit }],
    ];
    for (const [method, request] of calls) {
      const result = await call(method, request, frontDesk);
      expect([method, result.ok ? 'OK' : grpc.status[result.error.code]]).toEqual([
        method,
        'PERMISSION_DENIED',
      ]);
    }
    expect((await store.read(`session.visit-${visitId}`)).map((e) => e.type)).toEqual([
      'haven.session.v1.VisitOpened',
    ]);
    // The day view: who is waiting by role and state, nothing that names or times anyone.
    const listed = await call(
      'listVisits',
      { pageSize: 0, pageToken: '', clinician: '', states: [] },
      frontDesk,
    );
    if (!listed.ok) throw listed.error;
    const visits = (listed.value as session.ListVisitsResponse).visits;
    expect(visits.map((v) => v.name)).toContain(visit);
    for (const v of visits) {
      expect(v).toMatchObject({ patient: '', janusNode: '', room: '0', createTime: undefined });
      for (const p of v.participants) {
        expect(p).toMatchObject({ name: '', principal: '', displayName: '', joinTime: undefined });
      }
    }
  });

  it('refuses a clinician another clinician’s lobby, visit and admissions; a patient another visit', async () => {
    const visitId = await openVisit({ clinicianId: 'clin-a' });
    const patient = await patientToken(visitId);
    const joined = await joinLobby(visitId, patient);
    const other = await clinicianToken('clin-b');
    await expectCode(
      call('listLobby', { visit: `visits/${visitId}`, pageSize: 0, pageToken: '' }, other),
      grpc.status.PERMISSION_DENIED,
    );
    await expectCode(call('getVisit', { name: `visits/${visitId}` }, other), grpc.status.PERMISSION_DENIED);
    await expectCode(
      call('admitParticipant', { name: joined.value.participant!.name }, other),
      grpc.status.PERMISSION_DENIED,
    );
    await expectCode(call('joinMedia', { visit: `visits/${visitId}` }, other), grpc.status.PERMISSION_DENIED);
    const mine = (await call(
      'listVisits',
      { pageSize: 0, pageToken: '', clinician: '', states: [] },
      other,
    )) as {
      ok: true;
      value: session.ListVisitsResponse;
    };
    expect(mine.value.visits.map((v) => v.name)).not.toContain(`visits/${visitId}`);
    const owner = (await call(
      'listVisits',
      { pageSize: 0, pageToken: '', clinician: '', states: [] },
      await clinicianToken(),
    )) as {
      ok: true;
      value: session.ListVisitsResponse;
    };
    expect(owner.value.visits.map((v) => v.name)).toContain(`visits/${visitId}`);

    const otherVisitPatient = await patientToken('apt-someone-else', 'pp-2');
    await expectCode(
      call('joinLobby', { appointment: `appointments/${visitId}`, displayName: '' }, otherVisitPatient),
      grpc.status.PERMISSION_DENIED,
    );
    await expectCode(
      call('getVisit', { name: `visits/${visitId}` }, otherVisitPatient),
      grpc.status.PERMISSION_DENIED,
    );
  });

  it('opens a visit for a hospital system (OpenVisit): idempotent, refused for unknown, cancelled or past appointments', async () => {
    const ehr = await stack.identity.sign({
      sub: 'sa-ehr',
      kind: 'service_account',
      scope: 'session.visits.write',
    });
    // Booked a moment ago: whichever opens it first (the booking consumer or this call), it is one visit.
    const appointmentId = await appendAppointmentBooked(store, {
      clinicianId: 'clin-a',
      patientId: 'pat-0002',
    });
    const first = (await call('openVisit', { appointment: `appointments/${appointmentId}` }, ehr)) as {
      ok: true;
      value: session.OpenVisitResponse;
    };
    expect(first.ok).toBe(true);
    expect(first.value.visit?.name).toBe(`visits/${appointmentId}`);
    const again = (await call('openVisit', { appointment: `appointments/${appointmentId}` }, ehr)) as {
      ok: true;
      value: session.OpenVisitResponse;
    };
    expect(again.value.visit?.name).toBe(first.value.visit?.name);
    const opened = (await store.read(`session.visit-${appointmentId}`)).filter(
      (e) => e.type === 'haven.session.v1.VisitOpened',
    );
    expect(opened).toHaveLength(1);

    const unknown = (await call('openVisit', { appointment: 'appointments/apt-nope' }, ehr)) as {
      ok: false;
      error: grpc.ServiceError;
    };
    expect(unknown.error.code).toBe(grpc.status.NOT_FOUND);
    // Cancelled, or already over: FAILED_PRECONDITION.
    const closed = async (events: (id: string) => NewEvent[]): Promise<number> => {
      const id = `apt-${randomUUID()}`;
      await store.append(`scheduling.appointment-${id}`, 'no_stream', events(id));
      const r = (await call('openVisit', { appointment: `appointments/${id}` }, ehr)) as {
        ok: false;
        error: grpc.ServiceError;
      };
      return r.error.code;
    };
    const bookedAt = (id: string, startMs: number) =>
      appointmentBooked({
        appointmentId: id,
        clinicianId: 'clin-a',
        patientId: 'pat-0003',
        start: new Date(startMs),
      });
    expect(
      await closed((id) => [
        bookedAt(id, Date.now() + 3600_000),
        newEvent({
          type: 'haven.scheduling.v1.AppointmentCancelled',
          actor: { kind: 'user', id: 'u-frontdesk', role: 'front_desk' },
          data: { appointmentId: id, reasonCode: 'patient_request' },
        }),
      ]),
    ).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await closed((id) => [bookedAt(id, Date.now() - 3 * 3600_000)])).toBe(
      grpc.status.FAILED_PRECONDITION,
    );
    const bad = (await call('openVisit', { appointment: 'visits/x' }, ehr)) as {
      ok: false;
      error: grpc.ServiceError;
    };
    expect(bad.error.code).toBe(grpc.status.INVALID_ARGUMENT);
    // Without the scope (or as a clinician) the policy refuses it.
    const clinician = await clinicianToken();
    expect(
      (
        (await call('openVisit', { appointment: `appointments/${appointmentId}` }, clinician)) as {
          ok: false;
          error: grpc.ServiceError;
        }
      ).error.code,
    ).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('answers malformed names with INVALID_ARGUMENT', async () => {
    const clinician = await clinicianToken();
    const result = await call('admitParticipant', { name: 'visits/x' }, clinician);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe(grpc.status.INVALID_ARGUMENT);
    await expectCode(call('getVisit', { name: 'appointments/1' }, clinician), grpc.status.INVALID_ARGUMENT);
  });
});
