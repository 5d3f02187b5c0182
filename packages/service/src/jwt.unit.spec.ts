import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { UnauthenticatedError } from '@haven/errors';
import { createJwtVerifier } from './jwt';
import { createTestIssuer } from './testing';

describe('createJwtVerifier', () => {
  const issuer = createTestIssuer();
  const verifier = createJwtVerifier({ jwks: issuer.jwks, issuer: 'haven-identity', audience: 'haven' });
  /** A verifier of `issuer`'s tokens whose clock reads `clock()`, with no tolerance. */
  const verifierAt = (clock: () => number, isRevoked?: () => boolean) =>
    createJwtVerifier({
      jwks: issuer.jwks,
      issuer: 'haven-identity',
      audience: 'haven',
      now: clock,
      clockToleranceSec: 0,
      ...(isRevoked ? { isRevoked } : {}),
    });
  /** A user token for u-1 with the right claims, made by hand with `alg` and issuer's kid (signed by the caller). */
  const handMadeToken = (alg: string) =>
    new SignJWT({ kind: 'user' })
      .setProtectedHeader({ alg, kid: issuer.kid })
      .setSubject('u-1')
      .setIssuer('haven-identity')
      .setAudience('haven')
      .setExpirationTime('5m');

  it('turns a valid token into a principal', async () => {
    const token = await issuer.sign({
      sub: 'u-1',
      role: 'clinician',
      scope: 'visits:read visits:admit',
      sid: 's-1',
    });
    await expect(verifier.verify(token)).resolves.toEqual({
      kind: 'user',
      id: 'u-1',
      role: 'clinician',
      scopes: ['visits:read', 'visits:admit'],
      sessionId: 's-1',
    });
  });

  it('maps a patient token scoped to a visit', async () => {
    const token = await issuer.sign({ sub: 'p-1', kind: 'patient', visit: 'visit-9' });
    await expect(verifier.verify(token)).resolves.toMatchObject({
      kind: 'patient',
      id: 'p-1',
      subjectOf: 'visit-9',
      scopes: [],
    });
  });

  it('refuses an expired token', async () => {
    const token = await issuer.sign({ sub: 'u-1' }, { expiresIn: -60 });
    await expect(verifier.verify(token)).rejects.toThrow(/^token expired$/);
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('refuses alg none', async () => {
    const token = new UnsecuredJWT({ sub: 'u-1', kind: 'user' })
      .setIssuer('haven-identity')
      .setAudience('haven')
      .setExpirationTime('5m')
      .encode();
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('refuses a token signed by an unknown key', async () => {
    const other = createTestIssuer();
    const token = await other.sign({ sub: 'u-1' });
    await expect(verifier.verify(token)).rejects.toThrow(/unknown key/);
    // same kid, different key: the signature does not verify
    const { privateKey } = generateKeyPairSync('ed25519');
    const forged = await handMadeToken('EdDSA').sign(privateKey);
    await expect(verifier.verify(forged)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('refuses a wrong audience or issuer', async () => {
    await expect(verifier.verify(await issuer.sign({ aud: 'someone-else' }))).rejects.toThrow(/"aud"/);
    await expect(verifier.verify(await issuer.sign({ iss: 'evil' }))).rejects.toThrow(/"iss"/);
  });

  it('refuses other algorithms even with a matching key set (HS256)', async () => {
    const secret = new TextEncoder().encode('x'.repeat(32));
    const token = await handMadeToken('HS256').sign(secret);
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('refuses an unknown principal kind and garbage', async () => {
    await expect(verifier.verify(await issuer.sign({ kind: 'root' as never }))).rejects.toThrow(
      /unknown principal kind/,
    );
    await expect(verifier.verify('not.a.jwt')).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(verifier.verify('')).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('caches a verified token only until it expires', async () => {
    let now = Date.now();
    const cached = verifierAt(() => now);
    const token = await issuer.sign({ sub: 'u-2' }, { expiresIn: 30 });
    await expect(cached.verify(token)).resolves.toMatchObject({ id: 'u-2' });
    now += 10_000;
    await expect(cached.verify(token)).resolves.toMatchObject({ id: 'u-2' });
    now += 30_000;
    await expect(cached.verify(token)).rejects.toThrow(/expired/);
  });

  it('answers verifyCached only for a token it verified, until expiry or revocation', async () => {
    let now = Date.now();
    let revoked = false;
    const v = verifierAt(
      () => now,
      () => revoked,
    );
    const token = await issuer.sign({ sub: 'u-3' }, { expiresIn: 30 });
    expect(v.verifyCached?.(token)).toBeUndefined();
    await v.verify(token);
    expect(v.verifyCached?.(token)).toMatchObject({ id: 'u-3' });
    revoked = true;
    expect(v.verifyCached?.(token)).toBeUndefined();
    await expect(v.verify(token)).rejects.toThrow(/revoked/);
    revoked = false;
    await v.verify(token);
    now += 31_000;
    expect(v.verifyCached?.(token)).toBeUndefined();
    expect(v.verifyCached?.('not-a-token')).toBeUndefined();
  });

  it('needs exactly one key source', () => {
    expect(() => createJwtVerifier({ issuer: 'a', audience: 'b' })).toThrow(TypeError);
  });
});

describe('a verifier that also trusts the scheduling service for patient tokens', () => {
  const identity = createTestIssuer();
  const scheduling = createTestIssuer({ issuer: 'haven-scheduling' });
  const verifier = createJwtVerifier({
    jwks: identity.jwks,
    issuer: identity.issuer,
    audience: identity.audience,
    otherIssuers: [{ issuer: 'haven-scheduling', jwks: scheduling.jwks, kinds: ['patient'] }],
  });

  it('accepts a patient token signed by the scheduling service', async () => {
    const token = await scheduling.sign({ sub: 'pp-1', kind: 'patient', visit: 'visits/apt-1' });
    await expect(verifier.verify(token)).resolves.toMatchObject({
      kind: 'patient',
      id: 'pp-1',
      subjectOf: 'visits/apt-1',
    });
  });

  it('refuses a staff token signed by the scheduling service', async () => {
    const token = await scheduling.sign({ sub: 'u-1', kind: 'user', role: 'admin' });
    await expect(verifier.verify(token)).rejects.toThrow(/may not vouch for a user/);
  });

  it('refuses a token claiming the scheduling issuer but signed with the identity key', async () => {
    const token = await identity.sign({ sub: 'pp-1', kind: 'patient', iss: 'haven-scheduling' });
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('still accepts identity tokens of any kind', async () => {
    const token = await identity.sign({ sub: 'u-1', role: 'clinician' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ kind: 'user', role: 'clinician' });
  });
});
