import { PreconditionError, ValidationError } from '@haven/errors';
import { BREAK_GLASS_MAX_MS, decideBreakGlass } from './break-glass/break-glass';
import {
  base32Decode,
  base32Encode,
  newRecoveryCodes,
  newTotpSecret,
  recoveryCodeDigest,
  totpCodeAt,
  verifyTotp,
} from './credential/totp';
import { decideServiceAccount, initialServiceAccountState } from './service-account/service-account';

const NOW = Date.parse('2026-03-01T10:00:00Z');

describe('TOTP', () => {
  it('base32 follows RFC 4648', () => {
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(Buffer.from(base32Decode('MZXW6YTBOI')).toString()).toBe('foobar');
    expect(() => base32Decode('not-base32!')).toThrow(TypeError);
  });

  it('matches the RFC 6238 SHA-1 test vector (59 s → 94287082, last 6 digits)', async () => {
    const secret = base32Encode(Buffer.from('12345678901234567890'));
    expect(await totpCodeAt(secret, 59_000)).toBe('287082');
  });

  it('accepts ±1 step, refuses replays, other secrets and junk', async () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const code = await totpCodeAt(secret, NOW);
    const step = await verifyTotp(secret, code, { nowMs: NOW });
    expect(step).toBe(Math.floor(NOW / 30_000));
    expect(await verifyTotp(secret, code, { nowMs: NOW + 30_000 })).toBe(step);
    expect(await verifyTotp(secret, code, { nowMs: NOW + 90_000 })).toBeNull();
    expect(await verifyTotp(secret, code, { nowMs: NOW, afterTimeStep: step })).toBeNull();
    expect(await verifyTotp(newTotpSecret(), code, { nowMs: NOW })).toBeNull();
    expect(await verifyTotp(secret, '12345', { nowMs: NOW })).toBeNull();
  });

  it('makes 10 distinct recovery codes whose digests match however they are typed', () => {
    const { codes, hashes } = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect(codes[0]).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    expect(recoveryCodeDigest(` ${(codes[0] as string).toLowerCase().replace(/-/g, ' ')} `)).toBe(hashes[0]);
    expect(hashes.join()).not.toContain(codes[0]);
  });
});

describe('service accounts', () => {
  const create = (scopes: string[], displayName = 'EHR') =>
    decideServiceAccount(
      { type: 'CreateServiceAccount', data: { serviceAccountId: 'ehr-1', displayName, scopes, now: NOW } },
      initialServiceAccountState,
    );

  it('creates with sorted unique scopes and no secret', () => {
    const [event] = create(['session.visits.write', 'audit.events.read', 'session.visits.write']);
    expect(event).toEqual({
      type: 'ServiceAccountCreated',
      data: {
        serviceAccountId: 'ehr-1',
        displayName: 'EHR',
        clientId: 'ehr-1',
        scopes: ['audit.events.read', 'session.visits.write'],
        at: new Date(NOW).toISOString(),
      },
    });
  });

  it('refuses no scopes, malformed or reserved scopes, and an empty name', () => {
    expect(() => create([])).toThrow(ValidationError);
    expect(() => create(['Session.Write'])).toThrow(ValidationError);
    expect(() => create(['breakglass'])).toThrow(ValidationError);
    expect(() => create(['identity.mfa.enroll'])).toThrow(ValidationError);
    expect(() => create(['session.visits.write'], ' ')).toThrow(ValidationError);
  });

  it('rotates only an existing account', () => {
    expect(() =>
      decideServiceAccount(
        { type: 'RotateServiceAccountSecret', data: { now: NOW } },
        initialServiceAccountState,
      ),
    ).toThrow(PreconditionError);
  });
});

describe('break-glass', () => {
  const base = {
    grantId: 'g-1',
    alertId: 'a-1',
    userId: 'u-1',
    role: 'clinician',
    sessionId: 's-1',
    resource: 'patients/p-1',
    reason: 'Patient unconscious in the ER, no consent possible',
    durationMs: 0,
    now: NOW,
  };

  it('grants 60 minutes by default (and at most), with an alert that carries no reason text', () => {
    const [granted, alert] = decideBreakGlass(base);
    expect(granted.data.expiresAt).toBe(new Date(NOW + BREAK_GLASS_MAX_MS).toISOString());
    expect(granted.data.reason).toBe(base.reason);
    expect(alert.data).toMatchObject({ grantId: 'g-1', severity: 'high', reasonLength: base.reason.length });
    expect(JSON.stringify(alert)).not.toContain('unconscious');
    const [long] = decideBreakGlass({ ...base, durationMs: 5 * 3_600_000 });
    expect(long.data.expiresAt).toBe(new Date(NOW + BREAK_GLASS_MAX_MS).toISOString());
    const [short] = decideBreakGlass({ ...base, durationMs: 600_000 });
    expect(short.data.expiresAt).toBe(new Date(NOW + 600_000).toISOString());
  });

  it('needs a written reason of 20+ characters and a patient resource name', () => {
    expect(() => decideBreakGlass({ ...base, reason: '       emergency now       ' })).toThrow(
      ValidationError,
    );
    expect(() => decideBreakGlass({ ...base, resource: 'visits/v-1' })).toThrow(ValidationError);
  });
});
