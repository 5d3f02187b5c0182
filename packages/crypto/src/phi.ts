import { ValidationError } from '@haven/errors';
import { fromB64u, openBytes, sealBytes, b64u } from './aes-gcm';
import { IntegrityError } from './errors';
import type { PatientKeyStore } from './patient-keys';

/**
 * PHI sealed with a patient's data key: what an event envelope's `phi` holds (@haven/eventstore re-exports it).
 * Opaque to everyone but {@link openPhi}.
 */
export interface SealedPhi {
  /** The patient whose data key sealed this; crypto-shredding destroys that key. */
  readonly subject: string;
  /** Key id of the patient's data key. */
  readonly keyId: string;
  /** base64url(iv ‖ ciphertext ‖ tag) of the JSON of the PHI fields, AES-256-GCM. */
  readonly ciphertext: string;
}

function phiAad(subject: string, keyId: string): Buffer {
  return Buffer.from(`haven.phi.v1\u0000${subject}\u0000${keyId}`, 'utf8');
}

/**
 * Seals PHI fields with the patient's own data key (created on first use), AES-256-GCM with the subject
 * and key id bound as AAD. Throws ValidationError when `fields` is not a plain JSON-serialisable object,
 * PhiShreddedError when the patient's key was destroyed.
 */
export async function sealPhi(
  keys: PatientKeyStore,
  patientId: string,
  fields: Record<string, unknown>,
): Promise<SealedPhi> {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new ValidationError([{ field: 'fields', description: 'must be an object' }]);
  }
  let json: string;
  try {
    json = JSON.stringify(fields);
  } catch {
    throw new ValidationError([{ field: 'fields', description: 'must be JSON-serialisable' }]);
  }
  const { keyId, key } = await keys.getOrCreate(patientId);
  const sealed = sealBytes(key, Buffer.from(json, 'utf8'), phiAad(patientId, keyId));
  return { subject: patientId, keyId, ciphertext: b64u(sealed) };
}

/**
 * Opens sealed PHI. Throws PhiShreddedError when the subject's key was destroyed, IntegrityError when the
 * blob, its subject or key id was modified,
 * NotFoundError when the subject never had a key.
 */
export async function openPhi(keys: PatientKeyStore, sealed: SealedPhi): Promise<Record<string, unknown>> {
  if (
    typeof sealed !== 'object' ||
    sealed === null ||
    typeof sealed.subject !== 'string' ||
    typeof sealed.keyId !== 'string' ||
    typeof sealed.ciphertext !== 'string'
  ) {
    throw new IntegrityError('sealed PHI: malformed (expected { subject, keyId, ciphertext })');
  }
  const { keyId, key } = await keys.get(sealed.subject);
  if (keyId !== sealed.keyId) {
    throw new IntegrityError(
      "sealed PHI: key id does not match the subject's data key (subject or key id modified)",
    );
  }
  const plain = openBytes(
    key,
    fromB64u(sealed.ciphertext, 'sealed PHI'),
    phiAad(sealed.subject, sealed.keyId),
    'sealed PHI',
  );
  const value: unknown = JSON.parse(plain.toString('utf8'));
  plain.fill(0);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new IntegrityError('sealed PHI: not an object');
  return value as Record<string, unknown>;
}
