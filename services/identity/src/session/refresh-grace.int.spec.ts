/**
 * The refresh-token reuse grace over the real identity service (gRPC, a real nats-server): the token rotated
 * away by the latest rotation comes back once within the grace (an answer lost on its way to the browser, two
 * tabs refreshing at once) and the session lives on; after the grace, or two rotations old, it is reuse and the
 * session ends. The grace is 2 s here (HAVEN_REFRESH_REUSE_GRACE_SEC) so that "after the grace" is short.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { identity } from '@haven/proto';
import { createLogger } from '@haven/service';
import { localClient, type NatsServerHandle, startNatsServer, statusOf } from '@haven/testing';
import { loadIdentityConfig } from '../config';
import { startIdentityService, type RunningIdentityService } from '../index';
import { callIdentity, loginIdentity, testIdentityEnv } from '../testing/env';
import { activeTestUser } from '../testing/users';

jest.setTimeout(60_000);

const GRACE_MS = 2000;
let nats: NatsServerHandle;
let dataDir: string;
let service: RunningIdentityService;
let client: identity.IdentityServiceClient;

beforeAll(async () => {
  nats = await startNatsServer();
  dataDir = await mkdtemp(join(tmpdir(), 'haven-identity-grace-'));
  service = await startIdentityService(
    loadIdentityConfig(
      testIdentityEnv(nats.env('identity'), dataDir, {
        HAVEN_LOGIN_IP_BURST: '1000',
        HAVEN_MFA_REQUIRED_ROLES: 'none',
        HAVEN_REFRESH_REUSE_GRACE_SEC: String(GRACE_MS / 1000),
      }),
    ),
    { logger: createLogger({ service: 'identity', level: 'silent' }), host: '127.0.0.1' },
  );
  client = localClient(identity.IdentityServiceClient, service.grpcPort);
  await activeTestUser(
    service.runtime.app.users,
    { username: 'cara@grace.test', role: 'clinician', displayName: 'Dr Cara Ng' },
    { actor: { kind: 'service', id: 'test' }, correlationId: 'c' },
  );
});

afterAll(async () => {
  client?.close();
  await service?.stop();
  await nats?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Signs in; resolves with the refresh token and the session id. */
async function signIn(): Promise<{ refreshToken: string; sid: string }> {
  const login = await loginIdentity(client, 'cara@grace.test');
  const refreshToken = login.tokens?.refreshToken ?? '';
  return { refreshToken, sid: refreshToken.split('.')[0] ?? '' };
}

const refresh = async (refreshToken: string): Promise<string> =>
  (await callIdentity(client, 'refreshToken', { refreshToken })).tokens?.refreshToken ?? '';
const refreshStatus = (refreshToken: string) =>
  statusOf(callIdentity(client, 'refreshToken', { refreshToken }));
const sessionEvents = async (sid: string) =>
  (await service.runtime.store.read(`identity.session-${sid}`)).map((e) => ({
    type: e.type.replace('haven.identity.v1.', ''),
    data: e.data,
  }));
const active = (sid: string) => service.runtime.app.sessions.sessionActive(sid);

/** `replayed` is refused and ends session `sid`: its newest token `latest` is refused too, for reuse_detected. */
async function expectEndedByReuse(sid: string, replayed: string, latest: string): Promise<void> {
  expect(await refreshStatus(replayed)).toBe(grpc.status.UNAUTHENTICATED);
  expect(await active(sid)).toBe(false);
  expect(await refreshStatus(latest)).toBe(grpc.status.UNAUTHENTICATED);
  expect((await sessionEvents(sid)).find((e) => e.type === 'SessionEnded')?.data).toMatchObject({
    reason: 'reuse_detected',
  });
}

describe('the refresh reuse grace (real identity over gRPC)', () => {
  it('answers the same token twice in quick succession, and the session lives on', async () => {
    const { refreshToken: r0, sid } = await signIn();
    const lost = await refresh(r0); // this answer never reached the browser
    const again = await refresh(r0);
    expect(new Set([r0, lost, again]).size).toBe(3);
    expect(await active(sid)).toBe(true);
    // The fresh token works, as do the ones after it.
    expect(await refresh(await refresh(again))).toMatch(/\./);
    const events = await sessionEvents(sid);
    expect(events.map((e) => e.type)).toEqual([
      'SessionStarted',
      'TokenRefreshed',
      'TokenRefreshed',
      'TokenRefreshed',
      'TokenRefreshed',
    ]);
    expect(events.slice(1).map((e) => e.data['graceUsed'])).toEqual([false, true, false, false]);
    // No token material in the events: the tokens' secrets appear nowhere.
    const stored = JSON.stringify(events);
    for (const token of [r0, lost, again]) expect(stored).not.toContain(token.split('.')[1]);
  });

  it('answers two refreshes sent at once with the same token (two tabs)', async () => {
    const { refreshToken: r0, sid } = await signIn();
    const [a, b] = await Promise.all([refresh(r0), refresh(r0)]);
    expect(a).not.toBe(b);
    expect(await active(sid)).toBe(true);
    // Whichever answer the browser kept, its next refresh works.
    expect(await refresh(a)).toMatch(/\./);
    expect(await active(sid)).toBe(true);
  });

  it('ends the session, saying reuse_detected, when the old token comes back after the grace', async () => {
    const { refreshToken: r0, sid } = await signIn();
    const r1 = await refresh(r0);
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 200));
    await expectEndedByReuse(sid, r0, r1);
  });

  it('ends the session when a token two rotations old comes back, even within the grace', async () => {
    const { refreshToken: r0, sid } = await signIn();
    const r2 = await refresh(await refresh(r0));
    await expectEndedByReuse(sid, r0, r2);
  });

  it('ends the session when the old token comes back a second time within the grace', async () => {
    const { refreshToken: r0, sid } = await signIn();
    await refresh(r0);
    await refresh(r0);
    expect(await refreshStatus(r0)).toBe(grpc.status.UNAUTHENTICATED);
    expect(await active(sid)).toBe(false);
  });
});
