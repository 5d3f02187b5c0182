import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { NotFoundError, ValidationError } from '@haven/errors';
import { GCM, b64u, fromB64u, openBytes, sealBytes } from './aes-gcm';
import { IntegrityError } from './errors';

/** A data key wrapped (encrypted) by a key-encryption key (KEK) of a {@link Kms}. Safe to store and log. */
export interface WrappedKey {
  /** Id of the KEK that wrapped the key. */
  readonly kekId: string;
  /** base64url of the wrapped key (for the local keyring: version ‖ iv ‖ ciphertext ‖ tag). */
  readonly ciphertext: string;
}

/**
 * Encryption context: non-secret key/value pairs bound to a wrapped key as associated data. Unwrapping
 * must present the same context (order does not matter). Never put PHI in it.
 */
export type KmsContext = Readonly<Record<string, string>>;

/**
 * The key-management port. Adapters: {@link LocalKeyringKms} (a keyring file, for dev and single-node
 * installs); Vault transit or a cloud KMS in production. KEKs never leave the adapter.
 */
export interface Kms {
  /**
   * Wraps a data key under the current KEK, binding `context` as associated data.
   * Throws ValidationError when the key is empty or the context is not a string map.
   */
  wrapKey(plaintextKey: Buffer, context?: KmsContext): Promise<WrappedKey>;
  /**
   * Unwraps a key wrapped by any KEK this KMS still holds (old KEKs keep working after rotation).
   * Throws NotFoundError when the KEK is unknown, IntegrityError when the wrapped key or context was altered.
   */
  unwrapKey(wrapped: WrappedKey, context?: KmsContext): Promise<Buffer>;
  /** Creates a new KEK and makes it current; returns its id. Older KEKs stay available for unwrapping. */
  rotate(): Promise<string>;
  /** Id of the KEK that {@link Kms.wrapKey} uses now. */
  currentKekId(): Promise<string>;
}

/** First byte of a wrapped key in Haven's own layout (version ‖ iv ‖ ciphertext ‖ tag). */
export const WRAP_FORMAT_V1 = 1;

/** Canonical, order-independent encoding of a context, used as AAD. Throws ValidationError on non-string values. */
export function canonicalContext(context: KmsContext | undefined): string {
  if (context === undefined) return '[]';
  const entries = Object.keys(context)
    .sort()
    .map((k) => {
      const v = context[k];
      if (typeof v !== 'string') {
        throw new ValidationError([{ field: `context.${k}`, description: 'must be a string' }]);
      }
      return [k, v] as const;
    });
  return JSON.stringify(entries);
}

/** Associated data of a wrapped key: format, KEK id and canonical context (shared by the adapters). */
export function wrapAad(kekId: string, context: KmsContext | undefined): Buffer {
  return Buffer.from(`haven.kms.wrap.v1\u0000${kekId}\u0000${canonicalContext(context)}`, 'utf8');
}

/** Generates a new KEK id: `kek-<UTC timestamp>-<random>`. */
export function newKekId(now: Date = new Date()): string {
  const ts = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `kek-${ts}-${randomBytes(4).toString('hex')}`;
}

/** Generates 32 random bytes as a secret KeyObject (never printed by util.inspect). */
export function generateKek(): KeyObject {
  return createSecretKey(randomBytes(GCM.keyBytes));
}

/**
 * Shared AES-256-GCM key wrapping used by the local adapters. Wraps with `kek` (id `kekId`).
 * Throws ValidationError when the key is empty.
 */
export function wrapWithKek(
  kekId: string,
  kek: KeyObject,
  plaintextKey: Buffer,
  context: KmsContext | undefined,
): WrappedKey {
  assertPlaintextKey(plaintextKey);
  const sealed = sealBytes(kek, plaintextKey, wrapAad(kekId, context));
  return { kekId, ciphertext: b64u(Buffer.concat([Buffer.from([WRAP_FORMAT_V1]), sealed])) };
}

/** Throws ValidationError unless `plaintextKey` is a non-empty Buffer (what every adapter's wrapKey takes). */
export function assertPlaintextKey(plaintextKey: Buffer): void {
  if (!Buffer.isBuffer(plaintextKey) || plaintextKey.length === 0) {
    throw new ValidationError([{ field: 'plaintextKey', description: 'must be a non-empty Buffer' }]);
  }
}

/** Throws IntegrityError unless `wrapped` has the shape of a wrapped key (what any stored value may lack). */
export function assertWrappedKey(wrapped: WrappedKey): void {
  if (
    typeof wrapped !== 'object' ||
    wrapped === null ||
    typeof wrapped.kekId !== 'string' ||
    typeof wrapped.ciphertext !== 'string'
  ) {
    throw new IntegrityError('wrapped key: malformed (expected { kekId, ciphertext })');
  }
}

/**
 * Reverses {@link wrapWithKek}; `lookup` returns the KEK for an id or undefined.
 * Throws NotFoundError when the KEK is unknown, IntegrityError when authentication fails.
 */
export function unwrapWithKeks(
  lookup: (kekId: string) => KeyObject | undefined,
  wrapped: WrappedKey,
  context: KmsContext | undefined,
): Buffer {
  assertWrappedKey(wrapped);
  const kek = lookup(wrapped.kekId);
  if (kek === undefined) {
    throw new NotFoundError(`wrapped key: KEK ${wrapped.kekId} is not in this keyring`);
  }
  const raw = fromB64u(wrapped.ciphertext, 'wrapped key');
  if (raw[0] !== WRAP_FORMAT_V1) {
    throw new IntegrityError('wrapped key: unknown format version');
  }
  return openBytes(kek, raw.subarray(1), wrapAad(wrapped.kekId, context), 'wrapped key');
}
