/**
 * The contact key of a phone number: HMAC-SHA256 of the number in E.164 form under a per-installation secret
 * (`<data dir>/sms-contact.key`, 32 random bytes, 0600, created on first start). A plain hash of a phone number
 * is reversed by trying every number; the keyed one is not without the secret. Stream names and events carry
 * the key, never the number.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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

/** Maps an e-mail address to its contact key (another keyed hash than the phone numbers'). */
export type EmailKeyer = (email: string) => string;

/** `  Ann@Example.TEST ` → `ann@example.test`. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The unsubscribe tokens of e-mail addresses: `<contact key>.<HMAC of the key>` under the same secret, so a
 * token names no address (no PHI in the URL), cannot be made for another address without the secret, and is
 * checked without a lookup.
 */
export interface UnsubscribeTokens {
  readonly keyOf: EmailKeyer;
  /** The token of an address. */
  tokenOf(email: string): string;
  /** The contact key a token stands for; undefined when it is not one of ours. */
  verify(token: string): string | undefined;
}

/** E-mail keys and unsubscribe tokens over a known secret. */
export function unsubscribeTokens(secret: Uint8Array): UnsubscribeTokens {
  if (secret.length < 32) throw new TypeError('the contact-key secret must have at least 32 bytes');
  const keyOf: EmailKeyer = (email) =>
    createHmac('sha256', secret)
      .update(`email\0${normalizeEmail(email)}`)
      .digest('hex')
      .slice(0, 40);
  const macOf = (key: string) =>
    createHmac('sha256', secret).update(`unsubscribe\0${key}`).digest('base64url').slice(0, 32);
  return {
    keyOf,
    tokenOf: (email) => {
      const key = keyOf(email);
      return `${key}.${macOf(key)}`;
    },
    verify: (token) => {
      const m = /^([0-9a-f]{40})\.([A-Za-z0-9_-]{32})$/.exec(token);
      if (!m) return undefined;
      const want = Buffer.from(macOf(m[1]!));
      const got = Buffer.from(m[2]!);
      return want.length === got.length && timingSafeEqual(want, got) ? m[1] : undefined;
    },
  };
}

/**
 * Opens (or creates, once) the installation's contact-key secret in `dataDir` (`sms-contact.key`: phone numbers
 * and e-mail addresses). Throws when the file exists but is not a 0600 regular file of 64 hex characters.
 */
export async function openContactSecret(dataDir: string): Promise<Buffer> {
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
  return Buffer.from(hex, 'hex');
}

/**
 * Opens (or creates, once) the installation's contact-key secret in `dataDir` and returns the phone keyer.
 * Throws like {@link openContactSecret}.
 */
export async function openContactKeyer(dataDir: string): Promise<ContactKeyer> {
  return contactKeyer(await openContactSecret(dataDir));
}
