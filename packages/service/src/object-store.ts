/**
 * Where encrypted objects are kept (recordings, files shared in a visit's chat): a port (put streaming, ranged
 * get, delete, list, and the partial uploads a crash left) and its filesystem adapter (the chart's PVC). Objects
 * are ciphertext only.
 *
 * The filesystem adapter writes `<key>.partial` (0600), fsyncs it, renames it onto `<key>` and fsyncs the
 * folder: an object is either whole or absent; a crash leaves at most a `.partial`, which {@link
 * ObjectStore.partials} lists and {@link ObjectStore.delete} removes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { NotFoundError, UnavailableError, ValidationError } from '@haven/errors';

/** The filesystem adapter writes an object a MiB at a time. */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/** What a put stored. */
export interface PutResult {
  readonly sizeBytes: number;
  /** SHA-256 of the stored bytes (hex). */
  readonly sha256: string;
}

/** A byte range `[start, end)`; `end` omitted: to the end. */
export interface ObjectRange {
  readonly start: number;
  readonly end?: number;
}

/** The object-store port. Keys are relative paths (`recordings/<id>.webm.henc`), never `..`. */
export interface ObjectStore {
  /**
   * Stores `body` under `key` (replacing it), streaming; the object appears only once complete. Each piece of
   * `body` is only lent until the next is asked for (the recording encryption, `encryptChunks`, frees it then):
   * an adapter that keeps pieces longer copies them.
   * Throws StorageFullError when the medium is full (nothing is left behind), ValidationError on a bad key,
   * or the body's own error (the partial object is removed).
   */
  put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult>;
  /** The bytes of `range` (default all). Throws NotFoundError when there is no such object. */
  get(key: string, range?: ObjectRange): Promise<Readable>;
  /** Size in bytes. Throws NotFoundError when there is no such object. */
  size(key: string): Promise<number>;
  /** Removes the object and any partial upload of it; idempotent. */
  delete(key: string): Promise<void>;
  /** Keys of the complete objects under `prefix`, sorted. */
  list(prefix?: string): Promise<string[]>;
  /** Keys with a partial upload left behind (a crash during `put`). */
  partials(): Promise<string[]>;
}

/** The medium is full: the object was not stored. */
export class StorageFullError extends UnavailableError {
  override readonly name = 'StorageFullError';
  readonly reason = 'STORAGE_FULL';
}

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;
const PARTIAL = '.partial';

function translate(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new StorageFullError('the object store is full', { cause: error });
  return error;
}

/** Objects as files under one folder (created 0700 on first put); each object a 0600 file. */
export class FsObjectStore implements ObjectStore {
  readonly #root: string;

  constructor(dir: string) {
    this.#root = resolve(dir);
  }

  /** The file of `key`. Throws ValidationError on a key that is not a plain relative path. */
  pathOf(key: string): string {
    if (!KEY.test(key) || key.length > 512 || key.endsWith(PARTIAL)) {
      throw new ValidationError([{ field: 'key', description: 'must be a relative path of plain names' }]);
    }
    const path = join(this.#root, key);
    if (!path.startsWith(this.#root + sep)) {
      throw new ValidationError([{ field: 'key', description: 'must stay inside the store' }]);
    }
    return path;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const path = this.pathOf(key);
    const partial = path + PARTIAL;
    await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const hash = createHash('sha256');
    let size = 0;
    let handle: fs.FileHandle | undefined;
    // Pieces are gathered into one buffer and written a MiB at a time: the encryption yields 64 KiB slices (each
    // lent until the next is pulled, so copied here), and a write per slice cost more than the copy.
    const gathered = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
    let filled = 0;
    const write = async (file: fs.FileHandle, bytes: Uint8Array): Promise<void> => {
      hash.update(bytes);
      let written = 0;
      while (written < bytes.byteLength) {
        const { bytesWritten } = await file.write(bytes, written, bytes.byteLength - written);
        written += bytesWritten;
      }
    };
    try {
      handle = await fs.open(partial, 'w', 0o600);
      for await (const piece of body) {
        size += piece.byteLength;
        if (filled > 0 && filled + piece.byteLength > gathered.length) {
          await write(handle, gathered.subarray(0, filled));
          filled = 0;
        }
        if (piece.byteLength >= gathered.length) {
          await write(handle, piece);
        } else {
          gathered.set(piece, filled);
          filled += piece.byteLength;
        }
      }
      if (filled > 0) await write(handle, gathered.subarray(0, filled));
      await handle.sync();
      await handle.close();
      handle = undefined;
      await fs.rename(partial, path);
      await this.#syncDir(dirname(path));
      return { sizeBytes: size, sha256: hash.digest('hex') };
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await fs.rm(partial, { force: true }).catch(() => undefined);
      throw translate(error);
    }
  }

  async get(key: string, range: ObjectRange = { start: 0 }): Promise<Readable> {
    const path = this.pathOf(key);
    const size = await this.size(key);
    const end = Math.min(range.end ?? size, size);
    if (!Number.isSafeInteger(range.start) || range.start < 0 || range.start > end) {
      throw new ValidationError([{ field: 'range', description: `must lie within 0–${size}` }]);
    }
    if (range.start === end) return Readable.from([]);
    return createReadStream(path, { start: range.start, end: end - 1, highWaterMark: 1024 * 1024 });
  }

  async size(key: string): Promise<number> {
    try {
      return (await fs.stat(this.pathOf(key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new NotFoundError('no such object', { cause: error });
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    await fs.rm(path, { force: true });
    await fs.rm(path + PARTIAL, { force: true });
  }

  async list(prefix = ''): Promise<string[]> {
    return (await this.#files()).filter((k) => !k.endsWith(PARTIAL) && k.startsWith(prefix)).sort();
  }

  async partials(): Promise<string[]> {
    return (await this.#files())
      .filter((k) => k.endsWith(PARTIAL))
      .map((k) => k.slice(0, -PARTIAL.length))
      .sort();
  }

  async #files(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.#root, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const files: string[] = [];
    for (const entry of entries) {
      const stat = await fs.lstat(join(this.#root, entry)).catch(() => undefined);
      if (stat?.isFile()) files.push(relative(this.#root, join(this.#root, entry)).split(sep).join('/'));
    }
    return files;
  }

  async #syncDir(dir: string): Promise<void> {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
