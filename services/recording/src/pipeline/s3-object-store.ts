/**
 * The object-store port on S3-compatible storage (AWS S3, MinIO, Ceph RGW, …), with the AWS SDK: the pipeline's
 * {@link ObjectStore} and the access side's random-access {@link MediaObjects} over one bucket and key prefix.
 * Objects are ciphertext only. A put streams a multipart upload (8 MiB parts, two in flight): the object appears
 * only when the upload completes, so a crash leaves at most an unfinished multipart upload, which
 * {@link S3ObjectStore.partials} lists (ListMultipartUploads) and {@link S3ObjectStore.delete} aborts.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NotFoundError, ValidationError } from '@haven/errors';
import { StorageFullError, type ObjectRange, type ObjectStore, type PutResult } from './object-store';
import type { MediaObjects, OpenedObject } from '../playback/objects';

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;
const PART_BYTES = 8 * 1024 * 1024;

/** Options of {@link S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  /** A configured client (endpoint, region, credentials, path style). */
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix of this store inside the bucket (`haven/recordings/`); default none. */
  readonly prefix?: string;
}

/** The service's error code (`NoSuchKey`, `NotImplemented`…) or undefined. */
function codeOf(error: unknown): string | undefined {
  return error instanceof S3ServiceException ? error.name : undefined;
}

function isNotFound(error: unknown): boolean {
  const code = codeOf(error);
  return (
    code === 'NoSuchKey' ||
    code === 'NotFound' ||
    (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404)
  );
}

/** Vendor errors become Haven's at the boundary. */
function translate(error: unknown): unknown {
  if (isNotFound(error)) return new NotFoundError('no such object', { cause: error });
  const code = codeOf(error);
  if (code === 'XMinioStorageFull' || code === 'InsufficientStorage' || code === 'QuotaExceeded') {
    return new StorageFullError('the object store is full', { cause: error });
  }
  return error;
}

/** Objects in one S3 bucket under a prefix. */
export class S3ObjectStore implements ObjectStore, MediaObjects {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3ObjectStoreOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? '';
  }

  /** The bucket key of `key`. Throws ValidationError on a key that is not a plain relative path. */
  #keyOf(key: string): string {
    if (!KEY.test(key) || key.length > 512) {
      throw new ValidationError([{ field: 'key', description: 'must be a relative path of plain names' }]);
    }
    return this.#prefix + key;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const Key = this.#keyOf(key);
    const hash = createHash('sha256');
    let size = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const piece of body) {
        hash.update(piece);
        size += piece.byteLength;
        // The upload gathers pieces into parts long after the next is asked for: a piece is only lent.
        yield Buffer.from(piece);
      }
    }
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key, Body: Readable.from(counted()) },
      partSize: PART_BYTES,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      await upload.abort().catch(() => undefined);
      throw translate(error);
    }
    return { sizeBytes: size, sha256: hash.digest('hex') };
  }

  async get(key: string, range: ObjectRange = { start: 0 }): Promise<Readable> {
    const Key = this.#keyOf(key);
    const size = await this.size(key);
    const end = Math.min(range.end ?? size, size);
    if (!Number.isSafeInteger(range.start) || range.start < 0 || range.start > end) {
      throw new ValidationError([{ field: 'range', description: `must lie within 0–${size}` }]);
    }
    if (range.start === end) return Readable.from([]);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key, Range: `bytes=${range.start}-${end - 1}` }),
      );
      return out.Body as Readable;
    } catch (error) {
      throw translate(error);
    }
  }

  async size(key: string): Promise<number> {
    try {
      const head = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#keyOf(key) }),
      );
      return head.ContentLength ?? 0;
    } catch (error) {
      throw translate(error);
    }
  }

  /** Removes the object and aborts any unfinished upload of it; idempotent. */
  async delete(key: string): Promise<void> {
    const Key = this.#keyOf(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key }));
    } catch (error) {
      if (!isNotFound(error)) throw translate(error);
    }
    for (const upload of await this.#uploads(Key)) {
      if (upload.Key !== Key || upload.UploadId === undefined) continue;
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key, UploadId: upload.UploadId }),
      );
    }
  }

  async list(prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#prefix + prefix,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.#prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort();
  }

  async partials(): Promise<string[]> {
    const keys = (await this.#uploads(this.#prefix)).flatMap((u) =>
      u.Key ? [u.Key.slice(this.#prefix.length)] : [],
    );
    return [...new Set(keys)].sort();
  }

  /** Opens an object for random reads (ranged GETs). Throws NotFoundError when it does not exist. */
  async open(objectKey: string): Promise<OpenedObject> {
    const Key = this.#keyOf(objectKey);
    const size = await this.size(objectKey);
    return {
      size: async () => size,
      read: async (position, length) => {
        const end = Math.min(position + length, size);
        if (end <= position) return Buffer.alloc(0);
        try {
          const out = await this.#client.send(
            new GetObjectCommand({ Bucket: this.#bucket, Key, Range: `bytes=${position}-${end - 1}` }),
          );
          return Buffer.from(await out.Body!.transformToByteArray());
        } catch (error) {
          throw translate(error);
        }
      },
      close: async () => undefined,
    };
  }

  /**
   * Unfinished multipart uploads under `prefix`. A server without ListMultipartUploads (`NotImplemented`) keeps
   * none that a client could find: none.
   */
  async #uploads(prefix: string): Promise<{ Key?: string | undefined; UploadId?: string | undefined }[]> {
    const uploads: { Key?: string | undefined; UploadId?: string | undefined }[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      do {
        const page = await this.#client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.#bucket,
            Prefix: prefix,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
          }),
        );
        uploads.push(...(page.Uploads ?? []));
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker !== undefined);
    } catch (error) {
      if (codeOf(error) === 'NotImplemented') return [];
      throw translate(error);
    }
    return uploads;
  }
}
