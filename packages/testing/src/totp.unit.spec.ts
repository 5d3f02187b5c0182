import { totpCode } from './totp';

// RFC 6238 appendix B: the SHA-1 seed "12345678901234567890" (base32 below); the 8-digit codes' last six digits.
const SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('totpCode', () => {
  it('gives the RFC 6238 test vectors’ codes', () => {
    expect(totpCode(SEED, 59_000)).toBe('287082');
    expect(totpCode(SEED, 1_111_111_109_000)).toBe('081804');
    expect(totpCode(SEED, 1_234_567_890_000)).toBe('005924');
    expect(totpCode(SEED, 20_000_000_000_000)).toBe('353130');
  });

  it('ignores case, padding and spaces, and refuses a secret that is not base32', () => {
    expect(totpCode(`${SEED.toLowerCase().replace(/(.{4})/g, '$1 ')}==`, 59_000)).toBe('287082');
    expect(() => totpCode('GEZD1', 59_000)).toThrow('TOTP secret is not base32');
  });
});
