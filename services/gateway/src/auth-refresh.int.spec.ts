/**
 * POST /api/auth/refresh when the browser never gets the answer, through the gateway against the real services
 * (identity on a real nats-server). Identity rotates the refresh token on every refresh; when the answer that
 * carries the new cookie is lost (the page aborted the request, a network blip, the gateway's deadline) or two
 * tabs refresh with the same cookie at once, the browser still holds the token identity just rotated away. Its
 * next refresh must not sign the user out: identity accepts the token current before the latest rotation for a
 * short grace (HAVEN_REFRESH_REUSE_GRACE_SEC, default 30 s here).
 */
import { connect, type Socket } from 'node:net';
import type { JetStreamEventStore } from '@haven/eventstore';
import { eventually } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let store: JetStreamEventStore;

beforeAll(async () => {
  stack = await startStack();
  store = await stack.openStore('auth-refresh-test');
  await stack.createUser('cara@refresh.test', 'clinician', 'Dr Cara Ng');
});
afterAll(async () => stack?.stop());

/** The session's events, short type names (the session id is the refresh token's first part). */
async function sessionEvents(jar: CookieJar): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const sid = (jar.cookies.get('haven_refresh') ?? '').split('.')[0] ?? '';
  const events = await store.read(`identity.session-${sid}`);
  return events.map((e) => ({
    type: e.type.replace(/^haven\.identity\.v1\./, ''),
    data: e.data,
  }));
}

const refreshCount = async (jar: CookieJar) =>
  (await sessionEvents(jar)).filter((e) => e.type === 'TokenRefreshed').length;

/**
 * Sends POST /api/auth/refresh with `jar`'s cookies on a raw socket and never reads the answer: once identity has
 * rotated (a new TokenRefreshed in the session stream), the socket is destroyed, as a page that aborted the
 * request or lost its connection would. The jar keeps its cookies.
 */
async function refreshAndLoseTheAnswer(jar: CookieJar): Promise<void> {
  const before = await refreshCount(jar);
  const { hostname, port } = new URL(stack.url);
  const socket: Socket = connect({ host: hostname, port: Number(port) });
  socket.pause(); // nothing is read: the answer is lost
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      [
        'POST /api/auth/refresh HTTP/1.1',
        `host: ${hostname}:${port}`,
        `cookie: ${jar.header()}`,
        `x-csrf-token: ${jar.cookies.get('haven_csrf') ?? ''}`,
        'content-type: application/json',
        'content-length: 2',
        'connection: close',
        '',
        '{}',
      ].join('\r\n'),
    );
    await eventually('identity rotating the refresh token', async () => (await refreshCount(jar)) > before, {
      timeoutMs: 20_000,
    });
  } finally {
    socket.destroy();
  }
}

describe('POST /api/auth/refresh when the answer is lost', () => {
  it('still refreshes with the old cookie after identity rotated it, and the session lives on', async () => {
    const jar = await stack.signIn('cara@refresh.test');
    const oldRefresh = jar.cookies.get('haven_refresh');
    await refreshAndLoseTheAnswer(jar);
    expect(jar.cookies.get('haven_refresh')).toBe(oldRefresh);

    const again = await jar.post(`${stack.url}/api/auth/refresh`, {});
    expect(again.status).toBe(204);
    expect(jar.cookies.get('haven_refresh')).not.toBe(oldRefresh);
    expect((await jar.fetch(`${stack.url}/api/me`)).status).toBe(200);
    // And the cookie it got works as a fresh one would.
    expect((await jar.post(`${stack.url}/api/auth/refresh`, {})).status).toBe(204);
    expect((await jar.fetch(`${stack.url}/api/me`)).status).toBe(200);

    const events = await sessionEvents(jar);
    expect(events.map((e) => e.type)).toEqual([
      'SessionStarted',
      'TokenRefreshed',
      'TokenRefreshed',
      'TokenRefreshed',
    ]);
    expect(events.map((e) => e.data['graceUsed'])).toEqual([undefined, false, true, false]);
  });

  it('answers two refreshes sent at once with one cookie (two tabs) and leaves a working cookie', async () => {
    const jar = await stack.signIn('cara@refresh.test');
    const oldRefresh = jar.cookies.get('haven_refresh');
    const answers = await Promise.all([
      jar.post(`${stack.url}/api/auth/refresh`, {}),
      jar.post(`${stack.url}/api/auth/refresh`, {}),
    ]);
    expect(answers.map((a) => a.status)).toEqual([204, 204]);
    expect(jar.cookies.get('haven_refresh')).not.toBe(oldRefresh);
    expect((await jar.fetch(`${stack.url}/api/me`)).status).toBe(200);
    expect((await jar.post(`${stack.url}/api/auth/refresh`, {})).status).toBe(204);
    expect((await jar.fetch(`${stack.url}/api/me`)).status).toBe(200);
    const types = (await sessionEvents(jar)).map((e) => e.type);
    expect(types).not.toContain('SessionEnded');
    expect(types.filter((t) => t === 'TokenRefreshed')).toHaveLength(3);
  });
});
