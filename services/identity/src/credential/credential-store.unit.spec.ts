import { InMemoryEventStore, newEvent } from '@haven/eventstore';
import { inMemorySealer } from '../testing/sealer';
import { CredentialStore } from './credential-store';
import { credentialStream } from './credential';
import { resealPlaintextCredentials } from './reseal-plaintext';
import type { SecretSealer } from './secret-sealer';

const ctx = { actor: { kind: 'service' as const, id: 'test' }, correlationId: 'c' };
const AT = '2026-01-05T09:00:00.000Z';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const HASH = '$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';

let store: InMemoryEventStore;
let sealer: SecretSealer;
let credentials: CredentialStore;
beforeEach(() => {
  store = new InMemoryEventStore();
  sealer = inMemorySealer();
  credentials = new CredentialStore(store, sealer);
});
afterEach(async () => {
  await store.close();
});

const raw = async (id: string) => JSON.stringify((await store.read(credentialStream(id))).map((e) => e.data));

describe('the credential store', () => {
  it('stores password hashes, TOTP secrets and recovery codes sealed, and reads them back', async () => {
    await credentials.append(
      ctx,
      'u1',
      [
        { type: 'PasswordHashSet', data: { userId: 'u1', hash: HASH, at: AT } },
        { type: 'TotpSecretIssued', data: { userId: 'u1', enrollmentId: 'e1', secret: SECRET, at: AT } },
        { type: 'TotpSecretConfirmed', data: { userId: 'u1', at: AT } },
        {
          type: 'RecoveryCodesIssued',
          data: { userId: 'u1', enrollmentId: 'e1', hashes: ['d1', 'd2'], at: AT },
        },
      ],
      'no_stream',
    );
    const stored = await raw('u1');
    for (const secret of [HASH, SECRET, '"d1"', 'argon2']) expect(stored).not.toContain(secret);
    expect(stored).toContain('"count":2');
    const { state, plaintextEvents } = await credentials.load('u1');
    expect(state).toMatchObject({
      passwordHash: HASH,
      totpSecret: SECRET,
      totpEnrollmentId: 'e1',
      totpConfirmed: true,
      recoveryCodeHashes: ['d1', 'd2'],
    });
    expect(plaintextEvents).toBe(0);
  });

  it('a shredded enrollment is gone for good: its secret and codes no longer open', async () => {
    await credentials.append(
      ctx,
      'u1',
      [{ type: 'TotpSecretIssued', data: { userId: 'u1', enrollmentId: 'e1', secret: SECRET, at: AT } }],
      'no_stream',
    );
    await credentials.shredEnrollment('u1', 'e1');
    expect((await credentials.load('u1')).state.totpSecret).toBeNull();
  });

  it('never reads a secret written in the clear (before sealing) as a secret', async () => {
    await store.append(credentialStream('u1'), 'no_stream', [
      newEvent({
        type: 'haven.identity.v1.PasswordHashSet',
        data: { userId: 'u1', hash: HASH, at: AT },
        ...ctx,
      }),
      newEvent({
        type: 'haven.identity.v1.TotpSecretIssued',
        data: { userId: 'u1', secret: SECRET, at: AT },
        ...ctx,
      }),
    ]);
    const { state, plaintextEvents } = await credentials.load('u1');
    expect(state.passwordHash).toBeNull();
    expect(state.totpSecret).toBeNull();
    expect(plaintextEvents).toBe(2);
  });
});

describe('resealing streams written before sealing', () => {
  const legacy = async (id: string) => {
    await store.append('identity.directory-users', 'any', [
      newEvent({ type: 'haven.identity.v1.UserListed', data: { userId: id }, ...ctx }),
    ]);
    await store.append(credentialStream(id), 'no_stream', [
      newEvent({
        type: 'haven.identity.v1.PasswordHashSet',
        data: { userId: id, hash: HASH, at: AT },
        ...ctx,
      }),
      newEvent({
        type: 'haven.identity.v1.TotpSecretIssued',
        data: { userId: id, secret: SECRET, at: AT },
        ...ctx,
      }),
      newEvent({ type: 'haven.identity.v1.TotpSecretConfirmed', data: { userId: id, at: AT }, ...ctx }),
      newEvent({
        type: 'haven.identity.v1.RecoveryCodesIssued',
        data: { userId: id, hashes: ['d1', 'd2', 'd3'], at: AT },
        ...ctx,
      }),
      newEvent({
        type: 'haven.identity.v1.RecoveryCodeConsumed',
        data: { userId: id, index: 1, at: AT },
        ...ctx,
      }),
      newEvent({
        type: 'haven.identity.v1.TotpCodeAccepted',
        data: { userId: id, timeStep: 7, at: AT },
        ...ctx,
      }),
    ]);
  };

  it('given a plaintext stream, appends one sealed CredentialsResealed that restores the secrets, marked exposed', async () => {
    await legacy('u1');
    const report = await resealPlaintextCredentials({ store, credentials });
    expect(report).toEqual({ streams: 1, resealed: ['u1'], exposedTotp: ['u1'] });
    const events = await store.read(credentialStream('u1'));
    const last = events.at(-1)!;
    expect(last.type).toBe('haven.identity.v1.CredentialsResealed');
    expect(last.data['exposed']).toBe(true);
    expect(JSON.stringify(last.data)).not.toContain(SECRET);
    expect(JSON.stringify(last.data)).not.toContain('argon2');
    expect((await credentials.load('u1')).state).toMatchObject({
      passwordHash: HASH,
      totpSecret: SECRET,
      totpConfirmed: true,
      recoveryCodeHashes: ['d1', null, 'd3'],
      lastTotpTimeStep: 7,
    });
  });

  it('is idempotent, and leaves sealed streams alone', async () => {
    await legacy('u1');
    await store.append('identity.directory-users', 'any', [
      newEvent({ type: 'haven.identity.v1.UserListed', data: { userId: 'u2' }, ...ctx }),
    ]);
    await credentials.append(
      ctx,
      'u2',
      [{ type: 'PasswordHashSet', data: { userId: 'u2', hash: HASH, at: AT } }],
      'no_stream',
    );
    await resealPlaintextCredentials({ store, credentials });
    const again = await resealPlaintextCredentials({ store, credentials });
    expect(again).toEqual({ streams: 2, resealed: [], exposedTotp: [] });
    expect((await store.read(credentialStream('u2'))).map((e) => e.type)).toEqual([
      'haven.identity.v1.PasswordHashSet',
    ]);
  });
});
