import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import {
  IntegrityError,
  PhiShreddedError,
  STREAM_FORMAT,
  bufferCiphertextReader,
  createDecryptStream,
  createEncryptStream,
  decryptObjectRange,
  openEncryptedObject,
  subjectKeyKms,
  type CiphertextReader,
  type KmsContext,
} from '@haven/crypto';
import { InMemoryKms, InMemoryPatientKeyStore, collect } from '@haven/crypto/testing';

const H = STREAM_FORMAT.headerBytes;
const TAG = 16;
const CHUNK = 1024;
const REC = CHUNK + TAG;
const kms = new InMemoryKms();
const mine: KmsContext = { recording: 'recordings/r-1' };

const encrypt = (plain: Buffer, context: KmsContext = mine, chunkSize = CHUNK) =>
  collect(Readable.from([plain]), createEncryptStream(kms, { chunkSize, context }));

async function all(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of gen) parts.push(p);
  return Buffer.concat(parts);
}

/** A reader that records which byte ranges of the ciphertext were read. */
function countingReader(bytes: Buffer): CiphertextReader & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    reads,
    size: () => Promise.resolve(bytes.length),
    read: (position, length) => {
      reads.push([position, length]);
      return Promise.resolve(bytes.subarray(position, position + length));
    },
  };
}

