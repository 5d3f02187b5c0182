/**
 * The secrets of a patient link: a 256-bit random token (only its SHA-256 is stored) and an 8-digit passcode
 * (only its scrypt hash is stored). Both are returned once, at issue.
 */
import { createHash, randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 } as const;
export const PASSCODE_DIGITS = 8;
const PASSCODE = /^\d{8}$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh link token: 32 random bytes, base64url (256 bits). */
export function newLinkToken(): string {
  return randomBytes(32).toString('base64url');
}

/** True when `token` has the shape of a link token (cheap pre-check before any lookup). */
export function isLinkTokenShape(token: string): boolean {
  return TOKEN.test(token);
}

/** SHA-256 of a link token, hex: what events store and the link index is keyed by. */
export function linkTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A fresh 8-digit passcode (uniform, leading zeros allowed). */
export function newPasscode(): string {
  return String(randomInt(0, 10 ** PASSCODE_DIGITS)).padStart(PASSCODE_DIGITS, '0');
}

function scryptAsync(password: string, salt: Buffer, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password,
      salt,
      keylen,
      { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT.maxmem },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url) of a passcode. */
export async function hashPasscode(passcode: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(passcode, salt, SCRYPT.keylen);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Constant-time check of a passcode against its stored hash; false on any malformed input. */
export async function verifyPasscode(passcode: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  if (Number(n) !== SCRYPT.N || Number(r) !== SCRYPT.r || Number(p) !== SCRYPT.p) return false;
  const expected = Buffer.from(hash, 'base64url');
  // Always spend the scrypt work, even for a malformed passcode, so timing says nothing.
  const actual = await scryptAsync(
    PASSCODE.test(passcode) ? passcode : `x${passcode}`,
    Buffer.from(salt, 'base64url'),
    expected.length || SCRYPT.keylen,
  );
  return PASSCODE.test(passcode) && expected.length === actual.length && timingSafeEqual(expected, actual);
}
