import { createCipheriv, createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '@haven/errors';
import { GCM, decryptGcm } from './aes-gcm';
import { IntegrityError } from './errors';
import type { Kms, KmsContext, WrappedKey } from './kms';

/**
 * Chunked file format (version 1), for big objects such as recordings:
 *
 * ```
 * header (1048 bytes)
 *   0  magic "HAVENENC"            8
 *   8  version = 1                 1
 *   9  flags = 0                   1
 *  10  chunk size (u32 BE)         4
 *  14  nonce prefix (random)       8
 *  22  key slot size (u16 BE)      2   = 1024
 *  24  key slot: u16 BE length ‖ JSON of the wrapped data key ‖ zero padding
 * records: chunk i = AES-256-GCM(data key, nonce = prefix ‖ u32 BE i,
 *                                aad = SHA-256(header[0..24]) ‖ u32 BE i ‖ isFinal)  ‖ 16-byte tag
 * ```
 *
 * Every chunk holds exactly `chunkSize` plaintext bytes except the final one (0..chunkSize). Reordering,
 * truncation (the last record is not flagged final) and extension (a record after the final one) fail
 * authentication. The wrapped key is authenticated by the KMS with the header hash as context, and sits in
 * a fixed-size slot outside the chunk AAD so {@link rewrapFile} can rotate the KEK in place.
 */
export const STREAM_FORMAT = {
  magic: 'HAVENENC',
  version: 1,
  fixedHeaderBytes: 24,
  keySlotBytes: 1024,
  headerBytes: 24 + 1024,
  /**
   * 1 MiB: node:crypto sets up a fresh cipher per chunk (key schedule, GHASH tables), which at 64 KiB cost
   * about a third of the throughput; at 1 MiB the stream runs within ~10 % of one cipher over one buffer.
   * A range read decrypts whole chunks, so this is also the granularity of a seek (well under 1 ms).
   * Files written with another chunk size (64 KiB before) say so in their header and decrypt as before.
   */
  defaultChunkSize: 1024 * 1024,
  minChunkSize: 1024,
  maxChunkSize: 16 * 1024 * 1024,
} as const;

const MAGIC = Buffer.from(STREAM_FORMAT.magic, 'ascii');
const MAX_CHUNKS = 2 ** 32;
/**
 * Ciphertext slice that {@link encryptChunks} lends: under glibc's mmap threshold (128 KiB), so a released slice
 * goes back to the heap and the next one reuses it, where a 1 MiB slice would be a fresh mmap every time (the
 * kernel zeroing 256 new pages per megabyte).
 */
const LENT_SLICE_BYTES = 64 * 1024;
/** Read/write buffer of the file helpers: fewer syscalls, still constant memory. */
const IO_BUFFER_BYTES = 1024 * 1024;

/** Options of {@link createEncryptStream} and {@link encryptFile}. */
export interface EncryptStreamOptions {
  /** Plaintext bytes per chunk; 1 KiB … 16 MiB. Default 1 MiB ({@link STREAM_FORMAT}). */
  readonly chunkSize?: number;
  /**
   * Extra KMS context bound to the wrapped data key (e.g. `{ recording: "recordings/R" }`); decrypting
   * must present the same context, so an object copied under another name does not decrypt. No PHI.
   */
  readonly context?: KmsContext;
}

/** Options of the decrypting functions. */
export interface DecryptStreamOptions {
  /** The context the file was encrypted with ({@link EncryptStreamOptions.context}). */
  readonly context?: KmsContext;
}

/** What the header of an encrypted file says (no secrets). */
export interface EncryptedFileInfo {
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** Size of the plaintext, from the file size (authenticated when the final chunk is verified). */
  readonly plaintextSize: number;
  readonly wrappedKey: WrappedKey;
}

/** @internal A parsed version-1 header (used by ./stream-range). */
export interface ParsedHeader {
  readonly chunkSize: number;
  readonly noncePrefix: Buffer;
  readonly headerHash: Buffer;
  readonly wrappedKey: WrappedKey;
}

/** @internal The KMS context of a file's data key: the caller's context plus the header hash. */
export function wrapContext(headerHash: Buffer, extra: KmsContext = {}): KmsContext {
  if ('purpose' in extra || 'header' in extra) {
    throw new ValidationError([{ field: 'context', description: 'must not set "purpose" or "header"' }]);
  }
  return { ...extra, purpose: 'haven.stream.v1', header: headerHash.toString('hex') };
}

function checkChunkSize(chunkSize: number): void {
  if (
    !Number.isInteger(chunkSize) ||
    chunkSize < STREAM_FORMAT.minChunkSize ||
    chunkSize > STREAM_FORMAT.maxChunkSize
  ) {
    throw new ValidationError([
      {
        field: 'chunkSize',
        description: `must be an integer between ${STREAM_FORMAT.minChunkSize} and ${STREAM_FORMAT.maxChunkSize}`,
      },
    ]);
  }
}

function fixedHeader(chunkSize: number, noncePrefix: Buffer): Buffer {
  const h = Buffer.alloc(STREAM_FORMAT.fixedHeaderBytes);
  MAGIC.copy(h, 0);
  h.writeUInt8(STREAM_FORMAT.version, 8);
  h.writeUInt8(0, 9);
  h.writeUInt32BE(chunkSize, 10);
  noncePrefix.copy(h, 14);
  h.writeUInt16BE(STREAM_FORMAT.keySlotBytes, 22);
  return h;
}

function keySlot(wrapped: WrappedKey): Buffer {
  const json = Buffer.from(JSON.stringify({ kekId: wrapped.kekId, ciphertext: wrapped.ciphertext }), 'utf8');
  if (json.length + 2 > STREAM_FORMAT.keySlotBytes) {
    throw new ValidationError([{ field: 'wrappedKey', description: 'does not fit the 1 KiB key slot' }]);
  }
  const slot = Buffer.alloc(STREAM_FORMAT.keySlotBytes);
  slot.writeUInt16BE(json.length, 0);
  json.copy(slot, 2);
  return slot;
}

/** @internal Parses a 1048-byte header. Throws IntegrityError when it is not a valid version-1 header. */
export function parseHeader(header: Buffer): ParsedHeader {
  if (header.length < STREAM_FORMAT.headerBytes)
    throw new IntegrityError('encrypted file: header is truncated');
  if (!header.subarray(0, 8).equals(MAGIC))
    throw new IntegrityError('encrypted file: bad magic (not a Haven encrypted file)');
  if (header.readUInt8(8) !== STREAM_FORMAT.version)
    throw new IntegrityError('encrypted file: unsupported version');
  if (header.readUInt8(9) !== 0) throw new IntegrityError('encrypted file: unknown flags');
  const chunkSize = header.readUInt32BE(10);
  if (chunkSize < STREAM_FORMAT.minChunkSize || chunkSize > STREAM_FORMAT.maxChunkSize) {
    throw new IntegrityError('encrypted file: chunk size out of range');
  }
  if (header.readUInt16BE(22) !== STREAM_FORMAT.keySlotBytes)
    throw new IntegrityError('encrypted file: bad key slot size');
  const slot = header.subarray(STREAM_FORMAT.fixedHeaderBytes, STREAM_FORMAT.headerBytes);
  const len = slot.readUInt16BE(0);
  if (len + 2 > slot.length) throw new IntegrityError('encrypted file: bad key slot');
  let wrappedKey: WrappedKey;
  try {
    const parsed = JSON.parse(slot.subarray(2, 2 + len).toString('utf8')) as Partial<WrappedKey>;
    if (typeof parsed.kekId !== 'string' || typeof parsed.ciphertext !== 'string') throw new Error('shape');
    wrappedKey = { kekId: parsed.kekId, ciphertext: parsed.ciphertext };
  } catch {
    throw new IntegrityError('encrypted file: key slot is not a wrapped key');
  }
  const fixed = header.subarray(0, STREAM_FORMAT.fixedHeaderBytes);
  return {
    chunkSize,
    noncePrefix: Buffer.from(header.subarray(14, 22)),
    headerHash: createHash('sha256').update(fixed).digest(),
    wrappedKey,
  };
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(GCM.ivBytes);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 8);
  return n;
}

