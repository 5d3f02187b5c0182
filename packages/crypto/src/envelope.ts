import { randomBytes } from 'node:crypto';
import { ValidationError } from '@haven/errors';
import { GCM, b64u, decryptGcm, fromB64u } from './aes-gcm';
import { createCipheriv } from 'node:crypto';
import { IntegrityError } from './errors';
import type { Kms, KmsContext, WrappedKey } from './kms';

/** An object encrypted with its own data key (envelope encryption). JSON-safe; contains no secret in clear. */
export interface EncryptedEnvelope {
  /** Format tag. */
  readonly v: 'haven.envelope.v1';
  /** The object's data key, wrapped by the KMS. Replaced by {@link rewrapEnvelope}; the ciphertext is not. */
  readonly wrappedKey: WrappedKey;
  /** base64url 96-bit random IV. */
  readonly iv: string;
  /** base64url AES-256-GCM ciphertext. */
  readonly ciphertext: string;
  /** base64url 128-bit GCM tag. */
  readonly tag: string;
}

/** Options of {@link encryptEnvelope} / {@link decryptEnvelope}. */
export interface EnvelopeOptions {
  /** Additional authenticated data (not stored): decrypt must present the same bytes. */
  readonly aad?: Buffer;
}

const WRAP_CONTEXT: KmsContext = { purpose: 'haven.envelope.v1' };
const AAD_PREFIX = Buffer.from('haven.envelope.v1\u0000', 'utf8');

function dataAad(aad: Buffer | undefined): Buffer {
  return aad === undefined ? AAD_PREFIX : Buffer.concat([AAD_PREFIX, aad]);
}

/**
 * Encrypts `plaintext` with a fresh random 256-bit data key (AES-256-GCM, 96-bit random IV) and stores the
 * data key wrapped by `kms` alongside. Throws ValidationError when `plaintext` is not a Buffer.
 */
export async function encryptEnvelope(
  kms: Kms,
  plaintext: Buffer,
  options: EnvelopeOptions = {},
): Promise<EncryptedEnvelope> {
  if (!Buffer.isBuffer(plaintext)) {
    throw new ValidationError([{ field: 'plaintext', description: 'must be a Buffer' }]);
  }
  const dataKey = randomBytes(GCM.keyBytes);
  try {
    const iv = randomBytes(GCM.ivBytes);
    const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: GCM.tagBytes });
    cipher.setAAD(dataAad(options.aad));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    const wrappedKey = await kms.wrapKey(dataKey, WRAP_CONTEXT);
    return { v: 'haven.envelope.v1', wrappedKey, iv: b64u(iv), ciphertext: b64u(ciphertext), tag: b64u(tag) };
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Decrypts an envelope. Throws IntegrityError when anything (ciphertext, tag, IV, wrapped key, aad) was
 * modified; NotFoundError when the KEK that wrapped its key is no longer in the KMS.
 */
export async function decryptEnvelope(
  kms: Kms,
  envelope: EncryptedEnvelope,
  options: EnvelopeOptions = {},
): Promise<Buffer> {
  assertEnvelope(envelope);
  const iv = fromB64u(envelope.iv, 'envelope iv');
  const tag = fromB64u(envelope.tag, 'envelope tag');
  if (iv.length !== GCM.ivBytes || tag.length !== GCM.tagBytes) {
    throw new IntegrityError('envelope: iv or tag has the wrong length');
  }
  const dataKey = await kms.unwrapKey(envelope.wrappedKey, WRAP_CONTEXT);
  try {
    return decryptGcm(
      dataKey,
      iv,
      fromB64u(envelope.ciphertext, 'envelope ciphertext'),
      tag,
      dataAad(options.aad),
      'envelope',
    );
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Key rotation: re-wraps the envelope's data key under the KMS's current KEK without touching the
 * ciphertext. Returns the envelope unchanged when it already uses the current KEK.
 * Throws IntegrityError when the wrapped key was modified, NotFoundError when its KEK is gone.
 */
export async function rewrapEnvelope(kms: Kms, envelope: EncryptedEnvelope): Promise<EncryptedEnvelope> {
  assertEnvelope(envelope);
  if (envelope.wrappedKey.kekId === (await kms.currentKekId())) return envelope;
  const dataKey = await kms.unwrapKey(envelope.wrappedKey, WRAP_CONTEXT);
  try {
    return { ...envelope, wrappedKey: await kms.wrapKey(dataKey, WRAP_CONTEXT) };
  } finally {
    dataKey.fill(0);
  }
}

function assertEnvelope(envelope: EncryptedEnvelope): void {
  if (
    typeof envelope !== 'object' ||
    envelope === null ||
    envelope.v !== 'haven.envelope.v1' ||
    typeof envelope.wrappedKey !== 'object' ||
    envelope.wrappedKey === null ||
    typeof envelope.iv !== 'string' ||
    typeof envelope.ciphertext !== 'string' ||
    typeof envelope.tag !== 'string'
  ) {
    throw new IntegrityError('envelope: malformed (expected a haven.envelope.v1 object)');
  }
}
