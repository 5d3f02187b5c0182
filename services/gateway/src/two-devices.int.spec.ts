/**
 * One patient link opened on two devices, through the gateway against the real services (identity, scheduling,
 * session on a real nats-server and Janus): every redemption is its own lobby entry ("second device"), the
 * clinician admits or denies each on its own, and admitting the first admits nothing else. Attack: the second
 * device tries to ride on the first one's admission with plain HTTP and raw WebSockets — it gets no media
 * credential, no `admitted` message, and the first device's credential does not open the media room for it.
 */
import { MediaClient } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { bookVisitWithLink, mediaDoor, mediaSessionOutcome, redeemLink } from '../test/gateway';
import { startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let clinician: string;

beforeAll(async () => {
  stack = await startStack();
  await stack.createUser('desk@two.test', 'front_desk', 'Front Desk');
  clinician = await stack.createUser('cara@two.test', 'clinician', 'Dr Cara Ng');
});
afterAll(async () => {
  await stack?.stop();
});

interface LobbyEntry {
  id: string;
  kind: string;
  state: string;
  device: number;
}

describe('one patient link, two devices', () => {
  let desk: CookieJar;
  let cara: CookieJar;
  let visitId: string;
  const devices: CookieJar[] = [];

  beforeAll(async () => {
    desk = await stack.signIn('desk@two.test');
    cara = await stack.signIn('cara@two.test');
    const visit = await bookVisitWithLink(stack.url, desk, clinician, {
      name: 'Maria Lopez',
      dateOfBirth: '1979-04-05',
    });
    visitId = visit.visitId;
    // The same link and passcode, redeemed in two browsers.
    for (let i = 0; i < 2; i++) devices.push(await redeemLink(stack.url, visit));
  });

  it('puts each device in the lobby as its own entry, admitted on its own; the second cannot ride on the first', async () => {
    const [first, second] = devices as [CookieJar, CookieJar];
    const staffSocket = await stack.liveSocket(cara, false);
    const firstSocket = await stack.liveSocket(first, true);
    const secondSocket = await stack.liveSocket(second, true);
    for (const jar of [first, second]) {
      const joined = await jar.post(`${stack.url}/api/patient/lobby`, {});
      expect(joined.status).toBe(200);
      expect(await joined.json()).toMatchObject({ status: 'waiting' });
    }
    // Joining again from the same device is the same entry.
    expect((await first.post(`${stack.url}/api/patient/lobby`, {})).status).toBe(200);

    const detail = await cara.fetch(`${stack.url}/api/visits/${visitId}`);
    const lobby = (
      (await detail.json()) as { visit: { participants: LobbyEntry[] } }
    ).visit.participants.filter((p) => p.kind === 'patient');
    expect(lobby.map((p) => [p.state, p.device])).toEqual([
      ['lobby', 1],
      ['lobby', 2],
    ]);
    await staffSocket.waitFor(
      (m) =>
        m['type'] === 'lobby' &&
        (m['participants'] as LobbyEntry[]).filter((p) => p.state === 'lobby').length === 2,
    );
    const [one, two] = lobby as [LobbyEntry, LobbyEntry];

    // Admit the first device only.
    expect(
      (await cara.post(`${stack.url}/api/visits/${visitId}/admit`, { participantId: one.id })).status,
    ).toBe(200);
    await firstSocket.waitFor((m) => m['type'] === 'admitted');
    expect(await (await first.fetch(`${stack.url}/api/patient/visit`)).json()).toMatchObject({
      status: 'admitted',
    });
    // The waiting device is told its own first device is in — and nothing about anyone else.
    expect(await (await second.fetch(`${stack.url}/api/patient/visit`)).json()).toMatchObject({
      status: 'waiting',
      participants: [],
      yourOtherDevicesIn: [1],
    });
    expect(await (await first.fetch(`${stack.url}/api/patient/visit`)).json()).toMatchObject({
      yourOtherDevicesIn: [],
    });
    const firstMedia = await first.post(`${stack.url}/api/patient/media`, {});
    expect(firstMedia.status).toBe(200);
    const credential = String(((await firstMedia.json()) as { mediaCredential: string }).mediaCredential);

    // The second device, with plain HTTP and raw WebSockets: no credential of its own…
    expect((await second.post(`${stack.url}/api/patient/media`, {})).status).toBe(403);
    // …and the first device's credential does not open the media room for it.
    const door = (jar: CookieJar) => mediaDoor(stack.url, jar, { asPatient: true });
    const stolen = await mediaSessionOutcome(door(second), credential);
    expect(stolen).not.toBe('success');
    const own = await MediaClient.open(door(first), credential);
    expect((await own.create()).janus).toBe('success');
    own.close();
    // Nobody told the second device it was admitted.
    await new Promise((r) => setTimeout(r, 500));
    expect(secondSocket.messages.some((m) => m['type'] === 'admitted')).toBe(false);

    // The clinician admits the second device separately; then it is in too.
    expect(
      (await cara.post(`${stack.url}/api/visits/${visitId}/admit`, { participantId: two.id })).status,
    ).toBe(200);
    await secondSocket.waitFor((m) => m['type'] === 'admitted');
    expect((await second.post(`${stack.url}/api/patient/media`, {})).status).toBe(200);

    // Each device's tiles: the visit read names the other device as the patient's own, by participant id only.
    const roster = (await (await second.fetch(`${stack.url}/api/patient/visit`)).json()) as {
      participants: Array<Record<string, unknown>>;
    };
    expect(roster.participants).toEqual([
      { id: one.id, kind: 'patient', device: 1, yours: true },
      { id: two.id, kind: 'patient', device: 2, yours: false },
    ]);
    expect(JSON.stringify(roster)).not.toContain('patients/');
  });
});