function chunkAad(headerHash: Buffer, index: number, final: boolean): Buffer {
  const aad = Buffer.alloc(headerHash.length + 5);
  headerHash.copy(aad, 0);
  aad.writeUInt32BE(index, headerHash.length);
  aad.writeUInt8(final ? 1 : 0, headerHash.length + 4);
  return aad;
}

/**
 * Encrypts chunk `index` and pushes its record (ciphertext, then tag) to `out`. The two parts are pushed as
 * they are: joining them would copy every byte once more.
 */
function pushEncryptedChunk(
  out: Transform,
  key: KeyObject,
  h: ParsedHeader,
  index: number,
  final: boolean,
  plaintext: Buffer,
): void {
  if (index >= MAX_CHUNKS)
    throw new ValidationError([{ field: 'plaintext', description: 'too many chunks for one file' }]);
  const cipher = createCipheriv('aes-256-gcm', key, nonce(h.noncePrefix, index), {
    authTagLength: GCM.tagBytes,
  });
  cipher.setAAD(chunkAad(h.headerHash, index, final));
  const body = cipher.update(plaintext);
  cipher.final(); // GCM: no trailing block
  if (body.length > 0) out.push(body);
  out.push(cipher.getAuthTag());
}

/** @internal Authenticates and decrypts record `index`. Throws IntegrityError when it does not verify. */
export function decryptChunk(
  key: KeyObject,
  h: ParsedHeader,
  index: number,
  final: boolean,
  record: Buffer,
): Buffer {
  if (record.length < GCM.tagBytes) throw new IntegrityError(`encrypted file: chunk ${index} is truncated`);
  const body = record.subarray(0, record.length - GCM.tagBytes);
  const tag = record.subarray(record.length - GCM.tagBytes);
  return decryptGcm(
    key,
    nonce(h.noncePrefix, index),
    body,
    tag,
    chunkAad(h.headerHash, index, final),
    `encrypted file: chunk ${index}${final ? ' (final)' : ''}`,
  );
}

