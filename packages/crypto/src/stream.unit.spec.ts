import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import {
  IntegrityError,
  LocalKeyringKms,
  STREAM_FORMAT,
  createDecryptStream,
  createEncryptStream,
  decryptFile,
  decryptRange,
  encryptChunks,
  encryptFile,
  inspectEncryptedFile,
  rewrapFile,
  type Kms,
} from '@haven/crypto';
import { InMemoryKms, collect } from '@haven/crypto/testing';

const H = STREAM_FORMAT.headerBytes;
const TAG = 16;
let root: string;
let n = 0;
const kms = new InMemoryKms();

beforeAll(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'haven-stream-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
const tmp = (name: string) => join(root, `${++n}-${name}`);

/** Feeds `data` in pieces of random sizes to exercise the buffering. */
function pieces(data: Buffer, seed = 7): Readable {
  const out: Buffer[] = [];
  let i = 0;
  let s = seed;
  while (i < data.length) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const len = 1 + (s % 5000);
    out.push(data.subarray(i, i + len));
    i += len;
  }
  return Readable.from(out, { objectMode: false });
}

const encryptBuf = (k: Kms, data: Buffer, chunkSize: number) =>
  collect(pieces(data), createEncryptStream(k, { chunkSize }));
const decryptBuf = (k: Kms, data: Buffer) => collect(pieces(data, 3), createDecryptStream(k));

async function encryptToFile(plain: Buffer, chunkSize = 1024): Promise<{ enc: string; plain: Buffer }> {
  const src = tmp('plain');
  const enc = tmp('enc');
  await fs.writeFile(src, plain);
  await encryptFile(kms, src, enc, { chunkSize });
  return { enc, plain };
}

