/**
 * A TOTP code as an authenticator app computes it, written apart from identity's own implementation so that a
 * spec signing in with it checks identity against another client.
 */
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s steps) of a base32 `secret` at `atMs`. Padding and white space
 * in the secret are ignored. Throws Error when the secret is not base32.
 */
export function totpCode(secret: string, atMs: number): string {
  let bits = '';
  for (const ch of secret.replace(/[=\s]+/g, '').toUpperCase()) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error('TOTP secret is not base32');
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