/** Byte queue that hands out exact-size slices without re-copying everything on every write. */
class ByteQueue {
  #parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length === 0) return;
    this.#parts.push(b);
    this.length += b.length;
  }
  take(n: number): Buffer {
    const first = this.#parts[0];
    if (first !== undefined && first.length >= n) {
      // Zero-copy when the head piece covers the request (the common case with large reads).
      if (first.length === n) this.#parts.shift();
      else this.#parts[0] = first.subarray(n);
      this.length -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#parts[0]!;
      const need = n - filled;
      if (head.length <= need) {
        head.copy(out, filled);
        filled += head.length;
        this.#parts.shift();
      } else {
        head.copy(out, filled, 0, need);
        this.#parts[0] = head.subarray(need);
        filled += need;
      }
    }
    this.length -= n;
    return out;
  }
}

/** A fresh data key for one encrypted file: its fixed header, the key, and the header once the KMS wrapped it. */
function freshStreamKey(
  kms: Kms,
  options: EncryptStreamOptions,
): { chunkSize: number; fixed: Buffer; key: KeyObject; ready: Promise<ParsedHeader> } {
  const chunkSize = options.chunkSize ?? STREAM_FORMAT.defaultChunkSize;
  checkChunkSize(chunkSize);
  const noncePrefix = randomBytes(8);
  const fixed = fixedHeader(chunkSize, noncePrefix);
  const headerHash = createHash('sha256').update(fixed).digest();
  const rawKey = randomBytes(GCM.keyBytes);
  const key = createSecretKey(rawKey);
  const context = wrapContext(headerHash, options.context);
  const ready = kms.wrapKey(rawKey, context).then((wrappedKey) => {
    rawKey.fill(0);
    return { chunkSize, noncePrefix, headerHash, wrappedKey } satisfies ParsedHeader;
  });
  ready.catch(() => rawKey.fill(0)); // surfaced to the caller; avoid an unhandled rejection
  return { chunkSize, fixed, key, ready };
}

/**
 * Frees the memory of a buffer this module allocated and no longer lends (its ArrayBuffer is detached, so a
 * stale reference reads as empty). Without this, every encrypted megabyte stays in RSS until V8 collects it:
 * the ciphertext buffers are external memory, which V8 lets grow by about 64 MiB before a collection.
 */
