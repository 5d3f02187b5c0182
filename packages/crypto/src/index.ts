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
export type { ByteRange, EncryptFileResult, EncryptStreamOptions, EncryptedFileInfo } from './stream';
export { FilePatientKeyStore } from './patient-keys';
export type { FilePatientKeyStoreOptions, PatientKey, PatientKeyStore } from './patient-keys';
export { writeSecretFile } from './secret-file';
export type { WriteSecretFileOptions } from './secret-file';
export { sealPhi, openPhi } from './phi';
export type { SealedPhi } from './phi';
