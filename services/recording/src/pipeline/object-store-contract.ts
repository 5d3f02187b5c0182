/**
 * The contract every ObjectStore adapter passes (run by each adapter's spec with a factory): streaming put,
 * replace, ranged get, size, list by prefix, delete, refusal of keys that leave the store, and a failed put
 * leaving nothing behind. Test support only.
 */
import { Readable } from 'node:stream';
import { beforeEach, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { NotFoundError, ValidationError } from '@haven/errors';
import type { ObjectStore } from './object-store';

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function* pieces(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** Registers the contract's tests for the adapter `make` returns (a fresh, empty store per test). */
export function testObjectStore(make: () => Promise<ObjectStore>): void {
  let store: ObjectStore;
  beforeEach(async () => {
    store = await make();
  });

  it('stores a streamed body and reads it back whole and by range', async () => {
    const data = randomBytes(300_000);
    const put = await store.put('recordings/a.henc', pieces(data, 7_777));
    expect(put).toEqual({ sizeBytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect(await store.size('recordings/a.henc')).toBe(data.length);
    expect((await bytesOf(await store.get('recordings/a.henc'))).equals(data)).toBe(true);
    const slice = await bytesOf(await store.get('recordings/a.henc', { start: 1000, end: 70_000 }));
    expect(slice.equals(data.subarray(1000, 70_000))).toBe(true);
    expect((await bytesOf(await store.get('recordings/a.henc', { start: data.length }))).length).toBe(0);
  });

  it('stores a body of small, odd and larger-than-a-MiB pieces in order, byte for byte', async () => {
    const data = randomBytes(3_500_000);
    async function* mixed(): AsyncGenerator<Uint8Array> {
      const sizes = [65_536, 1, 1_048_575, 1_500_000, 7_777, 1_048_576];
      let at = 0;
      for (let i = 0; at < data.length; i++) {
        const n = sizes[i % sizes.length]!;
        yield data.subarray(at, at + n);
        at += n;
      }
    }
    const put = await store.put('recordings/mixed.henc', mixed());
    expect(put).toEqual({ sizeBytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect((await bytesOf(await store.get('recordings/mixed.henc'))).equals(data)).toBe(true);
  });

  it('stores pieces that are only lent: each is wiped once the next is asked for', async () => {
    const data = randomBytes(200_000);
    async function* lent(): AsyncGenerator<Uint8Array> {
      const piece = Buffer.alloc(10_000);
      for (let i = 0; i < data.length; i += piece.length) {
        data.copy(piece, 0, i, i + piece.length);
        yield piece;
        piece.fill(0); // what a released piece would read as, had the adapter kept it
      }
    }
    await store.put('recordings/lent.henc', lent());
    expect((await bytesOf(await store.get('recordings/lent.henc'))).equals(data)).toBe(true);
  });

  it('replaces an object and lists complete objects by prefix', async () => {
    await store.put('recordings/b.henc', pieces(Buffer.from('one'), 2));
    await store.put('recordings/b.henc', pieces(Buffer.from('second'), 2));
    await store.put('other/c.henc', pieces(Buffer.from('x'), 1));
    expect((await bytesOf(await store.get('recordings/b.henc'))).toString()).toBe('second');
    expect(await store.list('recordings/')).toEqual(['recordings/b.henc']);
    expect(await store.list()).toEqual(['other/c.henc', 'recordings/b.henc']);
  });

  it('deletes idempotently; a deleted object is not found', async () => {
    await store.put('recordings/d.henc', pieces(Buffer.from('gone soon'), 4));
    await store.delete('recordings/d.henc');
    await store.delete('recordings/d.henc');
    await expect(store.get('recordings/d.henc')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.size('recordings/d.henc')).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.list()).toEqual([]);
  });

  it('leaves nothing when the body fails half-way', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(10_000);
      throw new Error('the muxer broke');
    }
    await expect(store.put('recordings/e.henc', failing())).rejects.toThrow('the muxer broke');
    expect(await store.list()).toEqual([]);
    expect(await store.partials()).toEqual([]);
  });

  it('refuses keys that would leave the store', async () => {
    for (const key of ['../x', '/etc/passwd', 'a/../../x', '', 'a//b']) {
      await expect(store.put(key, pieces(Buffer.from('x'), 1))).rejects.toBeInstanceOf(ValidationError);
    }
  });

  it('refuses a range outside the object', async () => {
    await store.put('recordings/f.henc', pieces(Buffer.from('0123456789'), 3));
    await expect(store.get('recordings/f.henc', { start: 11 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('reads in a readable stream', async () => {
    await store.put('recordings/g.henc', Readable.from([Buffer.from('streamed')]));
    expect((await bytesOf(await store.get('recordings/g.henc'))).toString()).toBe('streamed');
  });
}
