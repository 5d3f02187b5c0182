import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryEventStore } from '@haven/eventstore';
import type { SessionRevoked } from '@haven/service';
import { IdentityApp } from '../identity-app';
import { loadCommonPasswords } from '../credential/password/common-passwords';
import { createPasswordHasher, TEST_ARGON2_PARAMS } from '../credential/password/hasher';
import { SigningKeyRing } from '../tokens/keys';
import { startIdleSweeper, sweepIntervalMs, type IdleSweeper } from './idle-sweeper';
import { inMemorySealer } from '../testing/sealer';

const PASSWORD = 'Haven-Demo-2026!';
let dir: string;
let store: InMemoryEventStore;
let clock: number;
let app: IdentityApp;
let sweeper: IdleSweeper | undefined;
const published: SessionRevoked[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haven-idle-'));
  store = new InMemoryEventStore();
  clock = Date.parse('2026-01-05T09:00:00Z');
  published.length = 0;
  app = new IdentityApp({
    store,
    sealer: inMemorySealer(),
    hasher: createPasswordHasher(TEST_ARGON2_PARAMS),
    keys: await SigningKeyRing.open({ dataDir: dir }),
    commonPasswords: loadCommonPasswords(),
    sessionPolicy: { idleTimeoutMs: 60_000, absoluteLifetimeMs: 3_600_000 },
    revocations: { publish: async (r) => void published.push(r) },
    now: () => clock,
  });
});
afterEach(async () => {
  await sweeper?.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function signIn(username: string) {
  const ctx = { actor: { kind: 'service' as const, id: 'test' }, correlationId: 'c' };
  const invited = await app.users.inviteUser(ctx, {
    username,
    email: username,
    displayName: 'Sam Rivera',
    role: 'auditor',
  });
  await app.users.activateUser(ctx, { invitationToken: invited.invitationToken, password: PASSWORD });
  const result = await app.sessions.login({
    username,
    password: PASSWORD,
    clientIp: '10.0.0.1',
    correlationId: 'c',
  });
  return result.tokens.refreshToken.split('.')[0] as string;
}

const settle = async (until: () => boolean) => {
  for (let i = 0; i < 100 && !until(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('the idle sweeper', () => {
  it('ends idle sessions with SessionEnded idle, revokes and publishes them, and leaves refreshed ones', async () => {
    const idle = await signIn('idle@demo.clinic');
    const busyUser = await app.sessions.login({
      username: 'idle@demo.clinic',
      password: PASSWORD,
      clientIp: '10.0.0.1',
      correlationId: 'c',
    });
    const busy = busyUser.tokens.refreshToken.split('.')[0] as string;
    sweeper = await startIdleSweeper({
      store,
      expire: (sid) => app.sessions.expireSession(sid),
      intervalMs: 3_600_000,
      now: () => clock,
    });
    await settle(() => sweeper!.tracked === 2);
    expect(sweeper.tracked).toBe(2);

    clock += 30_000;
    await app.sessions.refresh({ refreshToken: busyUser.tokens.refreshToken, correlationId: 'c' });
    clock += 30_000; // the first session is idle now; the refreshed one has 30 s left
    await sweeper.sweep();
    const types = (await store.read(`identity.session-${idle}`)).map((e) => [
      e.type.slice(18),
      e.data['reason'],
    ]);
    expect(types).toEqual([
      ['SessionStarted', undefined],
      ['SessionEnded', 'idle'],
      ['SessionRevoked', 'idle'],
    ]);
    expect(published).toEqual([expect.objectContaining({ sid: idle, reason: 'idle' })]);
    expect(await app.sessions.sessionActive(busy)).toBe(true);
    await settle(() => sweeper!.tracked === 1);
    expect(sweeper.tracked).toBe(1);

    // A second sweep (or a second identity process) ends nothing twice; a later one still ends the next.
    await sweeper.sweep();
    expect(published).toHaveLength(1);
    clock += 30_000;
    await sweeper.sweep();
    expect(published.map((r) => r.sid)).toEqual([idle, busy]);
  });

  it('sweeps a quarter of the idle timeout, between 250 ms and 5 s', () => {
    expect(sweepIntervalMs(2000)).toBe(500);
    expect(sweepIntervalMs(900_000)).toBe(5000);
    expect(sweepIntervalMs(100)).toBe(250);
  });
});
