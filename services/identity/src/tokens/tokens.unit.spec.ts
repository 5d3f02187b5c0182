import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, generateKeyPair } from 'jose';
import { UnauthenticatedError } from '@haven/errors';
import { createJwtVerifier } from '@haven/service';
import { SIGNING_KEYS_FILE, SigningKeyRing } from './keys';
import {
  issueAccessToken,
  newRefreshToken,
  parseRefreshToken,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  tokenDigest,
} from './tokens';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haven-identity-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const verifierFor = (ring: SigningKeyRing) =>
  createJwtVerifier({ jwks: ring.jwks(), issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, cacheSize: 0 });

describe('signing keys', () => {
  it('generates an Ed25519 key on first start, persisted 0600, and reloads the same key', async () => {
    const ring = await SigningKeyRing.open({ dataDir: dir });
    const file = join(dir, SIGNING_KEYS_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      alg: 'EdDSA',
      use: 'sig',
      kid: ring.currentKey().kid,
    });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    const again = await SigningKeyRing.open({ dataDir: dir });
    expect(again.currentKey().kid).toBe(ring.currentKey().kid);
    const stored = JSON.parse(await readFile(file, 'utf8')) as { keys: { privateJwk: { d?: unknown } }[] };
    expect(typeof stored.keys[0]?.privateJwk.d).toBe('string');
  });

  it('publishes current and previous key after rotation, and drops the one before', async () => {
    const ring = await SigningKeyRing.open({ dataDir: dir });
    const before = await issueAccessToken(ring, {
      sub: 'u1',
      kind: 'user',
      role: 'admin',
      sid: 's1',
      scope: '',
    });
    const first = ring.currentKey().kid;
    await ring.rotate();
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([first, ring.currentKey().kid]);
    await expect(verifierFor(ring).verify(before.token)).resolves.toMatchObject({ id: 'u1', role: 'admin' });
    await ring.rotate();
    expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(first);
    await expect(verifierFor(ring).verify(before.token)).rejects.toThrow(UnauthenticatedError);
    expect((await SigningKeyRing.open({ dataDir: dir })).currentKey().kid).toBe(ring.currentKey().kid);
  });

  it('rotates by age only when the key is old enough', async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const ring = await SigningKeyRing.open({ dataDir: dir, now: t0 });
    await expect(ring.rotateIfOlderThan(30 * 86_400_000, t0 + 86_400_000)).resolves.toBe(false);
    await expect(ring.rotateIfOlderThan(30 * 86_400_000, t0 + 31 * 86_400_000)).resolves.toBe(true);
  });
});

describe('access tokens', () => {
  it('carry the claims the Haven verifier expects and expire after 5 minutes', async () => {
    const ring = await SigningKeyRing.open({ dataDir: dir });
    const now = Date.now();
    const issued = await issueAccessToken(
      ring,
      { sub: 'u1', kind: 'user', role: 'clinician', sid: 's1', scope: 'a b' },
      { now },
    );
    expect(issued.expiresAt).toBe((Math.floor(now / 1000) + 300) * 1000);
    const principal = await verifierFor(ring).verify(issued.token);
    expect(principal).toEqual({
      kind: 'user',
      id: 'u1',
      role: 'clinician',
      sessionId: 's1',
      scopes: ['a', 'b'],
    });
    const header: unknown = JSON.parse(
      Buffer.from(issued.token.split('.')[0] as string, 'base64url').toString(),
    );
    expect(header).toEqual({ alg: 'EdDSA', kid: ring.currentKey().kid, typ: 'JWT' });
  });

  it('are refused when expired, unsigned or signed by a foreign key', async () => {
    const ring = await SigningKeyRing.open({ dataDir: dir });
    const verifier = verifierFor(ring);
    const old = await issueAccessToken(ring, { sub: 'u1', kind: 'user' }, { now: Date.now() - 3_600_000 });
    await expect(verifier.verify(old.token)).rejects.toThrow(/expired/);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({
        sub: 'u1',
        iss: TOKEN_ISSUER,
        aud: TOKEN_AUDIENCE,
        exp: Math.floor(Date.now() / 1000) + 60,
      }),
    ).toString('base64url')}.`;
    await expect(verifier.verify(none)).rejects.toThrow(UnauthenticatedError);
    const foreign = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'EdDSA', kid: ring.currentKey().kid })
      .setSubject('u1')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setExpirationTime('5m')
      .sign(foreign.privateKey);
    await expect(verifier.verify(forged)).rejects.toThrow(UnauthenticatedError);
  });
});

describe('refresh tokens', () => {
  it('carry the session id and are stored only as a digest', () => {
    const sid = '01940000-0000-7000-8000-000000000001';
    const { token, hash } = newRefreshToken(sid);
    expect(token.startsWith(`${sid}.`)).toBe(true);
    expect(hash).toBe(tokenDigest(token));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(parseRefreshToken(token)).toEqual({ sessionId: sid, hash });
    expect(newRefreshToken(sid).token).not.toBe(token);
  });
  it('malformed ones parse to null', () => {
    for (const bad of [
      '',
      'abc',
      'not-a-uuid.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      `01940000-0000-7000-8000-000000000001.short`,
    ]) {
      expect(parseRefreshToken(bad)).toBeNull();
    }
  });
});
