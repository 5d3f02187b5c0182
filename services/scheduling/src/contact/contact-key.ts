/**
 * The contact key of a phone number: HMAC-SHA256 of the number in E.164 form under a per-installation secret
 * (`<data dir>/sms-contact.key`, 32 random bytes, 0600, created on first start). A plain hash of a phone number
 * is reversed by trying every number; the keyed one is not without the secret. Stream names and events carry
 * the key, never the number.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isCategory } from '@haven/errors';
import { readSecretFile, writeSecretFile } from '@haven/crypto';

/** Maps a phone number to its contact key. */
export type ContactKeyer = (phone: string) => string;

/** `+1 (555) 010-2030` → `+15550102030`: the form both the outbox and the inbound webhooks hash. */
export function normalizePhone(phone: string): string {
  return phone.replace(/[\s().-]/g, '');
}

/** A keyer over a known secret (tests, or a secret from elsewhere). */
export function contactKeyer(secret: Uint8Array): ContactKeyer {
  if (secret.length < 32) throw new TypeError('the contact-key secret must have at least 32 bytes');
  return (phone) => createHmac('sha256', secret).update(normalizePhone(phone)).digest('hex').slice(0, 40);
}

/**
 * Opens (or creates, once) the installation's contact-key secret in `dataDir`. Throws when the file exists
 * but is not a 0600 regular file of 64 hex characters.
 */
export async function openContactKeyer(dataDir: string): Promise<ContactKeyer> {
  const path = join(dataDir, 'sms-contact.key');
  let hex: string;
  try {
    hex = (await readSecretFile(path, 'SMS contact key')).trim();
  } catch (error) {
    if (!isCategory(error, 'not_found')) throw error;
    await writeSecretFile(path, randomBytes(32).toString('hex'), { exclusive: true });
    hex = (await readSecretFile(path, 'SMS contact key')).trim();
  }
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${path} is not a 32-byte hex secret`);
  return contactKeyer(Buffer.from(hex, 'hex'));
}
