/**
 * The S3 adapter of the object-store port against a real S3-compatible server running here as a child process:
 * s3rver (npm), which speaks the S3 REST API over HTTP, checks Signature V4 and stores objects in a folder. The
 * same contract suite as the filesystem adapter, then what only S3 has: multipart uploads larger than a part and
 * the access side's ranged reads. Not proven here: s3rver accepted a request signed with a wrong secret, so
 * credential handling is the SDK's and is checked only against a real S3/MinIO. s3rver has no ListMultipartUploads
 * (NotImplemented): there the adapter finds no unfinished upload, which the contract's "nothing left behind" reads;
 * a server that has it (MinIO, Ceph, AWS) answers it for real.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { NotFoundError } from '@haven/errors';
import { startS3rver, type S3rverHandle } from '../testing';
import { testObjectStore } from './object-store-contract';
import { S3ObjectStore } from './s3-object-store';

jest.setTimeout(60_000);

let s3: S3rverHandle;
let stores = 0;

/** A store of its own (a fresh prefix) in the server's bucket. */
const freshStore = (): S3ObjectStore =>
  new S3ObjectStore({ client: s3.client(), bucket: s3.bucket, prefix: `t${++stores}/` });

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3?.stop();
});

describe('the S3 object store (s3rver)', () => {
  testObjectStore(async () => freshStore());

  it('streams an object larger than a part as a multipart upload, whole and by range', async () => {
    const store = freshStore();
    const data = randomBytes(19 * 1024 * 1024 + 123);
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < data.length; i += 1024 * 1024) yield data.subarray(i, i + 1024 * 1024);
    }
    const put = await store.put('recordings/big.webm.henc', pieces());
    expect(put).toEqual({ sizeBytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    const whole = await bytesOf(await store.get('recordings/big.webm.henc'));
    expect(createHash('sha256').update(whole).digest('hex')).toBe(put.sha256);
    const across = await bytesOf(
      await store.get('recordings/big.webm.henc', { start: 8 * 1024 * 1024 - 10, end: 8 * 1024 * 1024 + 10 }),
    );
    expect(across.equals(data.subarray(8 * 1024 * 1024 - 10, 8 * 1024 * 1024 + 10))).toBe(true);
  });

  it('serves the access side random reads and deletes for it', async () => {
    const store = freshStore();
    const data = randomBytes(100_000);
    await store.put('recordings/p.webm.henc', Readable.from([data]));
    const opened = await store.open('recordings/p.webm.henc');
    expect(await opened.size()).toBe(data.length);
    expect((await opened.read(4096, 1000)).equals(data.subarray(4096, 5096))).toBe(true);
    expect((await opened.read(99_990, 100)).equals(data.subarray(99_990))).toBe(true);
    await opened.close();
    await store.delete('recordings/p.webm.henc');
    await expect(store.open('recordings/p.webm.henc')).rejects.toBeInstanceOf(NotFoundError);
  });
});