describe('chunked stream encryption', () => {
  it.each([0, 1, 1023, 1024, 1025, 4096, 5000])(
    'round-trips %i bytes through files (chunk 1 KiB)',
    async (size) => {
      const { enc, plain } = await encryptToFile(randomBytes(size));
      const out = tmp('dec');
      await decryptFile(kms, enc, out);
      expect(await fs.readFile(out)).toEqual(plain);
      expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
      expect((await fs.stat(enc)).mode & 0o777).toBe(0o600);
      const info = await inspectEncryptedFile(enc);
      expect(info.plaintextSize).toBe(size);
      expect(info.chunkCount).toBe(Math.max(1, Math.ceil(size / 1024)));
      expect((await fs.stat(enc)).size).toBe(H + size + info.chunkCount * TAG);
    },
  );

  it('round-trips any buffer with any chunk size >= 1 KiB (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 12000 }),
        fc.integer({ min: 1024, max: 5000 }),
        async (bytes, chunkSize) => {
          const plain = Buffer.from(bytes);
          const enc = await encryptBuf(kms, plain, chunkSize);
          expect(enc.length).toBe(H + plain.length + Math.max(1, Math.ceil(plain.length / chunkSize)) * TAG);
          expect(await decryptBuf(kms, enc)).toEqual(plain);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('decrypts a file written by the earlier version (64 KiB default chunks), whole and by range', async () => {
    // fixtures/: written by the stream code before the 1 MiB default, with a test-only keyring.
    const fixtures = join(__dirname, 'fixtures');
    const keyring = tmp('keyring.json');
    await fs.copyFile(join(fixtures, 'stream-v1-64k.keyring.json'), keyring);
    await fs.chmod(keyring, 0o600);
    const k = await LocalKeyringKms.open({ file: keyring });
    const enc = join(fixtures, 'stream-v1-64k.enc');
    const info = await inspectEncryptedFile(enc);
    expect([info.chunkSize, info.chunkCount, info.plaintextSize]).toEqual([65536, 3, 150_000]);
    const expected = Buffer.alloc(150_000);
    for (let i = 0; i < expected.length; i++) expected[i] = (i * 31) % 251;
    const out = tmp('fixture.plain');
    await decryptFile(k, enc, out);
    expect((await fs.readFile(out)).equals(expected)).toBe(true);
    expect(
      (await decryptRange(k, enc, { offset: 65_000, length: 2_000 })).equals(
        expected.subarray(65_000, 67_000),
      ),
    ).toBe(true);
  });

  it('writes 1 MiB chunks by default, each record exactly ciphertext ‖ 16-byte tag', async () => {
    const plain = randomBytes(STREAM_FORMAT.defaultChunkSize * 2 + 5);
    const enc = await collect(pieces(plain), createEncryptStream(kms));
    expect(STREAM_FORMAT.defaultChunkSize).toBe(1024 * 1024);
    expect(enc.readUInt32BE(10)).toBe(1024 * 1024);
    expect(enc.length).toBe(H + plain.length + 3 * TAG);
    expect(await collect(pieces(enc), createDecryptStream(kms))).toEqual(plain);
  });

  describe('encryptChunks (the pull stream the recording pipeline uses)', () => {
    /** Pulls every piece, copying each before asking for the next (it is only lent until then). */
    async function pulled(
      source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
      chunkSize: number,
    ): Promise<Buffer> {
      const parts: Buffer[] = [];
      for await (const piece of encryptChunks(kms, source, { chunkSize })) parts.push(Buffer.from(piece));
      return Buffer.concat(parts);
    }
    const split = (data: Buffer, sizes: number[]): Buffer[] => {
      const out: Buffer[] = [];
      for (let i = 0, k = 0; i < data.length; k++) {
        const len = sizes[k % sizes.length]!;
        out.push(data.subarray(i, i + len));
        i += len;
      }
      return out;
    };

    it('writes the same format: any bytes, any chunk size, pieces smaller and larger than a chunk (property)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 12000 }),
          fc.integer({ min: 1024, max: 5000 }),
          fc.array(fc.integer({ min: 1, max: 11000 }), { minLength: 1, maxLength: 6 }),
          async (bytes, chunkSize, sizes) => {
            const plain = Buffer.from(bytes);
            const enc = await pulled(split(plain, sizes), chunkSize);
            expect(enc.length).toBe(
              H + plain.length + Math.max(1, Math.ceil(plain.length / chunkSize)) * TAG,
            );
            expect(await decryptBuf(kms, enc)).toEqual(plain);
          },
        ),
        { numRuns: 60 },
      );
    });

    it('seals an exact multiple of the chunk size with a full final record, like the Transform', async () => {
      const plain = randomBytes(3 * 1024);
      const enc = await pulled([plain], 1024);
      expect(enc.length).toBe(H + plain.length + 3 * TAG);
      expect(enc.equals(await pulled([plain], 1024))).toBe(false); // a fresh key each time
      expect(await decryptBuf(kms, enc)).toEqual(plain);
      expect((await pulled([], 1024)).length).toBe(H + TAG);
    });

    it('lends each ciphertext piece only until the next pull: then its memory is freed', async () => {
      const plain = randomBytes(300 * 1024);
      const it = encryptChunks(kms, [plain], { chunkSize: 128 * 1024 })[Symbol.asyncIterator]();
      const header = (await it.next()).value as Buffer;
      const body = (await it.next()).value as Buffer;
      expect(body.length).toBe(64 * 1024);
      const copy = Buffer.from(body);
      await it.next();
      expect(body.length).toBe(0); // released: a consumer that keeps pieces must copy them
      expect(header.length).toBe(H); // the header is not lent
      expect(copy.length).toBe(64 * 1024);
      await it.return(undefined);
    });

    it('fails with the source’s error', async () => {
      async function* broken(): AsyncGenerator<Buffer> {
        yield randomBytes(5000);
        throw new Error('disk went away');
      }
      await expect(pulled(broken(), 1024)).rejects.toThrow('disk went away');
    });

    it('refuses a chunk size below 1 KiB', async () => {
      await expect(pulled([Buffer.alloc(1)], 512)).rejects.toThrow(/chunkSize/);
    });
  });

  it('refuses a chunk size below 1 KiB', () => {
    expect(() => createEncryptStream(kms, { chunkSize: 512 })).toThrow(/chunkSize/);
  });

  it('does not depend on a specific KMS instance state: decrypts after rotation, and rewrapFile switches the KEK in place', async () => {
    const k = new InMemoryKms();
    const src = tmp('plain');
    const enc = tmp('enc');
    const plain = randomBytes(3000);
    await fs.writeFile(src, plain);
    const { kekId } = await encryptFile(k, src, enc, { chunkSize: 1024 });
    const before = await fs.readFile(enc);
    const next = await k.rotate();
    expect(await rewrapFile(k, enc)).toBe(next);
    expect(kekId).not.toBe(next);
    expect((await inspectEncryptedFile(enc)).wrappedKey.kekId).toBe(next);
    const after = await fs.readFile(enc);
    expect(after.subarray(H)).toEqual(before.subarray(H)); // chunks untouched
    expect(after.subarray(0, STREAM_FORMAT.fixedHeaderBytes)).toEqual(
      before.subarray(0, STREAM_FORMAT.fixedHeaderBytes),
    );
    expect(await decryptBuf(k, after)).toEqual(plain);
  });

  describe('tamper detection', () => {
    let enc: Buffer;
    const plain = randomBytes(3 * 1024 + 100); // 4 chunks
    const rec = 1024 + TAG;
    beforeAll(async () => {
      enc = await encryptBuf(kms, plain, 1024);
    });
    const flip = (buf: Buffer, at: number) => {
      const copy = Buffer.from(buf);
      copy[at] = copy[at]! ^ 0x80;
      return copy;
    };
    const cases: [string, () => Buffer][] = [
      ['a flipped ciphertext byte', () => flip(enc, H + rec + 10)],
      ['a flipped tag byte', () => flip(enc, H + rec - 1)],
      ['a flipped byte in the final chunk', () => flip(enc, enc.length - 20)],
      ['a flipped nonce prefix byte in the header', () => flip(enc, 15)],
      [
        'a changed character in the wrapped key',
        () => {
          const copy = Buffer.from(enc);
          const at = copy.indexOf('"ciphertext":"', STREAM_FORMAT.fixedHeaderBytes) + 30;
          copy[at] = copy[at] === 0x41 ? 0x42 : 0x41; // 'A' <-> another base64url character
          return copy;
        },
      ],
      [
        'swapped chunks 0 and 1',
        () =>
          Buffer.concat([
            enc.subarray(0, H),
            enc.subarray(H + rec, H + 2 * rec),
            enc.subarray(H, H + rec),
            enc.subarray(H + 2 * rec),
          ]),
      ],
      ['a dropped final chunk (truncation at a chunk boundary)', () => enc.subarray(0, H + 3 * rec)],
      ['a truncated final chunk', () => enc.subarray(0, enc.length - 5)],
      ['only the header', () => enc.subarray(0, H)],
      ['a truncated header', () => enc.subarray(0, H - 1)],
      ['a duplicated final chunk (extension)', () => Buffer.concat([enc, enc.subarray(H + 3 * rec)])],
      ['appended garbage', () => Buffer.concat([enc, randomBytes(2000)])],
      ['bad magic', () => flip(enc, 0)],
    ];
    it.each(cases)('rejects %s (stream)', async (_name, make) => {
      const tampered = make();
      await expect(decryptBuf(kms, tampered)).rejects.toBeInstanceOf(IntegrityError);
    });

    it.each(cases)('rejects %s (decryptFile) and leaves no plaintext file', async (_name, make) => {
      const src = tmp('tampered');
      const out = tmp('out');
      await fs.writeFile(src, make());
      await expect(decryptFile(kms, src, out)).rejects.toBeInstanceOf(IntegrityError);
      await expect(fs.stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('accepts the untampered original (control)', async () => {
      expect(await decryptBuf(kms, enc)).toEqual(plain);
    });

    it('fails with not found when the KEK is unknown to the KMS', async () => {
      await expect(decryptBuf(new InMemoryKms(), enc)).rejects.toMatchObject({ category: 'not_found' });
    });
  });

  describe('decryptRange', () => {
    const plain = randomBytes(5 * 1024 + 321);
    let enc: string;
    beforeAll(async () => {
      ({ enc } = await encryptToFile(plain, 1024));
    });

    it.each([
      [0, 10],
      [0, plain.length],
      [1000, 100], // crosses a chunk boundary
      [1024, 1024], // exactly one chunk
      [2047, 2050], // three chunks
      [plain.length - 5, 100], // clipped at the end
      [plain.length, 10], // empty at the end
      [plain.length + 100, 10], // past the end
      [500, 0], // empty
    ])('returns bytes [%i, +%i)', async (offset, length) => {
      expect(await decryptRange(kms, enc, { offset, length })).toEqual(
        plain.subarray(offset, offset + length),
      );
    });

    it('detects a truncated file even when the range does not cover its end', async () => {
      const bytes = await fs.readFile(enc);
      const cut = tmp('cut');
      await fs.writeFile(cut, bytes.subarray(0, H + 3 * (1024 + TAG)));
      await expect(decryptRange(kms, cut, { offset: 0, length: 10 })).rejects.toBeInstanceOf(IntegrityError);
    });

    it('detects a tampered chunk inside the range', async () => {
      const bytes = Buffer.from(await fs.readFile(enc));
      bytes[H + 2 * (1024 + TAG) + 7]! ^= 1;
      const bad = tmp('bad');
      await fs.writeFile(bad, bytes);
      await expect(decryptRange(kms, bad, { offset: 0, length: 1000 })).resolves.toEqual(
        plain.subarray(0, 1000),
      );
      await expect(decryptRange(kms, bad, { offset: 2048, length: 10 })).rejects.toBeInstanceOf(
        IntegrityError,
      );
    });

    it('refuses a negative offset', async () => {
      await expect(decryptRange(kms, enc, { offset: -1, length: 1 })).rejects.toMatchObject({
        category: 'validation',
      });
    });
  });
});
