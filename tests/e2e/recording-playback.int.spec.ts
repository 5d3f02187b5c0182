/**
 * Playing a recording through the gateway, over the real services (identity, scheduling, session, audit,
 * recording as child processes on a real nats-server, mutual TLS): the visit's clinician gets a grant and plays
 * the decrypted media with HTTP range requests (206, Content-Range, 416, a whole 200 answer); every range is a
 * RecordingViewed event before its bytes; the front desk is refused, and the refusal is an event. The
 * clinician's list (GET /api/recordings) shows it; the front desk gets no list.
 */
import { randomBytes } from 'node:crypto';
import type { JetStreamEventStore } from '@haven/eventstore';
import { accessRefusalStream } from '@haven/service';
import { eventually } from '@haven/testing';
import type { CookieJar } from '../../services/gateway/test/gateway';
import { startStack, type TestStack } from '../../services/gateway/test/stack';
import { seedAvailableRecording } from '../../services/recording/src/testing';

jest.setTimeout(180_000);

const MiB = 1024 * 1024;
const plain = randomBytes(2 * MiB + 4321);
let stack: TestStack;
let store: JetStreamEventStore;
let clinician: CookieJar;
let desk: CookieJar;
let clinicianId: string;

beforeAll(async () => {
  stack = await startStack({ recordingEnv: {} });
  store = await stack.openStore('playback-test');
  clinicianId = await stack.createUser('rhea@rec.test', 'clinician', 'Dr Rhea Stone');
  await stack.createUser('desk@rec.test', 'front_desk', 'Front Desk');
  clinician = await stack.signIn('rhea@rec.test');
  desk = await stack.signIn('desk@rec.test');
  await seedAvailableRecording({
    store,
    dataDir: stack.recordingDataDir!,
    recordingId: 'rec-g1',
    clinicianId,
    plaintext: plain,
  });
});

afterAll(async () => stack?.stop());

async function grant(jar: CookieJar): Promise<Response> {
  return jar.post(`${stack.url}/api/recordings/rec-g1/playback`, { purpose: 'treatment' });
}

const views = async () =>
  (await store.read('recording.recording_views-rec-g1').catch(() => [])).filter(
    (e) => e.type === 'haven.recording.v1.RecordingViewed',
  );

describe('recording playback through the gateway', () => {
  let url: string;

  it('lists the clinician’s recordings, by visit, and refuses the front desk the list', async () => {
    const all = await clinician.fetch(`${stack.url}/api/recordings`);
    expect(all.status).toBe(200);
    const body = (await all.json()) as { recordings: Array<Record<string, unknown>>; nextPageToken: string };
    expect(body.recordings).toEqual([
      expect.objectContaining({ id: 'rec-g1', state: 'available', percent: 0, sizeBytes: plain.length }),
    ]);
    const visitId = String(body.recordings[0]?.['visitId']);
    const byVisit = await clinician.fetch(`${stack.url}/api/recordings?visit=${visitId}`);
    expect(((await byVisit.json()) as typeof body).recordings.map((r) => r['id'])).toEqual(['rec-g1']);
    const other = await clinician.fetch(`${stack.url}/api/recordings?visit=another-visit`);
    expect(((await other.json()) as typeof body).recordings).toEqual([]);
    expect((await clinician.fetch(`${stack.url}/api/recordings?visit=a%2Fb`)).status).toBe(400);
    expect((await desk.fetch(`${stack.url}/api/recordings`)).status).toBe(403);
    expect((await fetch(`${stack.url}/api/recordings`)).status).toBe(401);
  });

  it('grants the visit’s clinician a playback URL', async () => {
    const r = await grant(clinician);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { url: string; expireTime: string; contentType: string };
    expect(body.url).toMatch(/^\/api\/recordings\/rec-g1\/media\?grant=[A-Za-z0-9_-]{43}$/);
    expect(body.contentType).toBe('video/webm');
    url = `${stack.url}${body.url}`;
  });

  it('answers range requests with 206 and exactly the asked bytes, recorded before they leave', async () => {
    const first = await clinician.fetch(url, { headers: { range: 'bytes=0-99' } });
    expect(first.status).toBe(206);
    expect(first.headers.get('accept-ranges')).toBe('bytes');
    expect(first.headers.get('content-range')).toBe(`bytes 0-99/${plain.length}`);
    expect(first.headers.get('content-type')).toBe('video/webm');
    // Streamed for the player, not offered as a download (ADR 0019), and not kept in a cache.
    expect(first.headers.get('content-disposition')).toBe('inline');
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(Buffer.from(await first.arrayBuffer()).equals(plain.subarray(0, 100))).toBe(true);

    const seek = await clinician.fetch(url, { headers: { range: `bytes=${MiB + 7}-` } });
    expect(seek.status).toBe(206);
    expect(seek.headers.get('content-range')).toBe(`bytes ${MiB + 7}-${2 * MiB + 6}/${plain.length}`);
    expect(Buffer.from(await seek.arrayBuffer()).equals(plain.subarray(MiB + 7, 2 * MiB + 7))).toBe(true);

    const suffix = await clinician.fetch(url, { headers: { range: 'bytes=-500' } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(plain.subarray(plain.length - 500))).toBe(true);

    expect((await views()).map((e) => [e.data['offset'], e.data['length'], e.data['viewer']])).toEqual([
      [0, 100, `users/${clinicianId}`],
      [MiB + 7, MiB, `users/${clinicianId}`],
      [plain.length - 500, 500, `users/${clinicianId}`],
    ]);
  });

  it('answers 416 past the end, viewing nothing', async () => {
    const before = (await views()).length;
    const past = await clinician.fetch(url, { headers: { range: `bytes=${plain.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${plain.length}`);
    expect((await views()).length).toBe(before);
  });

  it('answers the whole media with 200 without a Range header', async () => {
    const whole = await clinician.fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe(String(plain.length));
    expect(Buffer.from(await whole.arrayBuffer()).equals(plain)).toBe(true);
  });

  it('refuses the front desk a grant and the media, and records the refusals', async () => {
    expect((await grant(desk)).status).toBe(403);
    const media = await desk.fetch(url, { headers: { range: 'bytes=0-99' } });
    expect(media.status).toBe(403);
    expect((await media.text()).length).toBeLessThan(300); // an error body, no media
    await eventually('the refusals are events', async () => {
      const refused = await store.read(accessRefusalStream('recording', new Date())).catch(() => []);
      const methods = refused.map((e) => e.data['method']);
      return (
        methods.includes('/haven.recording.v1.RecordingService/PlayRecording') &&
        methods.includes('/haven.recording.v1.RecordingService/ReadRecordingMedia')
      );
    });
  });

  it('refuses a request without a session, or with a made-up grant', async () => {
    expect((await fetch(url, { headers: { range: 'bytes=0-9' } })).status).toBe(401);
    const madeUp = `${stack.url}/api/recordings/rec-g1/media?grant=${randomBytes(32).toString('base64url')}`;
    expect((await clinician.fetch(madeUp, { headers: { range: 'bytes=0-9' } })).status).toBe(403);
  });
});
