/**
 * The Janus raw files of a recording and their conversion with `janus-pp-rec` (Debian janus-tools): one
 * `.mjr` per track and publisher feed, named by the videoroom `videoroom-<room>-user-<feed>-<time>-<kind>-<n>.mjr`.
 * The header gives the codec and when the first packet was written, which aligns the tracks: it is the JSON
 * `janus-pp-rec --json` prints, read here straight from the file (`MJR00002`, u16 length, JSON) instead of
 * spawning a process per track. The conversion writes the codec's own container (Opus → .opus, VP8 → .webm),
 * no re-encoding.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { basename, join } from 'node:path';

/** One raw track file. */
export interface RawTrack {
  readonly path: string;
  readonly kind: 'audio' | 'video';
  readonly codec: string;
  /** Publisher feed id from the file name ('' when the name does not follow the videoroom pattern). */
  readonly feed: string;
  /** When the first packet was written (µs since the epoch). */
  readonly firstPacketMicros: number;
}

/** The conversion failed or the file is not a recording janus-pp-rec understands. */
export class ConversionError extends Error {
  override readonly name: string = 'ConversionError';
}

/** A codec no browser-playable WebM can hold (H.264 needs Matroska/MP4; not muxed here). */
export class UnsupportedCodecError extends ConversionError {
  override readonly name = 'UnsupportedCodecError';
}

const EXTENSION: Readonly<Record<string, string>> = { opus: 'opus', vp8: 'webm', vp9: 'webm' };
const FEED = /^videoroom-\d+-user-(\d+)-\d+-(?:audio|video)-\d+\.mjr$/;

function run(binary: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(
            new ConversionError(`${basename(binary)} exited with ${code}: ${stderr.trim().slice(-300)}`),
          ),
    );
  });
}

const MAGIC = 'MJR00002';

/** The file holds the start of a header and nothing after it: Janus is still writing it. */
class IncompleteHeaderError extends ConversionError {
  override readonly name = 'IncompleteHeaderError';
  /** Only the magic (or part of it): Janus writes the rest with the track's first packet. */
  constructor(readonly magicOnly: boolean) {
    super('a Janus recording header not written yet');
  }
}

/**
 * The JSON header of a `.mjr` file, or undefined for an empty file: Janus creates a track's file when the
 * publisher starts recording but writes its header with the first packet, so a device that joined just before
 * the stop leaves an empty file — no media, not a fault. Throws ConversionError when the file is not a Janus
 * recording.
 */
async function headerOf(
  path: string,
): Promise<{ t?: unknown; c?: unknown; u?: unknown; s?: unknown } | undefined> {
  const handle = await fs.open(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead === 0) return undefined;
    const magic = head.subarray(0, Math.min(8, bytesRead)).toString('latin1');
    const length = bytesRead >= 10 ? head.readUInt16BE(8) : 0;
    if (MAGIC.startsWith(magic) && (bytesRead < 10 || (length > 0 && 10 + length > bytesRead))) {
      throw new IncompleteHeaderError(bytesRead <= MAGIC.length);
    }
    if (magic !== MAGIC || length === 0 || 10 + length > bytesRead) {
      throw new ConversionError('not a Janus recording (MJR00002)');
    }
    return JSON.parse(head.subarray(10, 10 + length).toString('utf8')) as { t?: unknown };
  } catch (error) {
    if (error instanceof ConversionError) throw error;
    throw new ConversionError('unreadable Janus recording header', { cause: error });
  } finally {
    await handle.close();
  }
}

/**
 * The `.mjr` files in `dir`, parsed; an empty list when the folder is missing or holds none. A header Janus is
 * still writing (the stop can be processed before Janus has flushed a track's first packet) is read again
 * every 100 ms for up to `settleMs` (default 3 s). A file that then still holds only the magic is a track that
 * got no packet before the stop (Janus writes the magic when it opens the file, the rest with the first
 * packet): no media, skipped like an empty file. Throws ConversionError for a file that is not a Janus
 * recording, or whose header JSON is still cut short then.
 */
export async function listRawTracks(dir: string, options: { settleMs?: number } = {}): Promise<RawTrack[]> {
  const until = Date.now() + (options.settleMs ?? 3000);
  for (;;) {
    const last = Date.now() >= until;
    try {
      return await readRawTracks(dir, last);
    } catch (error) {
      if (!(error instanceof IncompleteHeaderError) || last) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function readRawTracks(dir: string, skipMagicOnly: boolean): Promise<RawTrack[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.mjr')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const tracks: RawTrack[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const header = await headerOf(path).catch((error: unknown) => {
      if (skipMagicOnly && error instanceof IncompleteHeaderError && error.magicOnly) return undefined;
      throw error;
    });
    if (header === undefined) continue; // recorded nothing
    if ((header.t !== 'a' && header.t !== 'v') || typeof header.c !== 'string') continue; // data channels
    const first = typeof header.u === 'number' && header.u > 0 ? header.u : Number(header.s);
    tracks.push({
      path,
      kind: header.t === 'a' ? 'audio' : 'video',
      codec: header.c,
      feed: FEED.exec(name)?.[1] ?? '',
      firstPacketMicros: Number.isFinite(first) ? first : 0,
    });
  }
  return tracks;
}

/**
 * Converts one raw track into `outDir` (its codec's container). Throws UnsupportedCodecError for a codec
 * the WebM cannot hold, ConversionError when janus-pp-rec fails or writes nothing.
 */
export async function convertTrack(
  track: RawTrack,
  outDir: string,
  binary = 'janus-pp-rec',
): Promise<string> {
  const extension = EXTENSION[track.codec];
  if (!extension) throw new UnsupportedCodecError(`codec ${track.codec} cannot go into a WebM`);
  const out = join(outDir, `${basename(track.path, '.mjr')}.${extension}`);
  await run(binary, [track.path, out]);
  const stat = await fs.stat(out).catch(() => undefined);
  if (!stat || stat.size === 0) throw new ConversionError('janus-pp-rec wrote nothing (no packets?)');
  return out;
}
