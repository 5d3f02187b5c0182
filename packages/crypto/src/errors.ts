import { ErrorCategory, PreconditionError, isCategory } from '@haven/errors';

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

/**
 * Runs `work` (opening or sealing a patient's PHI) and answers what it answers. When the patient's key was
 * destroyed (PhiShreddedError), or with `missingKey` also when the patient has no key at all (NotFoundError),
 * throws PreconditionError "patient data erased": what every RPC answers for an erased patient's data, never a
 * garbled or empty answer. Throws anything else `work` throws unchanged.
 */
export async function unlessErased<T>(
  work: () => Promise<T>,
  options: { readonly missingKey?: boolean } = {},
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (
      error instanceof PhiShreddedError ||
      (options.missingKey === true && isCategory(error, ErrorCategory.NotFound))
    ) {
      throw new PreconditionError('patient data erased', { cause: error });
    }
    throw error;
  }
}
