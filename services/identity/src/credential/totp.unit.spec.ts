import {
  base32Decode,
  base32Encode,
  newRecoveryCodes,
  newTotpSecret,
  recoveryCodeDigest,
  totpCodeAt,
  verifyTotp,
} from './totp';

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
