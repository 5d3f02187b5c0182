/**
 * The media plane as an attacker meets it, over raw websockets (no janus.js: a hostile client sends whatever
 * it likes). Real nats-server, Janus, identity, scheduling, TWO session service replicas and the gateway, as
 * built processes (no media flows here: tests/security/media-kick.e2e.spec.ts does that in Chromium). Each
 * participant connects with exactly what JoinMedia handed out, the way a browser would, and then tries what
 * issue 10 found possible:
 * - every videoroom request that changes, lists, records or forwards the room, with a patient's credential:
 *   refused, and each refusal an AccessRefused event;
 * - a publisher with another participant's `display` (and a feed that got into the room some other way) changes
 *   no media event of the visit, and a feed the service did not issue is kicked and recorded;
 * - more feeds than the role allows: refused by the proxy, and kicked by the service when they come through two
 *   replicas; a kick (on one replica) closes the participant's media connections on every replica and removes
 *   every feed and Janus session they had; nothing they ever held opens a new session;
 * - sign-out removes the clinician's Janus session;
 * - straight to Janus with anything a participant ever received: refused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { identity, type session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { kick } from '../e2e/support/visit-flow';
import {
  connectJanusWs,
  eventually,
  heldStrings,
  type JanusReply,
  janusSessions,
  joinExtras,
  MediaClient,
  mediaDoor,
  type MediaRoute,
  tokenOf,
} from '@haven/testing';
import {
  admittedVisit,
  mediaFor,
  mediaSuite,
  type PrivilegedRoom,
  refusalsOf,
  sessionRefusals,
  visitEvents,
  type AdmittedVisit,
} from './support/visit-setup';
import { roomToken } from '../../services/session/src/visit/room-access';

jest.setTimeout(120_000);

const suite = mediaSuite({ netns: false, sessionReplicas: 2, audit: false }, 'media-proxy-attacks');

/** What Janus answers a session `create` signed with `token`, on a websocket of its own ('success' or 'error'). */
async function janusCreate(token: string): Promise<unknown> {
  const ws = await connectJanusWs(suite.stack.janusWsUrl);
  try {
    return (await ws.request({ janus: 'create', token }))['janus'];
  } finally {
    ws.close();
  }
}

/** The gateway route of a patient (their cookie) or a staff user (theirs). */
function viaGateway(token: string, kind: 'patient' | 'staff'): MediaRoute {
  if (!suite.stack.gatewayUrl)
    throw new Error(`the gateway did not start: ${suite.stack.gatewayError ?? ''}`);
  return kind === 'patient'
    ? { via: 'gateway', gatewayUrl: suite.stack.gatewayUrl, cookie: `haven_patient=${token}`, as: 'patient' }
    : { via: 'gateway', gatewayUrl: suite.stack.gatewayUrl, cookie: `haven_access=${token}` };
}

/** Straight to one session replica's media proxy with a bearer token (what the gateway does). */
function viaReplica(token: string, replica: number): MediaRoute {
  const url = suite.stack.sessionHttpUrls[replica];
  if (!url) throw new Error(`no session replica ${replica}`);
  return { via: 'session', sessionHttpUrl: url, bearer: token };
}

/** Connects with what JoinMedia gave and opens a Janus session. Throws when that is refused. */
async function connect(m: session.JoinMediaResponse, route: MediaRoute): Promise<MediaClient> {
  const c = await MediaClient.open(mediaDoor(m.serverUrl, route), tokenOf(m));
  suite.keep(c);
  const created = await c.create();
  if (created.janus !== 'success') throw new Error(`create refused: ${JSON.stringify(created.raw)}`);
  return c;
}

/** A new videoroom handle. Throws when attach is refused. */
async function handle(c: MediaClient): Promise<number> {
  const { handleId, reply } = await c.attach();
  if (handleId === undefined) throw new Error(`attach refused: ${JSON.stringify(reply.raw)}`);
  return handleId;
}

const publisherJoin = (c: MediaClient, h: number, m: session.JoinMediaResponse, extra = {}) =>
  c.message(h, { request: 'join', ptype: 'publisher', ...joinExtras(m), ...extra });

const refused = (r: JanusReply): boolean => r.errorCode !== undefined;