function release(buffer: Buffer): void {
  const backing = buffer.buffer;
  if (buffer.byteOffset === 0 && buffer.byteLength === backing.byteLength && backing instanceof ArrayBuffer) {
    backing.transfer(0);
  }
}

/**
 * Encrypts a plaintext source into the chunked format ({@link STREAM_FORMAT}) with a fresh data key wrapped by
 * `kms`, as a pull stream: first the header, then each record's ciphertext and tag. The recording pipeline's
 * encrypt step. Memory stays constant whatever the input size: the plaintext is gathered in one reused chunk
 * buffer (pieces of at least a chunk are encrypted in place), and each ciphertext piece is LENT: it is valid
 * until the consumer asks for the next piece, when its memory is freed at once. A consumer that keeps a piece
 * after asking for the next (a queue, a multipart upload) must copy it.
 * Throws ValidationError on a bad chunk size, and the KMS's or the source's error.
 */
export async function* encryptChunks(
  kms: Kms,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: EncryptStreamOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const { chunkSize, fixed, key, ready } = freshStreamKey(kms, options);
  const h = await ready;
  yield Buffer.concat([fixed, keySlot(h.wrappedKey)]);
  const scratch = Buffer.allocUnsafeSlow(chunkSize);
  let filled = 0;
  let index = 0;
  // Seals one record: its ciphertext in slices (each lent, released on the next pull), then its tag.
  async function* seal(plaintext: Buffer, final: boolean): AsyncGenerator<Buffer, void, undefined> {
    if (index >= MAX_CHUNKS)
      throw new ValidationError([{ field: 'plaintext', description: 'too many chunks for one file' }]);
    const cipher = createCipheriv('aes-256-gcm', key, nonce(h.noncePrefix, index), {
      authTagLength: GCM.tagBytes,
    });
    cipher.setAAD(chunkAad(h.headerHash, index++, final));
    for (let at = 0; at < plaintext.length; at += LENT_SLICE_BYTES) {
      const body = cipher.update(plaintext.subarray(at, at + LENT_SLICE_BYTES));
      yield body;
      release(body);
    }
    cipher.final(); // GCM: no trailing block
    yield cipher.getAuthTag();
  }
  for await (const input of source) {
    let piece = Buffer.isBuffer(input)
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    while (piece.length > 0) {
      // A chunk is sealed once a byte beyond it arrived: only then is it known not to be the final one.
      if (filled === chunkSize) {
        filled = 0;
        yield* seal(scratch, false);
      }
      if (filled === 0 && piece.length > chunkSize) {
        // A whole chunk inside this piece, with more after it: sealed where it lies, no copy.
        const whole = piece.subarray(0, chunkSize);
        piece = piece.subarray(chunkSize);
        yield* seal(whole, false);
        continue;
      }
      const n = Math.min(chunkSize - filled, piece.length);
      piece.copy(scratch, filled, 0, n);
      filled += n;
      piece = piece.subarray(n);
    }
  }
  yield* seal(scratch.subarray(0, filled), true);
}

/**
 * A Transform that encrypts a plaintext byte stream into the chunked format ({@link STREAM_FORMAT}) with a
 * fresh data key wrapped by `kms`. Memory stays at about two chunks whatever the input size, plus the
 * ciphertext buffers pushed downstream until V8 collects them (use {@link encryptChunks} to free each at once).
 * Throws ValidationError (synchronously) on a bad chunk size; KMS errors surface as stream errors.
 */
