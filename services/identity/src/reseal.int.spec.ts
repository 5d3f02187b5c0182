/**
 * The migration of an existing store, against a real nats-server: a clinician enrolled in TOTP by an older version
 * of identity has a credential stream with her argon2 hash, TOTP secret and recovery-code digests in the clear
 * (written here with a plain event-store client, exactly as the old code wrote them). The new identity service,
 * at start, reseals them: she still signs in with her password and a TOTP code (no window in which a password alone
 * could enrol a new factor), the resealed event holds no secret in the clear, the old plaintext events are never
 * read as secrets again (she cannot sign in with a secret that exists only in them), and a restart reseals nothing
 * twice.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { JetStreamEventStore, newEvent, type NewEvent } from '@haven/eventstore';
import { identity } from '@haven/proto';
import { callUnary, createLogger } from '@haven/service';
import { localClient, type NatsServerHandle, startNatsServer } from '@haven/testing';
import { loadIdentityConfig } from './config';
import { startIdentityService, type RunningIdentityService } from './index';
import { newRecoveryCodes, newTotpSecret, totpCodeAt } from './credential/totp';
import { createPasswordHasher } from './credential/password/hasher';
import { testIdentityEnv } from './testing/env';

jest.setTimeout(60_000);

const PASSWORD = 'Old-Version-Harbor-2024!';
const USER = '01a0c0de-0000-7000-8000-000000000001';
const AT = '2025-06-01T09:00:00.000Z';
let nats: NatsServerHandle;
let dataDir: string;
const secret = newTotpSecret();
const recovery = newRecoveryCodes();

const start = (): Promise<RunningIdentityService> =>
  startIdentityService(loadIdentityConfig(testIdentityEnv(nats.env('identity'), dataDir)), {
    logger: createLogger({ service: 'identity', level: 'silent' }),
    host: '127.0.0.1',
  });

beforeAll(async () => {
  nats = await startNatsServer();
  dataDir = await mkdtemp(join(tmpdir(), 'haven-reseal-'));
  const store = await JetStreamEventStore.connect({ ...nats.client('identity'), name: 'old-identity' });
  try {
    const hash = await createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }).hash(PASSWORD);
    const ctx = { actor: { kind: 'service' as const, id: 'haven-cli' }, correlationId: 'migration-test' };
    const ev = (type: string, data: Record<string, unknown>): NewEvent =>
      newEvent({ type: `haven.identity.v1.${type}`, data, ...ctx });
    const username = 'dr.legacy@demo.clinic';
    await store.append(
      `identity.username-${createHash('sha256').update(username).digest('hex')}`,
      'no_stream',
      [ev('UsernameClaimed', { userId: USER })],
    );
    await store.append(`identity.user-${USER}`, 'no_stream', [
      ev('UserInvited', {
        userId: USER,
        username,
        email: username,
        role: 'clinician',
        displayName: 'Dr Legacy',
        inviteTokenHash: 'a'.repeat(64),
        inviteExpiresAt: AT,
        at: AT,
      }),
      ev('UserActivated', { userId: USER, at: AT }),
      ev('PasswordChanged', { userId: USER, by: 'activation', at: AT }),
      ev('MfaEnrollmentStarted', { userId: USER, method: 'totp', at: AT }),
      ev('MfaEnrolled', { userId: USER, method: 'totp', at: AT }),
    ]);
    await store.append('identity.directory-users', 'any', [ev('UserListed', { userId: USER })]);
    // The credential stream as the old code wrote it: every secret in the clear.
    await store.append(`identity.credential-${USER}`, 'no_stream', [
      ev('PasswordHashSet', { userId: USER, hash, at: AT }),
      ev('TotpSecretIssued', { userId: USER, secret, at: AT }),
      ev('TotpSecretConfirmed', { userId: USER, at: AT }),
      ev('RecoveryCodesIssued', { userId: USER, hashes: recovery.hashes, at: AT }),
    ]);
  } finally {
    await store.close();
  }
});
afterAll(async () => {
  await nats?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('an identity store written before secrets were sealed', () => {
  it('is resealed at start; the user keeps signing in with password and TOTP; nothing is resealed twice', async () => {
    let service = await start();
    const client = () => localClient(identity.IdentityServiceClient, service.grpcPort);
    try {
      const c = client();
      const signedIn = await callUnary(
        c,
        'login',
        identity.LoginRequest.fromPartial({
          username: 'dr.legacy@demo.clinic',
          password: PASSWORD,
          totpCode: await totpCodeAt(secret),
        }),
      ).finally(() => c.close());
      expect(signedIn.mfaEnrollmentRequired).toBe(false);
      expect(signedIn.user?.role).toBe(identity.Role.ROLE_CLINICIAN);
      // Without the second factor: refused (the migration never drops the factor).
      const c2 = client();
      await expect(
        callUnary(
          c2,
          'login',
          identity.LoginRequest.fromPartial({ username: 'dr.legacy@demo.clinic', password: PASSWORD }),
        ).finally(() => c2.close()),
      ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });

      const events = await service.runtime.store.read(`identity.credential-${USER}`);
      const resealed = events.filter((e) => e.type === 'haven.identity.v1.CredentialsResealed');
      expect(resealed).toHaveLength(1);
      const text = JSON.stringify(resealed[0]!.data);
      for (const plain of [secret, 'argon2', ...recovery.hashes]) expect(text).not.toContain(plain);
      expect(resealed[0]!.data['exposed']).toBe(true);
    } finally {
      await service.stop();
    }
    // A restart (or a second identity process) reseals nothing again.
    service = await start();
    try {
      const types = (await service.runtime.store.read(`identity.credential-${USER}`)).map((e) => e.type);
      expect(types.filter((t) => t.endsWith('CredentialsResealed'))).toHaveLength(1);
    } finally {
      await service.stop();
    }
  });
});
