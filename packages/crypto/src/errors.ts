import { PreconditionError } from '@haven/errors';

/**
 * Authenticated decryption failed: the ciphertext, its tag, the wrapped key, a file header, the chunk
 * order or the additional authenticated data was modified, the data was truncated or extended, or the
 * wrong key was used. The message never contains key material or plaintext.
 */
export class IntegrityError extends PreconditionError {}

/**
 * The patient's data key was destroyed (crypto-shredding): PHI sealed with it can never be opened again.
 * The sealed blobs themselves stay intact; only the key is gone.
 */
export class PhiShreddedError extends PreconditionError {
  /** The patient whose key was destroyed. */
  readonly subject: string;
  constructor(subject: string, options?: { cause?: unknown }) {
    super(
      `the data key of subject ${subject} was destroyed (crypto-shredded); its PHI cannot be opened`,
      options,
    );
    this.subject = subject;
  }
}
