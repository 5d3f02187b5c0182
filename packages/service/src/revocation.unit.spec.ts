import { UnauthenticatedError } from '@haven/errors';
import { InMemoryEventStore } from '@haven/eventstore';
import { PermissionError } from '@haven/errors';
import { breakGlassCovers, recordBreakGlassUse } from './break-glass';
import { createJwtVerifier, principalFromClaims } from './jwt';
import type { Principal } from './principal';
import { RevocationSet, revocationCovers } from './revocation';
import { createTestIssuer } from './testing';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const user = (over: Partial<Principal> = {}): Principal => ({
  kind: 'user',
  id: 'u-1',
  scopes: [],
  sessionId: 's-1',
  ...over,
});
const at = (ms: number) => new Date(ms).toISOString();

describe('RevocationSet', () => {
  it('refuses every token of a revoked session, whatever its iat', () => {
    const set = new RevocationSet({ now: () => T0 });
    expect(set.isRevoked(user())).toBe(false);
    set.add({ sid: 's-1', sub: 'u-1', reason: 'logout', revokedAt: at(T0) });
    expect(set.isRevoked(user(), { issuedAtSec: T0 / 1000 + 100 })).toBe(true);
    expect(set.isRevoked(user({ sessionId: 's-2' }))).toBe(false);
  });

  it('refuses a subject only for tokens issued at or before the revocation, and only of that kind', () => {
    const set = new RevocationSet({ now: () => T0 });
    set.add({
      sid: '',
      sub: 'ehr-1',
      subKind: 'service_account',
      reason: 'secret_rotated',
      revokedAt: at(T0),
    });
    const sa: Principal = { kind: 'service_account', id: 'ehr-1', scopes: [] };
    expect(set.isRevoked(sa, { issuedAtSec: T0 / 1000 - 10 })).toBe(true);
    expect(set.isRevoked(sa, { issuedAtSec: T0 / 1000 })).toBe(true);
    expect(set.isRevoked(sa, { issuedAtSec: T0 / 1000 + 1 })).toBe(false);
    expect(set.isRevoked({ ...sa, kind: 'user' }, { issuedAtSec: 0 })).toBe(false);
  });

  it('forgets entries after the TTL and ignores ones already expired', () => {
    let now = T0;
    const set = new RevocationSet({ ttlMs: 1000, now: () => now });
    set.add({ sid: 's-1', sub: 'u-1', reason: 'logout', revokedAt: at(T0) });
    set.add({ sid: 's-old', sub: 'u-1', reason: 'logout', revokedAt: at(T0 - 5000) });
    expect(set.size).toBe(1);
    now = T0 + 999;
    expect(set.isRevoked(user())).toBe(true);
    now = T0 + 1000;
    expect(set.isRevoked(user())).toBe(false);
  });

  it('stays bounded, dropping the oldest', () => {
    const set = new RevocationSet({ maxEntries: 100, now: () => T0 });
    for (let i = 0; i < 250; i++)
      set.add({ sid: `s-${i}`, sub: 'u', reason: 'logout', revokedAt: at(T0 + i) });
    expect(set.size).toBe(100);
    expect(set.isRevoked(user({ sessionId: 's-249' }))).toBe(true);
    expect(set.isRevoked(user({ sessionId: 's-0' }))).toBe(false);
  });
});

describe('revocationCovers', () => {
  it('covers the session it names, and no other, whatever the token’s age', () => {
    const bySid = { sid: 's-1', sub: 'u-1', reason: 'logout', revokedAt: at(T0) };
    expect(revocationCovers(bySid, user(), T0 + 60_000)).toBe(true);
    expect(revocationCovers(bySid, user({ sessionId: 's-2' }), T0 - 60_000)).toBe(false);
  });

  it('covers a subject’s tokens issued at or before it (or of unknown age), of that kind only', () => {
    const bySub = { sid: '', sub: 'u-1', reason: 'deactivated', revokedAt: at(T0) };
    expect(revocationCovers(bySub, user(), T0)).toBe(true);
    expect(revocationCovers(bySub, user(), undefined)).toBe(true);
    expect(revocationCovers(bySub, user(), T0 + 1)).toBe(false);
    expect(revocationCovers(bySub, user({ id: 'u-2' }), T0 - 1)).toBe(false);
    expect(revocationCovers({ ...bySub, subKind: 'patient' }, user(), T0 - 1)).toBe(false);
    expect(revocationCovers({ ...bySub, revokedAt: 'not a time' }, user(), T0 + 1)).toBe(true);
    expect(revocationCovers({ ...bySub, sub: '' }, user(), T0 - 1)).toBe(false);
  });
});

describe('createJwtVerifier({ isRevoked })', () => {
  const issuer = createTestIssuer();

  it('refuses a revoked principal with UNAUTHENTICATED even when its token was cached, and drops it', async () => {
    const set = new RevocationSet();
    const calls: Array<number | undefined> = [];
    const verifier = createJwtVerifier({
      jwks: issuer.jwks,
      issuer: 'haven-identity',
      audience: 'haven',
      isRevoked: (p, t) => {
        calls.push(t.issuedAtSec);
        return set.isRevoked(p, t);
      },
    });
    const token = await issuer.sign({ sub: 'u-1', sid: 's-1', role: 'clinician' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ id: 'u-1' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ id: 'u-1' }); // cached
    expect(calls).toHaveLength(2);
    expect(typeof calls[0]).toBe('number');
    set.add({ sid: 's-1', sub: 'u-1', reason: 'logout', revokedAt: new Date().toISOString() });
    await expect(verifier.verify(token)).rejects.toThrow(UnauthenticatedError);
    await expect(verifier.verify(token)).rejects.toThrow(/revoked/);
    const other = await issuer.sign({ sub: 'u-1', sid: 's-2', role: 'clinician' });
    await expect(verifier.verify(other)).resolves.toMatchObject({ sessionId: 's-2' });
  });
});

describe('break-glass claims and recordBreakGlassUse', () => {
  const bg = principalFromClaims({
    sub: 'u-9',
    role: 'clinician',
    sid: 's-9',
    scope: 'breakglass',
    bg: 'g-1',
    bg_res: 'patients/p-1',
  });

  it('maps bg/bg_res to principal.breakGlass and refuses a half grant', () => {
    expect(bg.breakGlass).toEqual({ grantId: 'g-1', resource: 'patients/p-1' });
    expect(() => principalFromClaims({ sub: 'u', bg: 'g-1' })).toThrow(UnauthenticatedError);
    expect(principalFromClaims({ sub: 'u' }).breakGlass).toBeUndefined();
  });

  it('appends BreakGlassUsed to breakglass.use-<grant> for the granted resource only', async () => {
    const store = new InMemoryEventStore();
    expect(breakGlassCovers(bg, 'patients/p-1')).toBe(true);
    expect(breakGlassCovers(bg, 'patients/p-2')).toBe(false);
    await recordBreakGlassUse(store, bg, 'patients/p-1', {
      service: 'session',
      action: 'GetVisit',
      correlationId: 'c-1',
    });
    await expect(recordBreakGlassUse(store, bg, 'patients/p-2')).rejects.toThrow(PermissionError);
    await expect(recordBreakGlassUse(store, user(), 'patients/p-1')).rejects.toThrow(PermissionError);
    const events = await store.read('breakglass.use-g-1');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'haven.identity.v1.BreakGlassUsed',
      actor: { kind: 'user', id: 'u-9', role: 'clinician' },
      correlationId: 'c-1',
      data: { grantId: 'g-1', resource: 'patients/p-1', service: 'session', action: 'GetVisit' },
    });
    await store.close();
  });
});
