/**
 * Guests and host rights through the gateway against the real services (identity, scheduling, session on a real
 * nats-server and Janus): the visit's clinician invites a second clinician as a guest; the guest waits in the lobby
 * as their own entry and gets nothing (no media credential) until a host admits them; the patient's page and the
 * host's see the guest's role; the host hands host rights over and can then no longer end the visit, while the
 * new host can. Attack: a clinician nobody invited cannot see the visit, join its lobby or take media, and a guest
 * cannot admit, remove, invite or end. A guest without an account gets a one-time link with its own passcode:
 * one device, brute-force locked, its own lobby entry with its role, and once revoked gone at once (a raw media
 * websocket on its credential is closed and refused).
 */
import { JetStreamEventStore } from '@haven/eventstore';
import { MediaClient } from '@haven/testing';
import { bookVisitWithLink, CookieJar, mediaDoor, mediaSessionOutcome, redeemLink } from '../test/gateway';
import { startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let cara: string;
let dan: string;
let eve: string;

beforeAll(async () => {
  stack = await startStack();
  await stack.createUser('desk@guests.test', 'front_desk', 'Front Desk');
  cara = await stack.createUser('cara@guests.test', 'clinician', 'Dr Cara Ng');
  dan = await stack.createUser('dan@guests.test', 'clinician', 'Dr Dan Li');
  eve = await stack.createUser('eve@guests.test', 'clinician', 'Dr Eve Stray');
});
afterAll(async () => {
  await stack?.stop();
});

interface Entry {
  id: string;
  kind: string;
  state: string;
  host: boolean;
}

/**
 * The front desk books `patient` with the clinician `host` (`<login>@guests.test`); resolves with the host's
 * cookies, the visit and its API URL.
 */
async function hostedVisit(host: string, login: string, patient: { name: string; dateOfBirth: string }) {
  const desk = await stack.signIn('desk@guests.test');
  const hostJar = await stack.signIn(`${login}@guests.test`);
  const visit = await bookVisitWithLink(stack.url, desk, host, patient);
  return { hostJar, visit, url: `${stack.url}/api/visits/${visit.visitId}` };
}

describe('a second clinician as a guest, and host rights', () => {
  it('invites, admits separately, shows the role, and hands host rights over', async () => {
    const { hostJar, visit, url } = await hostedVisit(cara, 'cara', {
      name: 'Maria Lopez',
      dateOfBirth: '1979-04-05',
    });
    const guestJar = await stack.signIn('dan@guests.test');
    const strayJar = await stack.signIn('eve@guests.test');
    const patient = await redeemLink(stack.url, visit);
    expect((await patient.post(`${stack.url}/api/patient/lobby`, {})).status).toBe(200);
    const hostMedia = await hostJar.post(`${url}/media`, {}); // the host is in
    expect(hostMedia.status).toBe(200);
    const hostCredential = String(((await hostMedia.json()) as { mediaCredential: string }).mediaCredential);

    // Nobody invited Dan yet: the visit is not his to see, wait in or join.
    expect((await guestJar.post(`${url}/lobby`, {})).status).toBe(403);
    expect((await guestJar.fetch(url)).status).toBe(403);

    // Cara invites Dan as a clinician; a bad role or user is refused with the field named.
    const bad = await hostJar.post(`${url}/guests`, { userId: dan, role: 'patient' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('role');
    // Both fields wrong at once: both named; a name on Object's prototype is not a role.
    const worse = await hostJar.post(`${url}/guests`, { userId: '../x', role: 'constructor' });
    expect(worse.status).toBe(400);
    expect(JSON.stringify(await worse.json())).toMatch(/userId[\s\S]*role/);
    expect((await hostJar.post(`${url}/guests`, { userId: dan, role: 'clinician' })).status).toBe(200);
    // Only a host invites: the patient has no such route, a stray clinician is refused.
    expect((await strayJar.post(`${url}/guests`, { userId: dan, role: 'clinician' })).status).toBe(403);

    // Dan waits in the lobby as his own entry; no media until admitted.
    const joined = await guestJar.post(`${url}/lobby`, {});
    expect(joined.status).toBe(200);
    const guestId = String(((await joined.json()) as { participantId: string }).participantId);
    expect((await guestJar.post(`${url}/media`, {})).status).toBe(403);
    // Nor with a raw websocket on the media door and the host's own credential: the proxy refuses it.
    const door = mediaDoor(stack.url, guestJar, { asPatient: false });
    const riding = await mediaSessionOutcome(door, hostCredential);
    expect(riding).not.toBe('success');
    // A guest may not admit anyone (the patient is waiting too).
    const read = async (jar: CookieJar) =>
      ((await (await jar.fetch(url)).json()) as { visit: { participants: Entry[]; hosts: string[] } }).visit;
    const lobby = (await read(hostJar)).participants;
    const waitingPatient = lobby.find((p) => p.kind === 'patient' && p.state === 'lobby');
    expect(lobby.find((p) => p.id === guestId)).toMatchObject({
      kind: 'clinician',
      state: 'lobby',
      host: false,
    });
    expect((await guestJar.post(`${url}/admit`, { participantId: waitingPatient!.id })).status).toBe(403);

    // Cara admits Dan alone; the patient still waits; then the patient.
    expect((await hostJar.post(`${url}/admit`, { participantId: guestId })).status).toBe(200);
    expect((await guestJar.post(`${url}/media`, {})).status).toBe(200);
    expect((await read(hostJar)).participants.find((p) => p.id === waitingPatient!.id)?.state).toBe('lobby');
    expect((await hostJar.post(`${url}/admit`, { participantId: waitingPatient!.id })).status).toBe(200);
    // The patient's tiles: two clinicians, by role, with no principals.
    const roster = (await (await patient.fetch(`${stack.url}/api/patient/visit`)).json()) as {
      participants: Array<{ id: string; kind: string }>;
    };
    expect(roster.participants.filter((p) => p.kind === 'clinician').map((p) => p.id)).toContain(guestId);
    expect(JSON.stringify(roster)).not.toMatch(/users\/|patients\//);

    // A guest can neither remove nor end.
    expect((await guestJar.post(`${url}/kick`, { participantId: waitingPatient!.id })).status).toBe(403);
    expect((await guestJar.post(`${url}/end`, {})).status).toBe(403);

    // A mode that is not share or handover is refused with the field named.
    const badMode = await hostJar.post(`${url}/host`, { participantId: guestId, mode: 'toString' });
    expect(badMode.status).toBe(400);
    expect(JSON.stringify(await badMode.json())).toContain('mode');

    // Cara hands host rights to Dan: he is the host, she is not.
    const handed = await hostJar.post(`${url}/host`, { participantId: guestId, mode: 'handover' });
    expect(handed.status).toBe(200);
    expect(await handed.json()).toEqual({ hosts: [dan] });
    expect((await read(guestJar)).participants.find((p) => p.id === guestId)?.host).toBe(true);
    expect((await hostJar.post(`${url}/end`, {})).status).toBe(403);
    expect((await guestJar.post(`${url}/end`, {})).status).toBe(200);
  });
});

describe('a guest without an account, by a one-time link with its own passcode', () => {
  interface Link {
    guestId: string;
    role: string;
    url: string;
    passcode: string;
    expireTime: string;
  }
  const guestJoin = async (link: Pick<Link, 'url' | 'passcode'>, passcode = link.passcode) => {
    const jar = new CookieJar();
    await jar.fetch(`${stack.url}/join`);
    const token = link.url.slice(link.url.indexOf('#') + 1);
    const r = await jar.post(`${stack.url}/api/join/guest`, { token, passcode });
    return { jar, status: r.status, body: (await r.json()) as { error?: { code: string } } };
  };
  const door = (jar: CookieJar) => mediaDoor(stack.url, jar, { asPatient: true });

  it('waits in the lobby with its role, is admitted on its own, and once revoked is gone at once', async () => {
    const { hostJar, visit, url } = await hostedVisit(cara, 'cara', {
      name: 'Ana Ruiz',
      dateOfBirth: '1980-02-03',
    });
    const strayJar = await stack.signIn('eve@guests.test');
    expect((await hostJar.post(`${url}/media`, {})).status).toBe(200);

    // Only a host asks for a guest link, and only as interpreter or family (a clinician uses their account).
    expect((await hostJar.post(`${url}/guest-links`, { role: 'clinician' })).status).toBe(400);
    expect((await strayJar.post(`${url}/guest-links`, { role: 'family' })).status).toBe(403);
    const issued = await hostJar.post(`${url}/guest-links`, { role: 'interpreter' });
    expect(issued.status).toBe(200);
    const link = (await issued.json()) as Link;
    expect(link.passcode).toMatch(/^\d{8}$/);
    expect(link.passcode).not.toBe(visit.passcode);
    expect(link.url).toMatch(/\/join#g\.[A-Za-z0-9_-]{43}$/);
    // The host sees the invitation before the guest comes; no name, no contact.
    const read = async () =>
      (
        (await (await hostJar.fetch(url)).json()) as {
          visit: { participants: Entry[]; guests: Array<{ id: string; link: boolean; role: string }> };
        }
      ).visit;
    expect((await read()).guests).toEqual([{ id: link.guestId, link: true, role: 'interpreter' }]);

    // The patient's passcode does not open the guest's link, nor the guest's the patient's.
    expect((await guestJoin(link, visit.passcode)).status).toBe(401);
    const crossed = new CookieJar();
    await crossed.fetch(`${stack.url}/join`);
    expect(
      (await crossed.post(`${stack.url}/api/join`, { token: visit.token, passcode: link.passcode })).status,
    ).toBe(401);

    // The guest redeems once (one device): a second device is refused.
    const guest = await guestJoin(link);
    expect(guest.status).toBe(200);
    const again = await guestJoin(link);
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe('LINK_USED');

    // The guest token is for this visit only: no staff route, no patient access log, no chat.
    expect((await guest.jar.fetch(url)).status).toBe(401);
    expect((await guest.jar.fetch(`${stack.url}/api/patient/access-log`)).status).not.toBe(200);

    // Lobby: their own entry with their role and their device check; no media before admission.
    const badCheck = await guest.jar.post(`${stack.url}/api/patient/lobby`, {
      deviceCheck: { camera: 'yes' },
    });
    expect(badCheck.status).toBe(400);
    const deviceCheck = { camera: true, microphone: true, speaker: false, permission: 'granted' };
    expect((await guest.jar.post(`${stack.url}/api/patient/lobby`, { deviceCheck })).status).toBe(200);
    const waiting = (await read()).participants.find((p) => p.kind === 'interpreter');
    expect(waiting).toMatchObject({ kind: 'interpreter', state: 'lobby', deviceCheck });
    expect((await guest.jar.post(`${stack.url}/api/patient/media`, {})).status).toBe(403);
    const status = async () =>
      ((await (await guest.jar.fetch(`${stack.url}/api/patient/visit`)).json()) as { status: string }).status;
    expect(await status()).toBe('waiting');

    // Admitted on its own: media, and a live Janus session through the proxy with its credential.
    expect((await hostJar.post(`${url}/admit`, { participantId: waiting!.id })).status).toBe(200);
    expect(await status()).toBe('admitted');
    const media = await guest.jar.post(`${stack.url}/api/patient/media`, {});
    expect(media.status).toBe(200);
    const credential = String(((await media.json()) as { mediaCredential: string }).mediaCredential);
    const inRoom = await MediaClient.open(door(guest.jar), credential);
    expect((await inRoom.create()).janus).toBe('success');

    // Revoked: removed for good at once — the media connection closes, the credential opens nothing, the link
    // and the token are dead.
    const revoked = await hostJar.post(`${url}/guests/${link.guestId}/revoke`, {});
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toEqual({ guests: [] });
    expect((await inRoom.closedWithin(3000))?.code).toBe(4403);
    const reopened = await mediaSessionOutcome(door(guest.jar), credential);
    expect(reopened).not.toBe('success');
    expect((await guest.jar.post(`${stack.url}/api/patient/media`, {})).status).toBe(403);
    expect((await guest.jar.post(`${stack.url}/api/patient/lobby`, {})).status).toBe(403);
    expect((await read()).participants.find((p) => p.id === waiting!.id)?.state).toBe('kicked');
    expect((await hostJar.post(`${url}/guests/${link.guestId}/revoke`, {})).status).toBe(404);
  });

  it('locks a guest link after five wrong passcodes, even for the right one', async () => {
    const { hostJar, url } = await hostedVisit(dan, 'dan', {
      name: 'Bo Lind',
      dateOfBirth: '1975-06-07',
    });
    const link = (await (await hostJar.post(`${url}/guest-links`, { role: 'family' })).json()) as Link;
    const wrong = link.passcode === '00000000' ? '11111111' : '00000000';
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) answers.push((await guestJoin(link, wrong)).status);
    expect(answers).toEqual([401, 401, 401, 401, 409]);
    const right = await guestJoin(link);
    expect(right.status).toBe(409);
    expect(right.body.error?.code).toBe('LINK_LOCKED');
    // A revoked link that was never used is refused too.
    const second = (await (await hostJar.post(`${url}/guest-links`, { role: 'family' })).json()) as Link;
    expect((await hostJar.post(`${url}/guests/${second.guestId}/revoke`, {})).status).toBe(200);
    const late = await guestJoin(second);
    expect(late.status).toBe(409);
    expect(late.body.error?.code).toBe('LINK_REVOKED');
  });
});

describe('the identity check', () => {
  it('shows a host the date of birth for treatment, recorded, and records IdentityConfirmed without it', async () => {
    const { hostJar, visit, url } = await hostedVisit(eve, 'eve', {
      name: 'Ida Berg',
      dateOfBirth: '1961-09-30',
    });
    const strayJar = await stack.signIn('cara@guests.test');
    // Not a host of this visit: neither the date of birth nor the confirmation.
    expect((await strayJar.fetch(`${url}/identity-check`)).status).toBe(403);
    expect((await strayJar.post(`${url}/identity`, {})).status).toBe(403);
    const before = (await (await hostJar.fetch(url)).json()) as { visit: { identity: unknown } };
    expect(before.visit.identity).toBeNull();

    const check = await hostJar.fetch(`${url}/identity-check`);
    expect(check.status).toBe(200);
    expect(((await check.json()) as { dateOfBirth: string }).dateOfBirth).toBe('1961-09-30');
    const confirmed = await hostJar.post(`${url}/identity`, {});
    expect(confirmed.status).toBe(200);
    const identity = ((await confirmed.json()) as { identity: { confirmedBy: string; method: string } })
      .identity;
    expect(identity).toMatchObject({ confirmedBy: eve, method: 'date_of_birth' });
    expect(
      ((await (await hostJar.fetch(url)).json()) as { visit: { identity: unknown } }).visit.identity,
    ).toEqual(identity);

    // In the event store: the read is a PhiAccessed for treatment naming the date of birth alone; the confirmation
    // names who and how, and carries no date of birth anywhere.
    const store = await JetStreamEventStore.connect({
      ...stack.nats.operator,
      name: 'gateway-identity-test',
    });
    try {
      const events = await store.read(`session.visit-${visit.visitId}`);
      const patientId = String(
        events.find((e) => e.type === 'haven.session.v1.VisitOpened')?.data['patientId'],
      );
      const ok = events.filter((e) => e.type === 'haven.session.v1.IdentityConfirmed');
      expect(ok.map((e) => e.data)).toEqual([
        {
          visitId: visit.visitId,
          patient: `patients/${patientId}`,
          confirmedBy: `users/${eve}`,
          method: 'date_of_birth',
        },
      ]);
      expect(JSON.stringify(ok, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(
        '1961',
      );
      const reads = (await store.read(`scheduling.patient_access-${patientId}`)).filter(
        (e) =>
          e.type === 'haven.events.v1.PhiAccessed' &&
          (e.data['fields'] as string[]).includes('date_of_birth'),
      );
      expect(reads.map((e) => [e.data['fields'], e.data['why']])).toEqual([
        [['date_of_birth'], 'PHI_ACCESS_PURPOSE_TREATMENT'],
      ]);
    } finally {
      await store.close();
    }
  });
});
