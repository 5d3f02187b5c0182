import { PreconditionError } from '@haven/errors';
import { unwrapWithKeks, wrapWithKek, type Kms, type KmsContext, type WrappedKey } from './kms';
import type { PatientKeyStore } from './patient-keys';

const PREFIX = 'subject-key:';

/**
 * A {@link Kms} whose only key-encryption key is ONE subject's key in a {@link PatientKeyStore} — for example a
 * recording's key, subject `recordings/R` — itself kept wrapped by the real KMS in the store. Data keys it
 * wraps (a recording's data key in its object header and in its events) become unreadable everywhere, backups
 * of the objects and of the event log included, once `store.destroy(subject)` crypto-shreds the subject key:
 * the immutable copies only ever held the data key wrapped under a key that no longer exists.
 *
 * KEK ids are `subject-key:<keyId>`. `rotate` is refused: rotating the real KMS re-wraps the store's keys, the
 * data keys wrapped here never change.
 */
export function subjectKeyKms(store: PatientKeyStore, subject: string): Kms {
  return {
    async wrapKey(plaintextKey: Buffer, context?: KmsContext): Promise<WrappedKey> {
      const key = await store.getOrCreate(subject);
      return wrapWithKek(`${PREFIX}${key.keyId}`, key.key, plaintextKey, context);
    },
    /**
     * Throws PhiShreddedError when the subject key was destroyed, NotFoundError when the subject never had a
     * key or `wrapped` names another key, IntegrityError when the wrapped key or the context was altered.
     */
    async unwrapKey(wrapped: WrappedKey, context?: KmsContext): Promise<Buffer> {
      const key = await store.get(subject);
      const kekId = `${PREFIX}${key.keyId}`;
      return unwrapWithKeks((id) => (id === kekId ? key.key : undefined), wrapped, context);
    },
    rotate(): Promise<string> {
      return Promise.reject(
        new PreconditionError('a subject key is not rotated: rotate the KMS that wraps the key store'),
      );
    },
    async currentKekId(): Promise<string> {
      return `${PREFIX}${(await store.getOrCreate(subject)).keyId}`;
    },
  };
}