export function createEncryptStream(kms: Kms, options: EncryptStreamOptions = {}): Transform {
  const { chunkSize, fixed, key, ready } = freshStreamKey(kms, options);
  const queue = new ByteQueue();
  let index = 0;
  let header: ParsedHeader | undefined;

  const start = async (self: Transform): Promise<ParsedHeader> => {
    if (header === undefined) {
      header = await ready;
      self.push(Buffer.concat([fixed, keySlot(header.wrappedKey)]));
    }
    return header;
  };

  const encryptFull = (
    self: Transform,
    h: ParsedHeader,
    chunk: Buffer,
    callback: TransformCallback,
  ): void => {
    try {
      queue.push(chunk);
      // A chunk is encrypted once a byte beyond it arrived: only then is it known not to be the final one.
      while (queue.length > chunkSize)
        pushEncryptedChunk(self, key, h, index++, false, queue.take(chunkSize));
      callback();
    } catch (error) {
      callback(error as Error);
    }
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      // Once the header is out, stay synchronous: a promise hop per written piece costs more than small
      // pieces take to encrypt.
      if (header !== undefined) {
        encryptFull(this, header, chunk, callback);
        return;
      }
      start(this).then(
        (h) => encryptFull(this, h, chunk, callback),
        (error: Error) => callback(error),
      );
    },
    flush(callback: TransformCallback) {
      start(this).then(
        (h) => {
          try {
            pushEncryptedChunk(this, key, h, index++, true, queue.take(queue.length));
            callback();
          } catch (error) {
            callback(error as Error);
          }
        },
        (error: Error) => callback(error),
      );
    },
  });
}

/**
 * A Transform that decrypts the chunked format. The header is read from the stream itself. Each chunk is
 * authenticated before its plaintext is pushed; a truncated stream fails at the end, so a consumer must
 * treat an error event as "discard everything". Errors are IntegrityError (tampering, truncation,
 * reordering, extension) or NotFoundError (the KEK is no longer in the KMS).
 */
