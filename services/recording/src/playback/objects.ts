/**
 * Random access to a recording's ciphertext through the object-store port (../pipeline/object-store): a
 * {@link CiphertextReader} whose reads come from ranged gets, with a read-ahead buffer so that a playback window
 * (consecutive chunks) costs one get, not one per chunk. Memory stays at one read-ahead buffer.
 */
import type { CiphertextReader } from '@haven/crypto';
import type { ObjectStore } from '../pipeline/object-store';

/** Bytes fetched at once: a playback window of 64 KiB chunks with their tags, and a little more. */
const READ_AHEAD_BYTES = 1024 * 1024 + 64 * 1024;
/** Reads at least this long (a whole chunk) trigger the read-ahead. */
const MIN_READ_AHEAD_TRIGGER = 64 * 1024;

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

/** A reader over object `key` of `objects`. Its errors are the store's (NotFoundError when the object is gone). */
export function objectReader(objects: ObjectStore, key: string): CiphertextReader {
  let size: number | undefined;
  let buffered: { start: number; bytes: Buffer } = { start: 0, bytes: Buffer.alloc(0) };
  return {
    size: async () => (size ??= await objects.size(key)),
    read: async (position, length) => {
      const end = position + length;
      const b = buffered;
      if (position >= b.start && end <= b.start + b.bytes.length) {
        return b.bytes.subarray(position - b.start, end - b.start);
      }
      const total = (size ??= await objects.size(key));
      // Chunk reads (a playback window) read ahead; the header and the final chunk are read exactly.
      const ahead = length >= MIN_READ_AHEAD_TRIGGER ? Math.max(length, READ_AHEAD_BYTES) : length;
      const stop = Math.min(total, position + ahead);
      if (position >= stop) return Buffer.alloc(0);
      const bytes = await collect(
        (await objects.get(key, { start: position, end: stop })) as AsyncIterable<Buffer>,
      );
      buffered = { start: position, bytes };
      return bytes.subarray(0, length);
    },
  };
}
