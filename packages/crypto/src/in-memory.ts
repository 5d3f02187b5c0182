import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { NotFoundError } from '@haven/errors';
import { GCM } from './aes-gcm';
import { PhiShreddedError } from './errors';
import {
  generateKek,
  newKekId,
  unwrapWithKeks,
  wrapWithKek,
  type Kms,
  type KmsContext,
  type WrappedKey,
} from './kms';
import { checkPatientId, newPatientKeyId, type PatientKey, type PatientKeyStore } from './patient-keys';

/** A {@link Kms} whose KEKs live only in memory. For unit tests; keys are lost with the process. */
export class InMemoryKms implements Kms {
  readonly #keys = new Map<string, KeyObject>();
  #current: string;

  constructor() {
    this.#current = newKekId();
    this.#keys.set(this.#current, generateKek());
  }

  /** {@inheritDoc Kms.wrapKey} */
  async wrapKey(plaintextKey: Buffer, context?: KmsContext): Promise<WrappedKey> {
    return wrapWithKek(this.#current, this.#keys.get(this.#current)!, plaintextKey, context);
  }

  /** {@inheritDoc Kms.unwrapKey} */
  async unwrapKey(wrapped: WrappedKey, context?: KmsContext): Promise<Buffer> {
    return unwrapWithKeks((id) => this.#keys.get(id), wrapped, context);
  }

  /** {@inheritDoc Kms.rotate} */
  async rotate(): Promise<string> {
    let id = newKekId();
    while (this.#keys.has(id)) id = newKekId();
    this.#keys.set(id, generateKek());
    this.#current = id;
    return id;
  }

  /** {@inheritDoc Kms.currentKekId} */
  async currentKekId(): Promise<string> {
    return this.#current;
  }

  /** Redacted form. */
  toJSON(): { kind: 'InMemoryKms'; currentKekId: string } {
    return { kind: 'InMemoryKms', currentKekId: this.#current };
  }

  /** Redacted `util.inspect` output. */
  [inspect.custom](): string {
    return `InMemoryKms ${JSON.stringify(this.toJSON())}`;
  }
}

/** A {@link PatientKeyStore} in memory, with the same semantics as the file adapter. For unit tests. */
export class InMemoryPatientKeyStore implements PatientKeyStore {
  readonly #keys = new Map<string, PatientKey>();
  readonly #shredded = new Set<string>();

  /** {@inheritDoc PatientKeyStore.getOrCreate} */
  async getOrCreate(patientId: string): Promise<PatientKey> {
    checkPatientId(patientId);
    if (this.#shredded.has(patientId)) throw new PhiShreddedError(patientId);
    let key = this.#keys.get(patientId);
    if (key === undefined) {
      key = { keyId: newPatientKeyId(), key: createSecretKey(randomBytes(GCM.keyBytes)) };
      this.#keys.set(patientId, key);
    }
    return key;
  }

  /** {@inheritDoc PatientKeyStore.get} */
  async get(patientId: string): Promise<PatientKey> {
    checkPatientId(patientId);
    if (this.#shredded.has(patientId)) throw new PhiShreddedError(patientId);
    const key = this.#keys.get(patientId);
    if (key === undefined) throw new NotFoundError(`no data key for subject ${patientId}`);
    return key;
  }

  /** {@inheritDoc PatientKeyStore.destroy} */
  async destroy(patientId: string): Promise<void> {
    checkPatientId(patientId);
    this.#keys.delete(patientId);
    this.#shredded.add(patientId);
  }

  /** Redacted form. */
  toJSON(): { kind: 'InMemoryPatientKeyStore'; keys: number } {
    return { kind: 'InMemoryPatientKeyStore', keys: this.#keys.size };
  }
}
