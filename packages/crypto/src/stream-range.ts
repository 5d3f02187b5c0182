import { createSecretKey, type KeyObject } from 'node:crypto';
import { ValidationError } from '@haven/errors';
import { GCM } from './aes-gcm';
import { IntegrityError } from './errors';
import type { Kms, KmsContext } from './kms';
import {
  STREAM_FORMAT,
  checkRange,
  chunkLayout,
  decryptChunk,
  parseHeader,
  wrapContext,
  type ByteRange,
  type ParsedHeader,
} from './stream';

/**
 * Random access to the bytes of an encrypted object wherever it is stored (a file, an S3 object, a gRPC
 * stream of a remote service): the range decryption reads through it and never needs the whole object.
 */
export interface CiphertextReader {
  /** Size of the encrypted object in bytes. */
  size(): Promise<number>;
  /**
   * The bytes `[position, position + length)`; fewer only when the object ends before. Errors are the
   * store's (NotFoundError when the object is gone).
   */
  read(position: number, length: number): Promise<Buffer>;
}

/** Options of {@link openEncryptedObject}. */
export interface OpenEncryptedObjectOptions {
  /** The KMS context the object was encrypted with (e.g. `{ recording: "recordings/R" }`). */
  readonly context?: KmsContext;
  /** Most bytes {@link EncryptedObject.read} buffers in one call. Default 8 MiB. */
  readonly maxReadBytes?: number;
}

/** An opened encrypted object: its data key is unwrapped and its length authenticated. */
export interface EncryptedObject {
  /** Plaintext bytes per chunk. */
  readonly chunkSize: number;
  /** Number of chunks (at least 1). */
  readonly chunkCount: number;
  /** Size of the plaintext; authenticated (the final chunk was verified when the object was opened). */
  readonly plaintextSize: number;
  /** Id of the KMS key-encryption key that wrapped the data key. */
  readonly kekId: string;
  /**
   * Yields the plaintext of `range` (clipped at the end), one chunk at a time, each authenticated before
   * it is yielded; reads only the chunks the range covers, so memory stays at one chunk.
   * Throws ValidationError on a bad range, IntegrityError when a chunk does not verify (chunks yielded
   * before it were authentic), or the reader's error.
   */
  chunks(range: ByteRange): AsyncGenerator<Buffer, void, undefined>;
  /**
   * The plaintext of `range` (clipped at the end) in one Buffer, returned only when every chunk it covers
   * verified: a caller that sends the result sends no byte of a response that contains a tampered chunk.
   * Throws ValidationError on a bad range or one longer than `maxReadBytes`, IntegrityError on tampering.
   */
  read(range: ByteRange): Promise<Buffer>;
}

const DEFAULT_MAX_READ_BYTES = 8 * 1024 * 1024;

class OpenedObject implements EncryptedObject {
  readonly chunkSize: number;
  readonly chunkCount: number;
  readonly plaintextSize: number;
  readonly kekId: string;
  readonly #reader: CiphertextReader;
  readonly #header: ParsedHeader;
  readonly #key: KeyObject;
  readonly #maxReadBytes: number;

  constructor(
    reader: CiphertextReader,
    header: ParsedHeader,
    key: KeyObject,
    layout: { chunkCount: number; plaintextSize: number },
    maxReadBytes: number,
  ) {
    this.#reader = reader;
    this.#header = header;
    this.#key = key;
    this.#maxReadBytes = maxReadBytes;
    this.chunkSize = header.chunkSize;
    this.chunkCount = layout.chunkCount;
    this.plaintextSize = layout.plaintextSize;
    this.kekId = header.wrappedKey.kekId;
  }

