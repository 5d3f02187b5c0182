/**
 * @haven/crypto: key management (KMS port + local keyring, PKCS#11, Vault/OpenBao Transit), envelope encryption, chunked streaming
 * encryption for big files, per-patient data keys with crypto-shredding, and PHI sealing.
 * AES-256-GCM everywhere (node:crypto; inside the token for the PKCS#11 adapter).
 */
export { IntegrityError, PhiShreddedError, unlessErased } from './errors';
export { canonicalContext } from './kms';
export type { Kms, KmsContext, WrappedKey } from './kms';
export { LocalKeyringKms } from './local-keyring-kms';
export type { LocalKeyringOptions } from './local-keyring-kms';
export { Pkcs11Kms } from './pkcs11-kms';
export type { Pkcs11KmsOptions } from './pkcs11-kms';
export { VaultTransitKms } from './vault-transit-kms';
export type { VaultTransitKmsOptions } from './vault-transit-kms';
export { KMS_ADAPTERS, KMS_VARIABLES, openKmsFromEnv } from './kms-config';
export type { ClosableKms, KmsAdapter } from './kms-config';
export { readRewrapJournal, rewrapFiles, rewrapKeys } from './rewrap';
export type {
  RewrapFileItem,
  RewrapItem,
  RewrapJournalEntry,
  RewrapKeysOptions,
  RewrapProgress,
} from './rewrap';
export { encryptEnvelope, decryptEnvelope, rewrapEnvelope } from './envelope';
export type { EncryptedEnvelope, EnvelopeOptions } from './envelope';
export {
  STREAM_FORMAT,
  createEncryptStream,
  createDecryptStream,
  encryptChunks,
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
export { FilePatientKeyStore, rewrapKeyStore } from './patient-keys';
export type {
  FilePatientKeyStoreOptions,
  PatientKey,
  PatientKeyStore,
  RewrapKeyStoreOptions,
  RewrapKeyStoreProgress,
} from './patient-keys';
export { subjectKeyKms } from './subject-key-kms';
export { assertOwnerOnlyFile, readSecretFile, writeSecretFile } from './secret-file';
export type { WriteSecretFileOptions } from './secret-file';
export { sealPhi, openPhi } from './phi';
export type { SealedPhi } from './phi';
