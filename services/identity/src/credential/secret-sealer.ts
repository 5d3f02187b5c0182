/**
 * Seals the secrets of the Credential aggregate (TOTP secrets, recovery-code digests, password and client-secret
 * hashes) with the same envelope PHI uses (@haven/crypto `sealPhi`: AES-256-GCM under a data key of its own
 * subject, wrapped by the KMS), so the permanent event store, its backups and its replicas hold ciphertext only.
 *
 * Subjects (one data key each):
 *  - `totp:<principal>:<enrollment>`: one TOTP enrollment's secret and recovery codes. Destroyed on MFA reset and
 *    when a newer enrollment replaces it — crypto-shredding: the sealed copies in the immutable events become
 *    unreadable for good.
 *  - `credential:<principal>`: the password (or client-secret) hashes of one principal.
 * See docs/adr/0006-secrets-out-of-events.md.
 */
import { join } from 'node:path';
import {
  FilePatientKeyStore,
  openPhi,
  PhiShreddedError,
  sealPhi,
  type Kms,
  type PatientKeyStore,
  type SealedPhi,
} from '@haven/crypto';

/** Seals and opens credential secrets; destroys a subject's key. */
export interface SecretSealer {
  /** Seals `fields` under `subject`'s key (created on first use). Rejects when the key was destroyed. */
  seal(subject: string, fields: Record<string, unknown>): Promise<SealedPhi>;
  /** Opens a sealed blob; undefined when its key was destroyed (shredded). Rejects on tampering. */
  open(sealed: SealedPhi): Promise<Record<string, unknown> | undefined>;
  /** Destroys `subject`'s key for good (idempotent). */
  destroy(subject: string): Promise<void>;
}

/** The key subject of one TOTP enrollment. */
export function totpSubject(principalId: string, enrollmentId: string): string {
  return `totp:${principalId}:${enrollmentId}`;
}

/** The key subject of a principal's password or client-secret hashes. */
export function credentialSubject(principalId: string): string {
  return `credential:${principalId}`;
}

/** A sealer over a key store (per-subject data keys). */
export function keyStoreSealer(keys: PatientKeyStore): SecretSealer {
  return {
    seal: (subject, fields) => sealPhi(keys, subject, fields),
    open: async (sealed) => {
      try {
        return await openPhi(keys, sealed);
      } catch (error) {
        if (error instanceof PhiShreddedError) return undefined;
        throw error;
      }
    },
    destroy: (subject) => keys.destroy(subject),
  };
}

/**
 * The sealer of the identity service: per-subject keys in `<dataDir>/credential-keys` (0700, each 0600), wrapped by
 * `kms` (the KMS of HAVEN_KMS). Throws nothing.
 */
export function openSecretSealer(options: { readonly dataDir: string; readonly kms: Kms }): SecretSealer {
  return keyStoreSealer(
    new FilePatientKeyStore({ dir: join(options.dataDir, 'credential-keys'), kms: options.kms }),
  );
}