export function createDecryptStream(kms: Kms, options: DecryptStreamOptions = {}): Transform {
  const queue = new ByteQueue();
  let header: ParsedHeader | undefined;
  let key: KeyObject | undefined;
  let index = 0;

  const drain = (self: Transform): void => {
    const recordSize = header!.chunkSize + GCM.tagBytes;
    while (queue.length > recordSize)
      self.push(decryptChunk(key!, header!, index++, false, queue.take(recordSize)));
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      queue.push(chunk);
      if (header !== undefined) {
        try {
          drain(this);
          callback();
        } catch (error) {
          callback(error as Error);
        }
        return;
      }
      if (queue.length < STREAM_FORMAT.headerBytes) {
        callback();
        return;
      }
      let parsed: ParsedHeader;
      try {
        parsed = parseHeader(queue.take(STREAM_FORMAT.headerBytes));
      } catch (error) {
        callback(error as Error);
        return;
      }
      let context: KmsContext;
      try {
        context = wrapContext(parsed.headerHash, options.context);
      } catch (error) {
        callback(error as Error);
        return;
      }
      kms.unwrapKey(parsed.wrappedKey, context).then(
        (raw) => {
          try {
            key = createSecretKey(raw);
            raw.fill(0);
            header = parsed;
            drain(this);
            callback();
          } catch (error) {
            callback(error as Error);
          }
        },
        (error: Error) => callback(error),
      );
    },
    flush(callback: TransformCallback) {
      try {
        if (header === undefined) throw new IntegrityError('encrypted file: header is truncated');
        if (queue.length < GCM.tagBytes)
          throw new IntegrityError('encrypted file: truncated (final chunk missing)');
        this.push(decryptChunk(key!, header, index++, true, queue.take(queue.length)));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** Result of {@link encryptFile}. */
export interface EncryptFileResult {
  readonly kekId: string;
  readonly plaintextSize: number;
  readonly encryptedSize: number;
}

/**
 * Encrypts `inPath` to `outPath` (created or replaced, mode 0600) with a fresh data key, streaming.
 * On failure `outPath` is removed. Throws ValidationError on a bad chunk size, or the I/O / KMS error.
 */
export async function encryptFile(
  kms: Kms,
  inPath: string,
  outPath: string,
  options: EncryptStreamOptions = {},
): Promise<EncryptFileResult> {
  await fs.rm(outPath, { force: true });
  const out = await fs.open(outPath, 'wx', 0o600);
  try {
    const plaintext = createReadStream(inPath, { highWaterMark: IO_BUFFER_BYTES });
    for await (const piece of encryptChunks(kms, plaintext as AsyncIterable<Buffer>, options)) {
      let written = 0;
      while (written < piece.length) {
        written += (await out.write(piece, written, piece.length - written)).bytesWritten;
      }
    }
    await out.close();
  } catch (error) {
    await out.close().catch(() => undefined);
    await fs.rm(outPath, { force: true });
    throw error;
  }
  const [inStat, outStat] = await Promise.all([fs.stat(inPath), fs.stat(outPath)]);
  const info = await inspectEncryptedFile(outPath);
  return { kekId: info.wrappedKey.kekId, plaintextSize: inStat.size, encryptedSize: outStat.size };
}

/**
 * Decrypts `inPath` to `outPath` (mode 0600), streaming. On any failure, including tampering detected in
 * the last chunk, `outPath` is removed so no unauthenticated plaintext stays on disk.
 * Throws IntegrityError on tampering or truncation, NotFoundError when the KEK is gone.
 */
export async function decryptFile(
  kms: Kms,
  inPath: string,
  outPath: string,
  options: DecryptStreamOptions = {},
): Promise<void> {
  await pipeToFile(
    createReadStream(inPath, { highWaterMark: IO_BUFFER_BYTES }),
    createDecryptStream(kms, options),
    outPath,
  );
}

async function pipeToFile(source: Readable, transform: Transform, outPath: string): Promise<void> {
  await fs.rm(outPath, { force: true });
  const out = createWriteStream(outPath, { flags: 'wx', mode: 0o600, highWaterMark: IO_BUFFER_BYTES });
  try {
    await pipeline(source, transform, out);
  } catch (error) {
    await fs.rm(outPath, { force: true });
    throw error;
  }
}

/**
 * The chunk count and plaintext size of an encrypted file or object of `size` bytes (header included) written with
 * `chunkSize`. Throws IntegrityError when the size cannot be that of a whole object (truncated, too many chunks);
 * `what` names it in the message.
 */
export function chunkLayout(
  size: number,
  chunkSize: number,
  what: 'file' | 'object',
): { chunkCount: number; plaintextSize: number } {
  const body = size - STREAM_FORMAT.headerBytes;
  const recordSize = chunkSize + GCM.tagBytes;
  if (body < GCM.tagBytes) throw new IntegrityError(`encrypted ${what}: truncated (final chunk missing)`);
  const chunkCount = Math.ceil(body / recordSize);
  const lastRecord = body - (chunkCount - 1) * recordSize;
  if (lastRecord < GCM.tagBytes)
    throw new IntegrityError(`encrypted ${what}: truncated (final chunk is shorter than its tag)`);
  if (chunkCount > MAX_CHUNKS) throw new IntegrityError(`encrypted ${what}: too many chunks`);
  return { chunkCount, plaintextSize: (chunkCount - 1) * chunkSize + lastRecord - GCM.tagBytes };
}

interface OpenedFile {
  readonly handle: fs.FileHandle;
  readonly header: ParsedHeader;
  readonly info: EncryptedFileInfo;
}

async function openEncrypted(path: string): Promise<OpenedFile> {
  const handle = await fs.open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const buf = Buffer.alloc(STREAM_FORMAT.headerBytes);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const header = parseHeader(buf.subarray(0, bytesRead));
    const { chunkCount, plaintextSize } = chunkLayout(size, header.chunkSize, 'file');
    return {
      handle,
      header,
      info: { chunkSize: header.chunkSize, chunkCount, plaintextSize, wrappedKey: header.wrappedKey },
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Reads the header of an encrypted file: chunk size, chunk count, plaintext size, wrapped key. No KMS
 * call, no authentication of the data. Throws IntegrityError when the file is not in the chunked format.
 */
export async function inspectEncryptedFile(path: string): Promise<EncryptedFileInfo> {
  const opened = await openEncrypted(path);
  await opened.handle.close();
  return opened.info;
}

/** A byte range of the plaintext: `length` bytes from `offset` (clipped at the end of the plaintext). */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

async function readRecord(opened: OpenedFile, index: number): Promise<Buffer> {
  const recordSize = opened.header.chunkSize + GCM.tagBytes;
  const position = STREAM_FORMAT.headerBytes + index * recordSize;
  const size =
    index === opened.info.chunkCount - 1
      ? opened.info.plaintextSize - index * opened.header.chunkSize + GCM.tagBytes
      : recordSize;
  const buf = Buffer.alloc(size);
  const { bytesRead } = await opened.handle.read(buf, 0, size, position);
  if (bytesRead !== size) throw new IntegrityError(`encrypted file: chunk ${index} is truncated`);
  return buf;
}

/** Throws ValidationError unless the range's offset and length are non-negative safe integers. */
export function checkRange(range: ByteRange): void {
  const bad = (field: string) =>
    new ValidationError([{ field, description: 'must be a non-negative safe integer' }]);
  if (!Number.isSafeInteger(range.offset) || range.offset < 0) throw bad('offset');
  if (!Number.isSafeInteger(range.length) || range.length < 0) throw bad('length');
}

/**
 * Random access: yields the plaintext of `range`, reading and authenticating only the chunks it covers
 * plus the final chunk (so a truncated file is detected even for a range read). Constant memory.
 * Throws ValidationError on a bad range, IntegrityError on tampering or truncation, NotFoundError when the
 * KEK is gone.
 */
export async function* decryptRangeChunks(
  kms: Kms,
  path: string,
  range: ByteRange,
): AsyncGenerator<Buffer, void, undefined> {
  checkRange(range);
  const opened = await openEncrypted(path);
  try {
    const { header, info } = opened;
    const raw = await kms.unwrapKey(header.wrappedKey, wrapContext(header.headerHash));
    const key = createSecretKey(raw);
    raw.fill(0);
    const lastIndex = info.chunkCount - 1;
    decryptChunk(key, header, lastIndex, true, await readRecord(opened, lastIndex)); // authenticates the length
    const start = Math.min(range.offset, info.plaintextSize);
    const end = Math.min(info.plaintextSize, start + range.length);
    if (end <= start) return;
    const first = Math.floor(start / header.chunkSize);
    const last = Math.floor((end - 1) / header.chunkSize);
    for (let i = first; i <= last; i++) {
      const plain = decryptChunk(key, header, i, i === lastIndex, await readRecord(opened, i));
      const chunkStart = i * header.chunkSize;
      yield plain.subarray(Math.max(0, start - chunkStart), Math.min(plain.length, end - chunkStart));
    }
  } finally {
    await opened.handle.close();
  }
}

/**
 * Decrypts a byte range of an encrypted file into one Buffer (see {@link decryptRangeChunks}).
 * Throws like {@link decryptRangeChunks}.
 */
export async function decryptRange(kms: Kms, path: string, range: ByteRange): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of decryptRangeChunks(kms, path, range)) parts.push(part);
  return Buffer.concat(parts);
}

/** A Readable over a decrypted byte range (for HTTP range playback). Errors as {@link decryptRangeChunks}. */
export function createDecryptRangeStream(kms: Kms, path: string, range: ByteRange): Readable {
  return Readable.from(decryptRangeChunks(kms, path, range), { objectMode: false });
}

/**
 * Key rotation for a file: re-wraps its data key under the KMS's current KEK by rewriting the 1 KiB key
 * slot in place; the chunks are not touched. Returns the KEK id now in the file.
 * Throws IntegrityError when the header or wrapped key was modified, NotFoundError when its KEK is gone.
 */
export async function rewrapFile(
  kms: Kms,
  path: string,
  options: DecryptStreamOptions = {},
): Promise<string> {
  const opened = await openEncrypted(path);
  await opened.handle.close();
  const { header } = opened;
  const current = await kms.currentKekId();
  if (header.wrappedKey.kekId === current) return current;
  const context = wrapContext(header.headerHash, options.context);
  const raw = await kms.unwrapKey(header.wrappedKey, context);
  let wrapped: WrappedKey;
  try {
    wrapped = await kms.wrapKey(raw, context);
  } finally {
    raw.fill(0);
  }
  const handle = await fs.open(path, fsConstants.O_WRONLY);
  try {
    await handle.write(keySlot(wrapped), 0, STREAM_FORMAT.keySlotBytes, STREAM_FORMAT.fixedHeaderBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return wrapped.kekId;
}