describe('range decryption through a reader', () => {
  const plain = randomBytes(6 * CHUNK + 300); // 7 chunks
  let enc: Buffer;
  beforeAll(async () => {
    enc = await encrypt(plain);
  });

  it('equals the plaintext slice for any range and chunk size (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 9000 }),
        fc.integer({ min: 1024, max: 3000 }),
        fc.nat({ max: 10000 }),
        fc.nat({ max: 10000 }),
        async (bytes, chunkSize, offset, length) => {
          const p = Buffer.from(bytes);
          const e = await encrypt(p, mine, chunkSize);
          const reader = bufferCiphertextReader(e);
          const object = await openEncryptedObject(kms, reader, { context: mine });
          expect(object.plaintextSize).toBe(p.length);
          const want = p.subarray(offset, offset + length);
          expect(await all(object.chunks({ offset, length }))).toEqual(want);
          expect(await object.read({ offset, length })).toEqual(want);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('reads only the header, the final chunk and the chunks the range covers', async () => {
    const reader = countingReader(enc);
    const out = await all(
      decryptObjectRange(kms, reader, { offset: 2 * CHUNK + 10, length: CHUNK }, { context: mine }),
    );
    expect(out).toEqual(plain.subarray(2 * CHUNK + 10, 3 * CHUNK + 10));
    expect(reader.reads).toEqual([
      [0, H],
      [H + 6 * REC, 300 + TAG], // final chunk: authenticates the length
      [H + 2 * REC, REC],
      [H + 3 * REC, REC],
    ]);
  });

  it('yields chunk-sized pieces (memory stays at one chunk)', async () => {
    const object = await openEncryptedObject(kms, bufferCiphertextReader(enc), { context: mine });
    const sizes: number[] = [];
    for await (const part of object.chunks({ offset: 0, length: plain.length })) sizes.push(part.length);
    expect(sizes).toEqual([CHUNK, CHUNK, CHUNK, CHUNK, CHUNK, CHUNK, 300]);
  });

  it('refuses a read larger than maxReadBytes, and a negative offset', async () => {
    const object = await openEncryptedObject(kms, bufferCiphertextReader(enc), {
      context: mine,
      maxReadBytes: 2000,
    });
    await expect(object.read({ offset: 0, length: 2001 })).rejects.toMatchObject({ category: 'validation' });
    await expect(object.read({ offset: plain.length - 100, length: 5000 })).resolves.toHaveLength(100);
    await expect(object.read({ offset: -1, length: 1 })).rejects.toMatchObject({ category: 'validation' });
  });

  it('stays compatible with the whole-stream decryption when given the same context', async () => {
    expect(await collect(Readable.from([enc]), createDecryptStream(kms, { context: mine }))).toEqual(plain);
    await expect(collect(Readable.from([enc]), createDecryptStream(kms))).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });

  describe('tampered objects are refused and no decrypted byte is returned', () => {
    const flip = (at: number) => {
      const copy = Buffer.from(enc);
      copy[at] = copy[at]! ^ 0x01;
      return copy;
    };
    const records = (order: number[]) =>
      Buffer.concat([
        enc.subarray(0, H),
        ...order.map((i) => enc.subarray(H + i * REC, Math.min(enc.length, H + (i + 1) * REC))),
      ]);
    const cases: [string, () => Buffer | Promise<Buffer>, KmsContext][] = [
      ['a bit flip in chunk 2', () => flip(H + 2 * REC + 5), mine],
      ['a bit flip in the tag of chunk 3', () => flip(H + 4 * REC - 1), mine],
      ['a bit flip in the header', () => flip(16), mine],
      ['truncation inside the final chunk', () => enc.subarray(0, enc.length - 1), mine],
      ['truncation at a chunk boundary (final chunk dropped)', () => enc.subarray(0, H + 6 * REC), mine],
      ['chunks 2 and 3 reordered', () => records([0, 1, 3, 2, 4, 5, 6]), mine],
      ['chunk 2 dropped', () => records([0, 1, 3, 4, 5, 6]), mine],
      ['an extra chunk after the final one', () => Buffer.concat([enc, enc.subarray(H + 6 * REC)]), mine],
      [
        'another recording’s context (the object copied under another name)',
        () => enc,
        { recording: 'recordings/r-2' },
      ],
      ['no context at all', () => enc, {}],
      [
        'another recording’s object with its own key (swapped objects)',
        () => encrypt(randomBytes(plain.length), { recording: 'recordings/r-2' }),
        mine,
      ],
    ];

    it.each(cases)('%s', async (_name, make, context) => {
      const reader = bufferCiphertextReader(await make());
      const read = async () =>
        (await openEncryptedObject(kms, reader, { context })).read({ offset: 0, length: plain.length });
      await expect(read()).rejects.toBeInstanceOf(IntegrityError);
      // The streaming form (one chunk at a time) never yields a byte of a chunk that fails to verify: all it
      // yielded before the error is authentic plaintext.
      const served: Buffer[] = [];
      const stream = async () => {
        for await (const p of decryptObjectRange(
          kms,
          reader,
          { offset: 2 * CHUNK, length: 2 * CHUNK },
          { context },
        ))
          served.push(p);
      };
      await expect(stream()).rejects.toBeInstanceOf(IntegrityError);
      const got = Buffer.concat(served);
      expect(got).toEqual(plain.subarray(2 * CHUNK, 2 * CHUNK + got.length));
      expect(got.length).toBeLessThan(2 * CHUNK);
    });

    it('a wrong key (another KMS) is refused', async () => {
      await expect(
        openEncryptedObject(new InMemoryKms(), bufferCiphertextReader(enc), { context: mine }),
      ).rejects.toMatchObject({ category: 'not_found' });
    });

    it('a wrong key (the key slot of another object) is refused', async () => {
      const other = await encrypt(randomBytes(100));
      const swapped = Buffer.concat([
        enc.subarray(0, STREAM_FORMAT.fixedHeaderBytes),
        other.subarray(STREAM_FORMAT.fixedHeaderBytes, H),
        enc.subarray(H),
      ]);
      await expect(
        openEncryptedObject(kms, bufferCiphertextReader(swapped), { context: mine }),
      ).rejects.toBeInstanceOf(IntegrityError);
    });

    it('read() returns nothing of a range whose LAST chunk is bad, though its first chunks verify', async () => {
      const bad = flip(H + 3 * REC + 5); // chunk 3
      const object = await openEncryptedObject(kms, bufferCiphertextReader(bad), { context: mine });
      await expect(object.read({ offset: 0, length: 2 * CHUNK })).resolves.toEqual(
        plain.subarray(0, 2 * CHUNK),
      );
      await expect(object.read({ offset: 0, length: 4 * CHUNK })).rejects.toBeInstanceOf(IntegrityError);
    });

    it('control: the untampered object decrypts', async () => {
      const object = await openEncryptedObject(kms, bufferCiphertextReader(enc), { context: mine });
      expect(await object.read({ offset: 0, length: plain.length })).toEqual(plain);
    });
  });
});

describe('crypto-shredding one recording (subjectKeyKms)', () => {
  it('decrypts while the recording key exists; after destroy, nothing opens — not even a backup copy', async () => {
    const store = new InMemoryPatientKeyStore();
    const subject = 'recordings/r-9';
    const recKms = subjectKeyKms(store, subject);
    const plain = randomBytes(3000);
    const context = { recording: subject };
    const enc = await collect(
      Readable.from([plain]),
      createEncryptStream(recKms, { chunkSize: CHUNK, context }),
    );
    const backup = Buffer.from(enc);
    const object = await openEncryptedObject(recKms, bufferCiphertextReader(enc), { context });
    expect(await object.read({ offset: 0, length: 3000 })).toEqual(plain);
    expect(object.kekId).toMatch(/^subject-key:/);
    // Another recording's key store entry does not open it.
    await expect(
      openEncryptedObject(subjectKeyKms(store, 'recordings/r-10'), bufferCiphertextReader(enc), { context }),
    ).rejects.toMatchObject({ category: 'not_found' });
    await store.destroy(subject);
    await expect(
      openEncryptedObject(recKms, bufferCiphertextReader(backup), { context }),
    ).rejects.toBeInstanceOf(PhiShreddedError);
    // The real KMS that wraps the key store cannot open it either: the data key was never wrapped by it.
    await expect(openEncryptedObject(kms, bufferCiphertextReader(backup), { context })).rejects.toMatchObject(
      {
        category: 'not_found',
      },
    );
    await expect(recKms.rotate()).rejects.toMatchObject({ category: 'precondition' });
  });
});
