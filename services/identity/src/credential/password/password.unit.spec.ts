import { ValidationError } from '@haven/errors';
import { loadCommonPasswords } from './common-passwords';
import { createPasswordHasher, OWASP_ARGON2_PARAMS, TEST_ARGON2_PARAMS } from './hasher';
import { assertPasswordAcceptable, checkPassword, DEFAULT_PASSWORD_POLICY, passwordExpired } from './policy';

const common = loadCommonPasswords();
const codes = (pw: string) => checkPassword(pw, { commonPasswords: common }).map((p) => p.code);

describe('password policy', () => {
  it('accepts a long mixed password that is not on the list', () => {
    expect(codes('Haven-Demo-2026!')).toEqual([]);
    expect(codes('correct Horse 7 battery')).toEqual([]);
  });
  it('lists everything that is missing', () => {
    expect(codes('abc')).toEqual(['too_short', 'no_uppercase', 'no_digit', 'no_symbol']);
    expect(codes('ALLUPPERCASE123!')).toEqual(['no_lowercase']);
    expect(codes('NoDigitsHere!!')).toEqual(['no_digit']);
    expect(codes('NoSymbols12345')).toEqual(['no_symbol']);
  });
  it('refuses common passwords case-insensitively, even when they meet the composition rules', () => {
    expect(common.size).toBeGreaterThan(3000);
    expect(codes('Password2024!')).toEqual(['common_password']);
    expect(codes('HOSPITAL2026!')).toContain('common_password');
    expect(codes('Welcome12345!')).toEqual(['common_password']);
  });
  it('refuses passwords containing the user identity', () => {
    const problems = checkPassword('Rivera-Secure-77', { identity: ['rivera', 'demo.clinic'] });
    expect(problems.map((p) => p.code)).toEqual(['contains_identity']);
  });
  it('is configurable (NIST 800-63B style: length only)', () => {
    const nist = {
      ...DEFAULT_PASSWORD_POLICY,
      minLength: 15,
      requireUpper: false,
      requireLower: false,
      requireDigit: false,
      requireSymbol: false,
    };
    expect(checkPassword('plain long passphrase', { policy: nist })).toEqual([]);
    expect(checkPassword('short', { policy: nist }).map((p) => p.code)).toEqual(['too_short']);
  });
  it('throws a ValidationError with one violation per problem', () => {
    expect(() => assertPasswordAcceptable('abc', 'password')).toThrow(ValidationError);
    try {
      assertPasswordAcceptable('abcdefghijklmn', 'new_password');
    } catch (error) {
      const v = (error as ValidationError).violations;
      expect(v.map((x) => x.field)).toEqual(['new_password', 'new_password', 'new_password']);
      expect((error as Error).message).toMatch(/uppercase letter.*digit.*symbol/);
    }
  });
  it('expires passwords after maxAgeDays, or never when rotation is off', () => {
    const day = 86_400_000;
    expect(passwordExpired(0, 89 * day, DEFAULT_PASSWORD_POLICY)).toBe(false);
    expect(passwordExpired(0, 90 * day, DEFAULT_PASSWORD_POLICY)).toBe(true);
    expect(passwordExpired(0, 900 * day, { ...DEFAULT_PASSWORD_POLICY, maxAgeDays: null })).toBe(false);
  });
});

describe('argon2id hasher', () => {
  it('uses OWASP parameters by default', () => {
    expect(createPasswordHasher().params).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(OWASP_ARGON2_PARAMS).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
  });
  it('hashes with argon2id and verifies', async () => {
    const hasher = createPasswordHasher(TEST_ARGON2_PARAMS);
    const phc = await hasher.hash('Haven-Demo-2026!');
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    await expect(hasher.verify(phc, 'Haven-Demo-2026!')).resolves.toBe(true);
    await expect(hasher.verify(phc, 'haven-demo-2026!')).resolves.toBe(false);
    await expect(hasher.verify('not a hash', 'x')).resolves.toBe(false);
    await expect(hasher.verifyDummy('anything')).resolves.toBe(false);
    await expect(hasher.matchesAny(['garbage', phc], 'Haven-Demo-2026!')).resolves.toBe(true);
    await expect(hasher.matchesAny([phc], 'Other-Pass-2026!')).resolves.toBe(false);
  });
  it('really produces OWASP-cost hashes', async () => {
    const phc = await createPasswordHasher().hash('Haven-Demo-2026!');
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });
});
