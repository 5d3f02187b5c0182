/**
 * TOTP (RFC 6238 via otplib v13's `@otplib/totp` with the Node crypto plugin: SHA-1, 6 digits, 30 s — what
 * every authenticator app expects) and one-time recovery codes. Codes are accepted one step either side and
 * never twice (the last accepted time step is kept in the credential stream and passed as `afterTimeStep`).
 *
 * The `otplib` umbrella package pulls ESM-only dependencies (@scure/base, @noble/hashes) that jest cannot
 * require, so the secret is base32-coded here (RFC 4648) and handed to @otplib/totp as bytes.
 */
import { randomBytes } from 'node:crypto';
import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';
import { generate, verify } from '@otplib/totp';
import { tokenDigest } from '../tokens/tokens';

const crypto = new NodeCryptoPlugin();
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding. */
export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes RFC 4648 base32 (padding, case and spaces ignored). Throws TypeError on other characters. */
export function base32Decode(text: string): Uint8Array {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = B32.indexOf(ch);
    if (index < 0) throw new TypeError('not base32');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** Issuer shown in authenticator apps. */
export const TOTP_ISSUER = 'Haven';
/** How many recovery codes a confirmed enrollment gets. */
export const RECOVERY_CODE_COUNT = 10;
const TOTP_CODE = /^\d{6}$/;

/** A new base32 TOTP secret (160 bits). */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

/** The `otpauth://totp/Haven:<label>?secret=…&issuer=Haven` provisioning URI (QR code). */
export function totpUri(secret: string, label: string): string {
  const name = `${encodeURIComponent(TOTP_ISSUER)}:${encodeURIComponent(label)}`;
  return `otpauth://totp/${name}?secret=${secret}&issuer=${encodeURIComponent(TOTP_ISSUER)}&algorithm=SHA1&digits=6&period=30`;
}

/** True when `code` looks like a TOTP code (6 digits) rather than a recovery code. */
export function looksLikeTotp(code: string): boolean {
  return TOTP_CODE.test(code.trim());
}

/**
 * Verifies a 6-digit code (±1 step) that is newer than `afterTimeStep`; returns its time step, or null when
 * it is wrong, malformed or replayed. Throws nothing.
 */
export async function verifyTotp(
  secret: string,
  code: string,
  options: { afterTimeStep?: number | null; nowMs?: number } = {},
): Promise<number | null> {
  const token = code.trim();
  if (!TOTP_CODE.test(token)) return null;
  try {
    const result = await verify({
      secret: base32Decode(secret),
      crypto,
      token,
      epochTolerance: 30,
      ...(options.afterTimeStep != null ? { afterTimeStep: options.afterTimeStep } : {}),
      ...(options.nowMs !== undefined ? { epoch: Math.floor(options.nowMs / 1000) } : {}),
    });
    if (!result.valid) return null;
    const step = (result as { timeStep?: unknown }).timeStep;
    return typeof step === 'number' ? step : Math.floor((options.nowMs ?? Date.now()) / 30_000);
  } catch {
    return null;
  }
}

/** The code for `nowMs` (tests and the demo). */
export async function totpCodeAt(secret: string, nowMs: number = Date.now()): Promise<string> {
  return generate({ secret: base32Decode(secret), crypto, epoch: Math.floor(nowMs / 1000) });
}

/** Normalises a recovery code as typed (case, spaces, dashes). */
export function normalizeRecoveryCode(code: string): string {
  return code.replace(/[\s-]/g, '').toUpperCase();
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // 32 symbols, no 0/O/1/I

/** Ten fresh recovery codes (`XXXX-XXXX-XXXX-XXXX`, 80 random bits each) and their SHA-256 digests. */
export function newRecoveryCodes(): { codes: string[]; hashes: string[] } {
  const codes: string[] = [];
  for (let i = 0; i < RECOVERY_CODE_COUNT; i += 1) {
    const bytes = randomBytes(16);
    let s = '';
    for (let j = 0; j < 16; j += 1) s += ALPHABET[(bytes[j] ?? 0) & 31];
    codes.push(`${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}`);
  }
  return { codes, hashes: codes.map((c) => tokenDigest(normalizeRecoveryCode(c))) };
}

/** Digest of a typed recovery code, to compare with the stored ones. */
export function recoveryCodeDigest(code: string): string {
  return tokenDigest(normalizeRecoveryCode(code));
}
