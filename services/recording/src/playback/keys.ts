/**
 * The data keys of the recordings. Each recording's data key is wrapped by a key of its own (subject
 * `recordings/<id>` in a key store that the KMS wraps at rest), and bound to the KMS context
 * `{ recording: "recordings/<id>" }`. Destroying that recording key crypto-shreds the recording everywhere: the
 * object header, the RecordingEncrypted event and every backup of either only ever held the data key wrapped
 * under it. Objects whose data key the KMS wrapped directly (no `subject-key:` KEK id) still open through the KMS.
 */
import {
  subjectKeyKms,
  type Kms,
  type KmsContext,
  type PatientKeyStore,
  type WrappedKey,
} from '@haven/crypto';

/** The KMS context of a recording's data key. */
export function recordingContext(recordingId: string): KmsContext {
  return { recording: `recordings/${recordingId}` };
}

const subject = (recordingId: string) => `recordings/${recordingId}`;

export class RecordingKeys {
  constructor(
    private readonly kms: Kms,
    private readonly store: PatientKeyStore,
  ) {}

  /**
   * The KMS to encrypt and decrypt recording `recordingId` with: wraps under the recording's own key; unwraps
   * keys wrapped either way. Its errors are the key store's (PhiShreddedError once shredded) or the KMS's.
   */
  kmsFor(recordingId: string): Kms {
    const own = subjectKeyKms(this.store, subject(recordingId));
    const base = this.kms;
    return {
      wrapKey: (key: Buffer, context?: KmsContext) => own.wrapKey(key, context),
      unwrapKey: (wrapped: WrappedKey, context?: KmsContext) =>
        wrapped.kekId.startsWith('subject-key:')
          ? own.unwrapKey(wrapped, context)
          : base.unwrapKey(wrapped, context),
      rotate: () => own.rotate(),
      currentKekId: () => own.currentKekId(),
    };
  }

  /** Crypto-shreds recording `recordingId`: its key is destroyed for good (idempotent). */
  async shred(recordingId: string): Promise<void> {
    await this.store.destroy(subject(recordingId));
  }
}
