/**
 * Test helpers for @haven/crypto: in-memory adapters and the contract suites every adapter must pass.
 * Import from `@haven/crypto/testing` in jest specs only (the suites use `@jest/globals`).
 */
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from '@jest/globals';
import { ErrorCategory, NotFoundError, isCategory } from '@haven/errors';
import { decryptEnvelope, encryptEnvelope, rewrapEnvelope, type EncryptedEnvelope } from './envelope';
import { IntegrityError, PhiShreddedError } from './errors';
import type { Kms, WrappedKey } from './kms';
import type { PatientKeyStore } from './patient-keys';
import { openPhi, sealPhi } from './phi';

export { InMemoryKms, InMemoryPatientKeyStore } from './in-memory';
export { SOFTHSM2_MODULE, createSoftHsmToken, softHsmAvailable, useSoftHsmToken } from './softhsm';
export type { SoftHsmToken } from './softhsm';
export { startFakeVaultTransit } from './fake-vault-transit';
export type { FakeVaultTransit } from './fake-vault-transit';

/** Pipes `source` through `transforms` and resolves with every byte that came out of the last one. */
export async function collect(source: Readable, ...transforms: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  await pipeline([source, ...transforms, sink]);
  return Buffer.concat(parts);
}

/** Flips one bit of the byte at `index` (negative counts from the end) of a base64url string. */
export function flipBase64url(text: string, index: number): string {
  const buf = Buffer.from(text, 'base64url');
  const i = index < 0 ? buf.length + index : index;
  buf[i] = buf[i]! ^ 0x01;
  return buf.toString('base64url');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

const KEY = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');

/** The {@link testKms} tests of wrapping and unwrapping one key. */
function wrappingContract(factory: () => Kms | Promise<Kms>, key: Buffer): void {
  it('unwraps what it wrapped, under the current KEK', async () => {
    const kms = await factory();
    const wrapped = await kms.wrapKey(key, { purpose: 'test' });
    expect(wrapped.kekId).toBe(await kms.currentKekId());
    expect(wrapped.ciphertext).not.toContain(key.toString('base64url'));
    expect(await kms.unwrapKey(wrapped, { purpose: 'test' })).toEqual(key);
  });

  it('uses a fresh IV for every wrap', async () => {
    const kms = await factory();
    const a = await kms.wrapKey(key);
    const b = await kms.wrapKey(key);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('binds the context: another or a missing context fails, key order does not matter', async () => {
    const kms = await factory();
    const wrapped = await kms.wrapKey(key, { a: '1', b: '2' });
    expect(await kms.unwrapKey(wrapped, { b: '2', a: '1' })).toEqual(key);
    expect(await rejection(kms.unwrapKey(wrapped, { a: '1', b: '3' }))).toBeInstanceOf(IntegrityError);
    expect(await rejection(kms.unwrapKey(wrapped))).toBeInstanceOf(IntegrityError);
  });

  it('detects a flipped byte anywhere in the wrapped key', async () => {
    const kms = await factory();
    const wrapped = await kms.wrapKey(key);
    const length = Buffer.from(wrapped.ciphertext, 'base64url').length;
    for (const i of [1, 5, Math.floor(length / 2), length - 1]) {
      const tampered: WrappedKey = { ...wrapped, ciphertext: flipBase64url(wrapped.ciphertext, i) };
      expect(await rejection(kms.unwrapKey(tampered))).toBeInstanceOf(IntegrityError);
    }
  });

  it('refuses an unknown KEK id as not found', async () => {
    const kms = await factory();
    const wrapped = await kms.wrapKey(key);
    const error = await rejection(kms.unwrapKey({ ...wrapped, kekId: 'kek-unknown' }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(isCategory(error, ErrorCategory.NotFound)).toBe(true);
  });

  it('binds the KEK: a wrapped key presented under another KEK of the same KMS fails', async () => {
    const kms = await factory();
    const wrapped = await kms.wrapKey(key, { purpose: 'kek-swap' });
    const other = await kms.rotate();
    expect(
      await rejection(kms.unwrapKey({ ...wrapped, kekId: other }, { purpose: 'kek-swap' })),
    ).toBeInstanceOf(IntegrityError);
  });

  it('refuses a malformed wrapped key as an integrity error', async () => {
    const kms = await factory();
    const wrapped = await kms.wrapKey(key);
    const bad: WrappedKey[] = [
      { ...wrapped, ciphertext: '' },
      { ...wrapped, ciphertext: 'not base64url!' },
      { ...wrapped, ciphertext: wrapped.ciphertext.slice(0, 8) },
      { ...wrapped, ciphertext: `${wrapped.ciphertext}AAAA` },
    ];
    for (const b of bad) expect(await rejection(kms.unwrapKey(b))).toBeInstanceOf(IntegrityError);
  });

  it('encodes the context unambiguously: a key or value boundary moved is another context', async () => {
    const kms = await factory();
    const wrapped = await kms.wrapKey(key, { a: 'bc' });
    expect(await rejection(kms.unwrapKey(wrapped, { ab: 'c' }))).toBeInstanceOf(IntegrityError);
    expect(await rejection(kms.unwrapKey(wrapped, { a: 'b', c: '' }))).toBeInstanceOf(IntegrityError);
    expect(await kms.unwrapKey(wrapped, { a: 'bc' })).toEqual(key);
  });

  it('refuses to wrap an empty key', async () => {
    const kms = await factory();
    const error = await rejection(kms.wrapKey(Buffer.alloc(0)));
    expect(isCategory(error, ErrorCategory.Validation)).toBe(true);
  });
}

/** The {@link testKms} tests of rotation, alone and under concurrency. */
function rotationContract(factory: () => Kms | Promise<Kms>, key: Buffer): void {
  it('rotates: a new current KEK, and keys wrapped by old KEKs still unwrap', async () => {
    const kms = await factory();
    const before = await kms.currentKekId();
    const old = await kms.wrapKey(key, { purpose: 'rotation' });
    const next = await kms.rotate();
    expect(next).not.toBe(before);
    expect(await kms.currentKekId()).toBe(next);
    const third = await kms.rotate();
    expect(third).not.toBe(next);
    expect(await kms.unwrapKey(old, { purpose: 'rotation' })).toEqual(key);
    expect((await kms.wrapKey(key)).kekId).toBe(third);
  });

  it('wraps and unwraps concurrently, across a rotation, without mixing keys up', async () => {
    const kms = await factory();
    const before = await kms.currentKekId();
    const keys = Array.from({ length: 24 }, (_, i) => Buffer.alloc(32, i + 1));
    const first = await Promise.all(keys.map((k, i) => kms.wrapKey(k, { n: String(i) })));
    const [rotated, ...second] = await Promise.all([
      kms.rotate(),
      ...keys.map((k, i) => kms.wrapKey(k, { n: String(i) })),
    ]);
    for (const w of second) expect([before, rotated]).toContain(w.kekId);
    const back = await Promise.all(
      [...first, ...second].map((w, i) => kms.unwrapKey(w, { n: String(i % keys.length) })),
    );
    back.forEach((k, i) => expect(k).toEqual(keys[i % keys.length]));
    expect((await kms.wrapKey(key)).kekId).toBe(rotated);
  });

  it('serialises concurrent rotations: distinct KEKs, every one still unwraps', async () => {
    const kms = await factory();
    const ids = await Promise.all([kms.rotate(), kms.rotate(), kms.rotate()]);
    expect(new Set(ids).size).toBe(3);
    expect(ids).toContain(await kms.currentKekId());
    const wrapped = await kms.wrapKey(key, { purpose: 'after' });
    expect(ids).toContain(wrapped.kekId);
    expect(await kms.unwrapKey(wrapped, { purpose: 'after' })).toEqual(key);
  });
}

/** The {@link testKms} tests of envelope encryption and re-wrapping on the KMS. */
function envelopeContract(factory: () => Kms | Promise<Kms>): void {
  const plaintext = Buffer.from('visit notes: not really PHI, a test string');

  it('round-trips, with and without aad', async () => {
    const kms = await factory();
    const env = await encryptEnvelope(kms, plaintext);
    expect(Buffer.from(env.ciphertext, 'base64url').equals(plaintext)).toBe(false);
    expect(await decryptEnvelope(kms, env)).toEqual(plaintext);
    const withAad = await encryptEnvelope(kms, plaintext, { aad: Buffer.from('recording-1') });
    expect(await decryptEnvelope(kms, withAad, { aad: Buffer.from('recording-1') })).toEqual(plaintext);
    expect(
      await rejection(decryptEnvelope(kms, withAad, { aad: Buffer.from('recording-2') })),
    ).toBeInstanceOf(IntegrityError);
    expect(await rejection(decryptEnvelope(kms, withAad))).toBeInstanceOf(IntegrityError);
  });

  it('uses a fresh data key per object', async () => {
    const kms = await factory();
    const a = await encryptEnvelope(kms, plaintext);
    const b = await encryptEnvelope(kms, plaintext);
    expect(a.wrappedKey.ciphertext).not.toBe(b.wrappedKey.ciphertext);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('detects tampering with ciphertext, tag, iv or wrapped key', async () => {
    const kms = await factory();
    const env = await encryptEnvelope(kms, plaintext);
    const variants: EncryptedEnvelope[] = [
      { ...env, ciphertext: flipBase64url(env.ciphertext, 0) },
      { ...env, ciphertext: flipBase64url(env.ciphertext, -1) },
      { ...env, tag: flipBase64url(env.tag, 3) },
      { ...env, iv: flipBase64url(env.iv, 0) },
      {
        ...env,
        wrappedKey: { ...env.wrappedKey, ciphertext: flipBase64url(env.wrappedKey.ciphertext, -2) },
      },
    ];
    for (const v of variants) expect(await rejection(decryptEnvelope(kms, v))).toBeInstanceOf(IntegrityError);
  });

  it('keeps old envelopes readable after rotation, and rewrap switches the KEK without touching the ciphertext', async () => {
    const kms = await factory();
    const env = await encryptEnvelope(kms, plaintext);
    const next = await kms.rotate();
    expect(await decryptEnvelope(kms, env)).toEqual(plaintext);
    const rewrapped = await rewrapEnvelope(kms, env);
    expect(rewrapped.wrappedKey.kekId).toBe(next);
    expect(env.wrappedKey.kekId).not.toBe(next);
    expect(rewrapped.ciphertext).toBe(env.ciphertext);
    expect(rewrapped.iv).toBe(env.iv);
    expect(rewrapped.tag).toBe(env.tag);
    expect(await decryptEnvelope(kms, rewrapped)).toEqual(plaintext);
    expect(await rewrapEnvelope(kms, rewrapped)).toBe(rewrapped);
  });
}

/**
 * The contract every {@link Kms} adapter must satisfy: wrap/unwrap, context binding, tamper detection,
 * rotation (old KEKs keep unwrapping), plus envelope encryption and re-wrapping on top of it.
 * `factory` returns a fresh, independent KMS for each test.
 */
export function testKms(name: string, factory: () => Kms | Promise<Kms>): void {
  describe(`Kms contract: ${name}`, () => {
    wrappingContract(factory, KEY);

    rotationContract(factory, KEY);

    describe('envelope encryption on top of it', () => envelopeContract(factory));
  });
}

/**
 * The contract every {@link PatientKeyStore} adapter must satisfy, including PHI sealing and
 * crypto-shredding. `factory` returns a fresh, empty store for each test.
 */
export function testPatientKeyStore(
  name: string,
  factory: () => PatientKeyStore | Promise<PatientKeyStore>,
): void {
  describe(`PatientKeyStore contract: ${name}`, () => {
    it('creates a key on first use and returns the same key afterwards', async () => {
      const store = await factory();
      const a = await store.getOrCreate('patient-1');
      const b = await store.getOrCreate('patient-1');
      const c = await store.get('patient-1');
      expect(b.keyId).toBe(a.keyId);
      expect(c.keyId).toBe(a.keyId);
      expect(c.key.export()).toEqual(a.key.export());
      expect(a.key.symmetricKeySize).toBe(32);
    });

    it('gives concurrent first callers the same key', async () => {
      const store = await factory();
      const keys = await Promise.all([1, 2, 3, 4].map(() => store.getOrCreate('patient-concurrent')));
      expect(new Set(keys.map((k) => k.keyId)).size).toBe(1);
    });

    it('gives each patient a different key', async () => {
      const store = await factory();
      const a = await store.getOrCreate('patient-a');
      const b = await store.getOrCreate('patient-b');
      expect(a.keyId).not.toBe(b.keyId);
      expect(a.key.export()).not.toEqual(b.key.export());
    });

    it('reports an unknown patient as not found', async () => {
      const store = await factory();
      const error = await rejection(store.get('nobody'));
      expect(isCategory(error, ErrorCategory.NotFound)).toBe(true);
    });

    it('refuses an empty patient id', async () => {
      const store = await factory();
      expect(isCategory(await rejection(store.getOrCreate('')), ErrorCategory.Validation)).toBe(true);
    });

    it('seals and opens PHI, binding subject and key id', async () => {
      const store = await factory();
      const fields = {
        name: 'Jane Roe',
        dateOfBirth: '1970-01-01',
        reason: 'follow-up',
        nested: { a: [1, 2] },
      };
      const sealed = await sealPhi(store, 'patient-phi', fields);
      expect(sealed.subject).toBe('patient-phi');
      expect(sealed.keyId).toBe((await store.get('patient-phi')).keyId);
      expect(Buffer.from(sealed.ciphertext, 'base64url').toString('latin1')).not.toContain('Jane');
      expect(await openPhi(store, sealed)).toEqual(fields);

      await store.getOrCreate('patient-other');
      expect(await rejection(openPhi(store, { ...sealed, subject: 'patient-other' }))).toBeInstanceOf(
        IntegrityError,
      );
      expect(
        await rejection(openPhi(store, { ...sealed, ciphertext: flipBase64url(sealed.ciphertext, 20) })),
      ).toBeInstanceOf(IntegrityError);
      expect(
        await rejection(openPhi(store, { ...sealed, ciphertext: flipBase64url(sealed.ciphertext, -1) })),
      ).toBeInstanceOf(IntegrityError);
    });

    it('crypto-shreds: after destroy, PHI cannot be opened, the blob is intact, and no new key is issued', async () => {
      const store = await factory();
      const sealed = await sealPhi(store, 'patient-gone', { name: 'John Doe' });
      const copy = { ...sealed };
      const unrelated = await sealPhi(store, 'patient-stays', { name: 'Stays' });
      await store.destroy('patient-gone');
      expect(await rejection(openPhi(store, sealed))).toBeInstanceOf(PhiShreddedError);
      expect(sealed).toEqual(copy);
      expect(await rejection(store.get('patient-gone'))).toBeInstanceOf(PhiShreddedError);
      expect(await rejection(store.getOrCreate('patient-gone'))).toBeInstanceOf(PhiShreddedError);
      expect(await rejection(sealPhi(store, 'patient-gone', { x: 1 }))).toBeInstanceOf(PhiShreddedError);
      await store.destroy('patient-gone'); // idempotent
      expect(await openPhi(store, unrelated)).toEqual({ name: 'Stays' });
    });
  });
}
