/**
 * Guests and host rights through the gateway against the real services (identity, scheduling, session on a real
 * nats-server and Janus): the visit's clinician invites a second clinician as a guest; the guest waits in the lobby
 * as their own entry and gets nothing (no media credential) until a host admits them; the patient's page and the
 * host's see the guest's role; the host hands host rights over and can then no longer end the visit, while the
 * new host can. Attack: a clinician nobody invited cannot see the visit, join its lobby or take media, and a guest
 * cannot admit, remove, invite or end.
 */
import { MediaClient } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { bookVisitWithLink, redeemLink, signedIn as signIn } from '../test/gateway';
import { STACK_PASSWORD, startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let cara: string;
let dan: string;

beforeAll(async () => {
  stack = await startStack();
  await stack.createUser('desk@guests.test', 'front_desk', 'Front Desk');
  cara = await stack.createUser('cara@guests.test', 'clinician', 'Dr Cara Ng');
  dan = await stack.createUser('dan@guests.test', 'clinician', 'Dr Dan Li');
  await stack.createUser('eve@guests.test', 'clinician', 'Dr Eve Stray');
});
afterAll(async () => {
  await stack?.stop();
});

const signedIn = (username: string): Promise<CookieJar> => signIn(stack.url, username, STACK_PASSWORD);

interface Entry {
  id: string;
  kind: string;
  state: string;
  host: boolean;
}

describe('a second clinician as a guest, and host rights', () => {
  it('invites, admits separately, shows the role, and hands host rights over', async () => {
    const desk = await signedIn('desk@guests.test');
    const hostJar = await signedIn('cara@guests.test');
    const guestJar = await signedIn('dan@guests.test');
    const strayJar = await signedIn('eve@guests.test');
    const visit = await bookVisitWithLink(stack.url, desk, cara, {
      name: 'Maria Lopez',
      dateOfBirth: '1979-04-05',
    });
    const url = `${stack.url}/api/visits/${visit.visitId}`;
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
    const door = {
      url: `${stack.url.replace('http', 'ws')}/api/media?csrf=${encodeURIComponent(guestJar.cookies.get('haven_csrf') ?? '')}`,
      headers: { cookie: guestJar.header(), origin: stack.url },
    };
    const riding = await MediaClient.open(door, hostCredential).then(
      async (c) => {
        const answer = await c.create().catch((e: unknown) => ({ janus: `refused: ${String(e)}` }));
        c.close();
        return answer.janus;
      },
      (e: unknown) => `refused: ${String(e)}`,
    );
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
