/**
 * @haven/crypto: key management (KMS port + local keyring), envelope encryption, chunked streaming
 * encryption for big files, per-patient data keys with crypto-shredding, and PHI sealing.
 * node:crypto only: AES-256-GCM everywhere.
 */
export { IntegrityError, PhiShreddedError } from './errors';
export { canonicalContext } from './kms';
export type { Kms, KmsContext, WrappedKey } from './kms';
export { LocalKeyringKms } from './local-keyring-kms';
export type { LocalKeyringOptions } from './local-keyring-kms';
export { encryptEnvelope, decryptEnvelope, rewrapEnvelope } from './envelope';
export type { EncryptedEnvelope, EnvelopeOptions } from './envelope';
export {
  STREAM_FORMAT,
  createEncryptStream,
  createDecryptStream,
  encryptFile,
  decryptFile,
  decryptRange,
  decryptRangeChunks,
  createDecryptRangeStream,
  inspectEncryptedFile,
  rewrapFile,
} from './stream';
export type {
  ByteRange,
  DecryptStreamOptions,
  EncryptFileResult,
  EncryptStreamOptions,
  EncryptedFileInfo,
} from './stream';
export { openEncryptedObject, decryptObjectRange, bufferCiphertextReader } from './stream-range';
export type { CiphertextReader, EncryptedObject, OpenEncryptedObjectOptions } from './stream-range';
export { FilePatientKeyStore } from './patient-keys';
export type { FilePatientKeyStoreOptions, PatientKey, PatientKeyStore } from './patient-keys';
export { subjectKeyKms } from './subject-key-kms';
export { writeSecretFile } from './secret-file';
export type { WriteSecretFileOptions } from './secret-file';
export { sealPhi, openPhi } from './phi';
export type { SealedPhi } from './phi';