  /** Reads and authenticates chunk `index`. */
  async decrypt(index: number): Promise<Buffer> {
    const recordSize = this.chunkSize + GCM.tagBytes;
    const last = index === this.chunkCount - 1;
    const size = last ? this.plaintextSize - index * this.chunkSize + GCM.tagBytes : recordSize;
    const record = await this.#reader.read(STREAM_FORMAT.headerBytes + index * recordSize, size);
    if (record.length !== size) throw new IntegrityError(`encrypted object: chunk ${index} is truncated`);
    return decryptChunk(this.#key, this.#header, index, last, record);
  }

  #bounds(range: ByteRange): { start: number; end: number } {
    checkRange(range);
    const start = Math.min(range.offset, this.plaintextSize);
    return { start, end: Math.min(this.plaintextSize, start + range.length) };
  }

  async *chunks(range: ByteRange): AsyncGenerator<Buffer, void, undefined> {
    const { start, end } = this.#bounds(range);
    if (end <= start) return;
    const first = Math.floor(start / this.chunkSize);
    const last = Math.floor((end - 1) / this.chunkSize);
    for (let i = first; i <= last; i++) {
      const plain = await this.decrypt(i);
      const chunkStart = i * this.chunkSize;
      yield plain.subarray(Math.max(0, start - chunkStart), Math.min(plain.length, end - chunkStart));
    }
  }

  async read(range: ByteRange): Promise<Buffer> {
    const { start, end } = this.#bounds(range);
    if (end - start > this.#maxReadBytes) {
      throw new ValidationError([
        { field: 'length', description: `must be at most ${this.#maxReadBytes} bytes in one read` },
      ]);
    }
    const out = Buffer.allocUnsafe(end - start);
    let filled = 0;
    try {
      for await (const part of this.chunks(range)) filled += part.copy(out, filled);
    } catch (error) {
      out.fill(0, 0, filled); // nothing of a response with a bad chunk stays around
      throw error;
    }
    return out;
  }
}

/**
 * Opens an object in the chunked format ({@link STREAM_FORMAT}) through `reader`: parses the header,
 * unwraps the data key with the object's context, and authenticates the final chunk (so the plaintext
 * length is known and a truncated or extended object is refused before any range is read).
 * Throws IntegrityError when the object is not in the format, was truncated or tampered with, or was
 * encrypted with another context (another recording's object); NotFoundError when the KEK is gone;
 * ValidationError on bad options.
 */
export async function openEncryptedObject(
  kms: Kms,
  reader: CiphertextReader,
  options: OpenEncryptedObjectOptions = {},
): Promise<EncryptedObject> {
  const maxReadBytes = options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES;
  if (!Number.isSafeInteger(maxReadBytes) || maxReadBytes < 1) {
    throw new ValidationError([{ field: 'maxReadBytes', description: 'must be a positive integer' }]);
  }
  const size = await reader.size();
  const header = parseHeader(await reader.read(0, STREAM_FORMAT.headerBytes));
  const { chunkCount, plaintextSize } = chunkLayout(size, header.chunkSize, 'object');
  const raw = await kms.unwrapKey(header.wrappedKey, wrapContext(header.headerHash, options.context));
  const key = createSecretKey(raw);
  raw.fill(0);
  const opened = new OpenedObject(reader, header, key, { chunkCount, plaintextSize }, maxReadBytes);
  await opened.decrypt(chunkCount - 1); // authenticates the length
  return opened;
}

/**
 * Convenience: opens the object and yields the plaintext of `range` chunk by chunk (see
 * {@link EncryptedObject.chunks}). Throws like {@link openEncryptedObject} and {@link EncryptedObject.chunks}.
 */
export async function* decryptObjectRange(
  kms: Kms,
  reader: CiphertextReader,
  range: ByteRange,
  options: OpenEncryptedObjectOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  checkRange(range);
  const opened = await openEncryptedObject(kms, reader, options);
  yield* opened.chunks(range);
}

/** A {@link CiphertextReader} over bytes in memory (tests, small objects). */
export function bufferCiphertextReader(bytes: Buffer): CiphertextReader {
  return {
    size: () => Promise.resolve(bytes.length),
    read: (position, length) => Promise.resolve(bytes.subarray(position, position + length)),
  };
}
