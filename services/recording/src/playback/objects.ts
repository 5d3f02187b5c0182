/**
 * Where the access side reads and deletes a recording's ciphertext: a port with random access (playback reads
 * only the chunks a range covers) and a filesystem adapter. The pipeline's object store can implement the same
 * two methods.
 */
import { promises as fs } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { CiphertextReader } from '@haven/crypto';
import { NotFoundError, ValidationError } from '@haven/errors';

/** A stored object opened for random access; `close` releases it. */
export interface OpenedObject extends CiphertextReader {
  close(): Promise<void>;
}

/** The ciphertext objects of the recordings. */
export interface MediaObjects {
  /** Opens an object for random reads. Throws NotFoundError when it does not exist. */
  open(objectKey: string): Promise<OpenedObject>;
  /** Deletes an object (overwritten first where the medium allows); idempotent. */
  delete(objectKey: string): Promise<void>;
}

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_./-]{0,255}$/;

/** Objects as files under one directory (the chart's PVC); keys are relative paths without `..`. */
export class FileMediaObjects implements MediaObjects {
  readonly #root: string;

  constructor(dir: string) {
    this.#root = resolve(dir);
  }

  /** The file of `objectKey`. Throws ValidationError on a key that is not a plain relative path. */
  pathOf(objectKey: string): string {
    if (!KEY.test(objectKey) || objectKey.split('/').includes('..')) {
      throw new ValidationError([{ field: 'objectKey', description: 'must be a relative path' }]);
    }
    const path = join(this.#root, objectKey);
    if (!path.startsWith(this.#root + sep)) {
      throw new ValidationError([{ field: 'objectKey', description: 'must stay inside the store' }]);
    }
    return path;
  }

  async open(objectKey: string): Promise<OpenedObject> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.pathOf(objectKey), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError('the recording media object is gone', { cause: error });
      }
      throw error;
    }
    return {
      size: async () => (await handle.stat()).size,
      read: async (position, length) => {
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await handle.read(buf, 0, length, position);
        return buf.subarray(0, bytesRead);
      },
      close: () => handle.close(),
    };
  }

  async delete(objectKey: string): Promise<void> {
    await fs.rm(this.pathOf(objectKey), { force: true });
  }
}