/** Feeds in the room published under a participant's id (their server-issued display starts with it). */
async function feedsOf(room: PrivilegedRoom, pid: string): Promise<number[]> {
  return (await room.participants())
    .filter((p) => p.display === pid || (p.display ?? '').startsWith(`${pid}.`))
    .map((p) => p.id);
}

describe('a patient’s credential reaches only what their admission grants', () => {
  let v: AdmittedVisit;
  let m: session.JoinMediaResponse;
  let c: MediaClient;
  let h: number;

  beforeAll(async () => {
    v = await admittedVisit(suite.stack);
    m = await mediaFor(suite.stack, v.visit, v.patientToken);
    c = await connect(m, viaGateway(v.patientToken, 'patient'));
    h = await handle(c);
    const joined = await publisherJoin(c, h, m);
    if (joined.data['videoroom'] !== 'joined') throw new Error(`join failed: ${JSON.stringify(joined.raw)}`);
  });

  it('hands the browser no Janus token, room PIN or room token', () => {
    expect({ janusToken: m.janusToken, pin: m.pin, token: m.token, displayName: m.displayName }).toEqual({
      janusToken: '',
      pin: '',
      token: '',
      displayName: '',
    });

    expect(m.mediaCredential).not.toBe('');
  });

  it('refuses every videoroom request that changes, lists, records or forwards a room, and records each', async () => {
    const started = Date.now();
    const other = (await admittedVisit(suite.stack)).room;
    const path = `/tmp/haven-attack-${randomBytes(6).toString('hex')}`;
    const attacks: Array<[string, Record<string, unknown>]> = [
      ['create', { request: 'create', room: other + 1, permanent: false, is_private: false }],
      ['edit', { request: 'edit', room: v.room, new_description: 'mine now', new_lock_record: false }],
      ['destroy', { request: 'destroy', room: v.room }],
      ['kick', { request: 'kick', room: v.room, id: 1 }],
      ['moderate', { request: 'moderate', room: v.room, id: 1, mid: '0', mute: true }],
      ['enable_recording', { request: 'enable_recording', room: v.room, record: true }],
      [
        'rtp_forward',
        { request: 'rtp_forward', room: v.room, publisher_id: 1, host: '127.0.0.1', streams: [] },
      ],
      ['listforwarders', { request: 'listforwarders', room: v.room }],
      ['allowed', { request: 'allowed', room: v.room, action: 'add', allowed: ['mine'] }],
      ['list', { request: 'list' }],
      ['listparticipants', { request: 'listparticipants', room: v.room }],
      ['listparticipants', { request: 'listparticipants', room: other }],
      ['exists', { request: 'exists', room: other }],
      ['configure', { request: 'configure', record: true, filename: `${path}/configure` }],
      ['publish', { request: 'publish', record: true, filename: `../../../..${path}/publish` }],
    ];
    const answers: Array<[string, JanusReply]> = [];
    for (const [name, body] of attacks) answers.push([name, await c.message(h, body)]);
    // joinandconfigure (record on join) and a join into ANOTHER visit's room, each on a fresh handle.
    answers.push([
      'joinandconfigure',
      await c.message(await handle(c), {
        request: 'joinandconfigure',
        ptype: 'publisher',
        ...joinExtras(m),
        record: true,
        filename: `${path}/joinandconfigure`,
      }),
    ]);
    answers.push(['join', await publisherJoin(c, await handle(c), m, { room: other })]);

    for (const [name, answer] of answers) {
      expect([
        name,
        refused(answer),
        answer.data['list'],
        answer.data['participants'],
        answer.data['exists'],
      ]).toEqual([name, true, undefined, undefined, undefined]);
    }
    expect(existsSync(path)).toBe(false);

    // Each refusal is an AccessRefused event naming the request and the patient.
    const patientId = (
      JSON.parse(Buffer.from(v.patientToken.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string }
    ).sub;
    const recorded = await eventually('an AccessRefused for every refused request', async () => {
      const mine = (await sessionRefusals(suite.store)).filter(
        (e) =>
          e.type === 'haven.security.v1.AccessRefused' &&
          Date.parse(e.occurredAt) >= started - 1000 &&
          e.data['principalId'] === patientId,
      );
      const methods = mine.map((e) => String(e.data['method']));
      return answers.every(([name]) => methods.includes(`janus videoroom.${name}`)) ? mine : undefined;
    });
    for (const e of recorded) {
      expect(e.data).toMatchObject({
        principalKind: 'patient',
        kind: 'media',
        code: expect.stringMatching(/^(MEDIA_REQUEST|FEED_LIMIT)$/) as unknown,
        target: `visits/${v.visitId}/participants/${v.patientPid}`,
      });
      expect(JSON.stringify(e.data)).not.toContain(m.mediaCredential);
    }
  });

  it('the gateway’s door refuses a foreign origin, a missing CSRF token and no cookie, and records each', async () => {
    if (!suite.stack.gatewayUrl) throw new Error('no gateway');
    const started = Date.now();
    const door = mediaDoor(m.serverUrl, viaGateway(v.patientToken, 'patient'));
    const attempts: Array<[string, { url: string; headers: Record<string, string> }]> = [
      ['ORIGIN_NOT_ALLOWED', { ...door, headers: { ...door.headers, origin: 'http://evil.example' } }],
      ['CSRF', { url: door.url.replace(/csrf=[^&]+/, 'csrf=wrong'), headers: door.headers }],
      [
        'UNAUTHENTICATED',
        {
          ...door,
          headers: { ...door.headers, cookie: door.headers['cookie']!.replace(/haven_patient=[^;]+; /, '') },
        },
      ],
    ];
    for (const [, attempt] of attempts) {
      await expect(MediaClient.open(attempt, tokenOf(m))).rejects.toThrow(/40[13]/);
    }
    await eventually('the gateway’s AccessRefused for each refused media upgrade', async () => {
      const codes = (await refusalsOf(suite.store, 'gateway'))
        .filter((e) => Date.parse(e.occurredAt) >= started - 1000 && e.data['method'] === 'GET /api/media')
        .map((e) => e.data['code']);
      return attempts.every(([code]) => codes.includes(code)) ? codes : undefined;
    });
  });

  it('straight to Janus, nothing a participant received opens a session', async () => {
    const clinician = await mediaFor(suite.stack, v.visit, v.clinician.token);
    const held = [...heldStrings(m), ...heldStrings(clinician)];
    expect(held.length).toBeGreaterThan(0);
    for (const token of held) {
      expect([token.slice(0, 12), await janusCreate(token)]).toEqual([token.slice(0, 12), 'error']);
    }
  });
});

describe('Janus’s own refusals', () => {
  it('are recorded as AccessRefused events too (a room token no longer on the allow-list: 433)', async () => {
    const v = await admittedVisit(suite.stack);
    const m = await mediaFor(suite.stack, v.visit, v.patientToken);
    const c = await connect(m, viaGateway(v.patientToken, 'patient'));
    // The room token leaves the allow-list behind the proxy's back (the test holds the room secret).
    const room = await suite.privileged(v.visitId);
    const events = await visitEvents(suite.store, v.visitId);
    const admission = events.find((e) => e.type === 'haven.session.v1.ParticipantAdmitted')?.data[
      'admission'
    ];
    const token = roomToken(suite.stack.janusTokenSecret, v.visitId, v.patientPid, String(admission));
    await room.send({
      request: 'allowed',
      room: room.room,
      secret: room.secret,
      action: 'remove',
      allowed: [token],
    });
    const started = Date.now();
    const refusedByJanus = await publisherJoin(c, await handle(c), m);
    expect(refusedByJanus.errorCode).toBe(433);
    await eventually('the AccessRefused of Janus’s 433', async () => {
      const found = (await sessionRefusals(suite.store)).find(
        (e) =>
          Date.parse(e.occurredAt) >= started - 1000 &&
          e.data['method'] === 'janus videoroom.join' &&
          e.data['code'] === 'JANUS_433',
      );
      return found;
    });
  });
});

describe('media events come from what the server issued, never from a client-chosen display', () => {
  it('a publisher claiming the clinician’s display changes no event, and a feed the service did not issue is kicked', async () => {
    const v = await admittedVisit(suite.stack);
    const clinician = await mediaFor(suite.stack, v.visit, v.clinician.token);
    const cc = await connect(clinician, viaReplica(v.clinician.token, 0));
    const ch = await handle(cc);
    const cj = await publisherJoin(cc, ch, clinician);
    expect(cj.data['videoroom']).toBe('joined');
    const clinicianFeed = cj.data['id'] as number;
    const joinedMedia = (pid: string) => async () =>
      (await visitEvents(suite.store, v.visitId)).filter(
        (e) => e.type === 'haven.session.v1.ParticipantJoinedMedia' && e.data['participantId'] === pid,
      );
    await eventually('the clinician’s ParticipantJoinedMedia', async () => {
      const e = await joinedMedia(v.clinicianPid)();
      return e.length > 0 ? e : undefined;
    });

    // The patient: a second publisher under the clinician's display, then their own feed renamed to it.
    const m = await mediaFor(suite.stack, v.visit, v.patientToken);
    const pc = await connect(m, viaGateway(v.patientToken, 'patient'));
    const spoof = await publisherJoin(pc, await handle(pc), m, { display: v.clinicianPid });
    const own = await handle(pc);
    const ownJoin = await publisherJoin(pc, own, m);
    expect(ownJoin.data['videoroom']).toBe('joined');
    const rename = await pc.message(own, { request: 'configure', display: v.clinicianPid });
    expect([refused(spoof), refused(rename)]).toEqual([true, true]);
    await eventually('the patient’s own ParticipantJoinedMedia', async () => {
      const e = await joinedMedia(v.patientPid)();
      return e.length > 0 ? e : undefined;
    });

    // A feed that reached the room another way (here: with the test's own Janus secrets) under the clinician's
    // id, bare or with a made-up MAC: the service kicks it and records the refusal.
    const started = Date.now();
    const room = await suite.privileged(v.visitId);
    const forged = `forged-${randomBytes(12).toString('base64url')}`;
    await room.send({
      request: 'allowed',
      room: room.room,
      secret: room.secret,
      action: 'add',
      allowed: [forged],
    });
    const forgedFeeds: number[] = [];
    for (const display of [v.clinicianPid, `${v.clinicianPid}.${randomBytes(16).toString('base64url')}`]) {
      const joined = await room.send(
        { request: 'join', ptype: 'publisher', room: room.room, pin: room.pin, token: forged, display },
        await room.handle(),
      );
      expect(joined['videoroom']).toBe('joined');
      forgedFeeds.push(joined['id'] as number);
    }
    await eventually(
      'the forged feeds to be kicked',
      async () => {
        const ids = (await room.participants()).map((p) => p.id);
        return forgedFeeds.every((f) => !ids.includes(f)) ? true : undefined;
      },
      { timeoutMs: 5000 },
    );
    // Recorded against the visit, attributed to nobody: never to the clinician whose id the display claimed.
    await eventually('an AccessRefused for each forged feed', async () => {
      const unmapped = (await sessionRefusals(suite.store)).filter(
        (e) =>
          Date.parse(e.occurredAt) >= started - 1000 &&
          e.data['code'] === 'MEDIA_FEED_KICKED' &&
          e.data['target'] === `visits/${v.visitId}` &&
          e.data['principalId'] === undefined &&
          e.actor.kind === 'anonymous',
      );
      return unmapped.length >= forgedFeeds.length ? unmapped : undefined;
    });

    const events = await visitEvents(suite.store, v.visitId);
    const aboutClinician = events.filter(
      (e) => e.type.includes('Media') && e.data['participantId'] === v.clinicianPid,
    );
    expect(aboutClinician.map((e) => [e.type, e.data['feedId']])).toEqual([
      ['haven.session.v1.ParticipantJoinedMedia', clinicianFeed],
    ]);
    for (const f of forgedFeeds) expect(events.some((e) => e.data['feedId'] === f)).toBe(false);
  });
});

describe('feeds per role, and what a kick takes away', () => {
  it('refuses a third feed, kicks extras that come through two replicas, and a kick ends it all everywhere', async () => {
    const v = await admittedVisit(suite.stack);
    const room = await suite.privileged(v.visitId);
    // Replica 1: camera and screen share are fine, a third feed is not.
    const m0 = await mediaFor(suite.stack, v.visit, v.patientToken, 0);
    const c0 = await connect(m0, viaReplica(v.patientToken, 0));
    const joins0: JanusReply[] = [];
    for (let i = 0; i < 3; i++) joins0.push(await publisherJoin(c0, await handle(c0), m0));
    expect(joins0.map((j) => j.errorCode ?? j.data['videoroom'])).toEqual(['joined', 'joined', 432]);

    // Replica 2 knows nothing of replica 1's feeds: what gets through there is kicked by the service.
    const m1 = await mediaFor(suite.stack, v.visit, v.patientToken, 1);
    const c1 = await connect(m1, viaReplica(v.patientToken, 1));
    for (let i = 0; i < 2; i++) expect(refused(await publisherJoin(c1, await handle(c1), m1))).toBe(false);
    await eventually(
      'the feeds over the limit to be kicked',
      async () => ((await feedsOf(room, v.patientPid)).length === 2 ? true : undefined),
      { timeoutMs: 5000 },
    );

    // Kick (through replica 1): every connection on every replica closes, every feed and Janus session goes.
    const sessionsBefore = [c0.sessionId, c1.sessionId];
    const t0 = Date.now();
    await kick(suite.stack, v.clinician, v.participant);
    const [closed0, closed1] = await Promise.all([c0.closedWithin(2000), c1.closedWithin(2000)]);
    expect([closed0 !== undefined, closed1 !== undefined]).toEqual([true, true]);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(await feedsOf(room, v.patientPid)).toEqual([]);
    const alive = await janusSessions(suite.stack.janus.adminWsUrl, suite.stack.janus.adminSecret);
    for (const s of sessionsBefore) expect(alive).not.toContain(s);

    // Nothing the patient ever held opens anything any more: not the proxy, not Janus.
    for (const [m, route] of [
      [m0, viaGateway(v.patientToken, 'patient')],
      [m1, viaReplica(v.patientToken, 1)],
    ] as const) {
      const again = await MediaClient.open(mediaDoor(m.serverUrl, route), tokenOf(m)).catch(() => undefined);
      if (!again) continue;
      suite.keep(again);
      const created = await again.create();
      expect(created.janus).toBe('error');
    }
    for (const token of [...heldStrings(m0), ...heldStrings(m1)])
      expect(await janusCreate(token)).toBe('error');
  });
});

describe('signing out ends the media', () => {
  it('a logout closes the clinician’s media connection and removes their Janus session and feed', async () => {
    const v = await admittedVisit(suite.stack);
    const clinician = await suite.stack.login('clinician');
    const m = await mediaFor(suite.stack, v.visit, clinician.token);
    const c = await connect(m, viaGateway(clinician.token, 'staff'));
    const h = await handle(c);
    expect((await publisherJoin(c, h, m)).data['videoroom']).toBe('joined');
    const room = await suite.privileged(v.visitId);
    await eventually('the clinician’s feed in the room', async () =>
      (await feedsOf(room, v.clinicianPid)).length > 0 ? true : undefined,
    );

    await callUnary(
      suite.stack.clients.identity,
      'logout',
      identity.LogoutRequest.fromPartial({ refreshToken: clinician.refreshToken }),
      clientCallMetadata({ token: clinician.token }),
    );
    expect(await c.closedWithin(2000)).toBeDefined();
    expect(await janusSessions(suite.stack.janus.adminWsUrl, suite.stack.janus.adminSecret)).not.toContain(
      c.sessionId,
    );
    expect(await feedsOf(room, v.clinicianPid)).toEqual([]);
    // The signed-out token cannot open the door again (the upgrade or the session is refused).
    const again = await MediaClient.open(
      mediaDoor(m.serverUrl, viaGateway(clinician.token, 'staff')),
      tokenOf(m),
    )
      .then(async (client) => {
        suite.keep(client);
        return (await client.create()).janus;
      })
      .catch((error: Error) => error.message);
    expect(again).toMatch(/401|error/);
  });
});

it('leaves no .mjr file in the recordings directory after the attacks', () => {
  const files = existsSync(suite.stack.janus.recordingsDir)
    ? readdirSync(suite.stack.janus.recordingsDir)
    : [];
  expect(files.filter((f) => f.endsWith('.mjr'))).toEqual([]);
});
