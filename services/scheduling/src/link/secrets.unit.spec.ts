import {
  hashPasscode,
  isLinkTokenShape,
  linkTokenHash,
  newLinkToken,
  newPasscode,
  verifyPasscode,
} from './secrets';

describe('link secrets', () => {
  it('makes 256-bit base64url tokens, stored only as a SHA-256 hex hash', () => {
    const token = newLinkToken();
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(isLinkTokenShape(token)).toBe(true);
    expect(newLinkToken()).not.toBe(token);
    expect(linkTokenHash(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(linkTokenHash(token)).not.toContain(token);
  });
  it('makes 8-digit passcodes and verifies them only against their scrypt hash', async () => {
    const passcode = newPasscode();
    expect(passcode).toMatch(/^\d{8}$/);
    const stored = await hashPasscode(passcode);
    expect(stored).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(stored).not.toContain(passcode);
    expect(await verifyPasscode(passcode, stored)).toBe(true);
    const wrong = String((Number(passcode) + 1) % 100_000_000).padStart(8, '0');
    expect(await verifyPasscode(wrong, stored)).toBe(false);
    expect(await verifyPasscode(`${passcode}0`, stored)).toBe(false);
    expect(await verifyPasscode(passcode, 'garbage')).toBe(false);
    expect(await hashPasscode(passcode)).not.toBe(stored); // salted
  });
});
