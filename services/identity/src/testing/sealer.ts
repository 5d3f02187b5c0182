/** Test support: a credential sealer over in-memory keys (unit tests only). */
import { InMemoryPatientKeyStore } from '@haven/crypto/testing';
import { keyStoreSealer, type SecretSealer } from '../credential/secret-sealer';

/** A sealer whose data keys live in memory. */
export function inMemorySealer(): SecretSealer {
  return keyStoreSealer(new InMemoryPatientKeyStore());
}
