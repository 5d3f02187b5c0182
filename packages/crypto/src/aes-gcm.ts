import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { IntegrityError } from './errors';

/** AES-256-GCM parameters used everywhere in this package. */
export const GCM = { keyBytes: 32, ivBytes: 12, tagBytes: 16 } as const;

/** Key material accepted by the helpers: a 32-byte Buffer or a secret KeyObject. */
export type SecretKey = Buffer | KeyObject;

/** Encrypts `plaintext` with a fresh random IV; returns `iv ‖ ciphertext ‖ tag`. */
export function sealBytes(key: SecretKey, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(GCM.ivBytes);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM.tagBytes });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/**
 * Reverses {@link sealBytes}.
 * Throws IntegrityError when the blob is too short or authentication fails (`what` names the object).
 */
export function openBytes(key: SecretKey, sealed: Buffer, aad: Buffer, what: string): Buffer {
  if (sealed.length < GCM.ivBytes + GCM.tagBytes) {
    throw new IntegrityError(`${what}: ciphertext is truncated`);
  }
  const iv = sealed.subarray(0, GCM.ivBytes);
  const tag = sealed.subarray(sealed.length - GCM.tagBytes);
  const body = sealed.subarray(GCM.ivBytes, sealed.length - GCM.tagBytes);
  return decryptGcm(key, iv, body, tag, aad, what);
}

/** One-shot AES-256-GCM decryption with an explicit IV and tag. Throws IntegrityError when authentication fails. */
export function decryptGcm(
  key: SecretKey,
  iv: Buffer,
  body: Buffer,
  tag: Buffer,
  aad: Buffer,
  what: string,
): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM.tagBytes });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const plaintext = decipher.update(body);
    decipher.final(); // GCM has no trailing block: final() only checks the tag (no copy of the plaintext)
    return plaintext;
  } catch {
    // The OpenSSL error says nothing useful ("Unsupported state or unable to authenticate data"); no cause kept.
    throw new IntegrityError(
      `${what}: authentication failed (the data, its tag, its associated data or the key was modified, or the wrong key was used)`,
    );
  }
}

/** base64url without padding. */
export function b64u(buf: Buffer): string {
  return buf.toString('base64url');
}

/** Decodes base64url strictly. Throws IntegrityError when `text` is not base64url. */
export function fromB64u(text: string, what: string): Buffer {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new IntegrityError(`${what}: not base64url`);
  }
  return Buffer.from(text, 'base64url');
}
