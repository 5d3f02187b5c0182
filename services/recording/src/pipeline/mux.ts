/**
 * Muxes the converted tracks of a recording (Opus audio, VP8 video, one file each from janus-pp-rec) into ONE
 * WebM with mediabunny, aligned by the raw files' start times, in ONE pass into a file in the recording's work
 * folder (inside the recordings directory, memory-backed in the chart: the plaintext never reaches a persistent
 * disk, and the crash recovery removes the folder). The file is then read once, in order, by the encryption.
 *
 * mediabunny's Matroska muxer writes a seekable file (Duration, SeekHead → Cues, sizes) by going back to patch
 * a few fields: each cluster's size when the cluster ends, and the header (segment size, duration, seek head)
 * at the end, so it needs a target it can write out of order. (Before, the bytes streamed straight into the
 * encryption, which cannot go back: the tracks were muxed twice, pass 1 only to learn the patched fields. That
 * cost 3.5× janus-pp-rec for a 60 s visit and 14× for 10 minutes; a file written once and read once is cheap.)
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import {
  ALL_FORMATS,
  EncodedAudioPacketSource,
  EncodedPacketSink,
  type EncodedPacket,
  EncodedVideoPacketSource,
  FilePathSource,
  Input,
  Output,
  Target,
  WebMOutputFormat,
  type InputAudioTrack,
  type InputTrack,
  type InputVideoTrack,
} from 'mediabunny';

/** One converted track file and where it starts in the recording. */
export interface TrackFile {
  readonly path: string;
  readonly kind: 'audio' | 'video';
  /** Seconds after the recording's first packet (from the `.mjr` first-packet times). */
  readonly offsetSeconds: number;
  /** A track name without PHI (e.g. `participant 1 camera`). */
  readonly name: string;
}

/** What the muxed file holds. */
export interface MuxSummary {
  readonly sizeBytes: number;
  readonly durationSeconds: number;
  readonly audioTracks: number;
  readonly videoTracks: number;
}

interface Opened {
  readonly input: Input;
  readonly track: InputTrack;
  readonly file: TrackFile;
}

/** The stretch of the file held in memory before it is written out (4 MiB; at most two: memory stays constant). */
const WINDOW_BYTES = 4 * 1024 * 1024;

/** Bytes waiting to be written at `position`; `window`: a whole window buffer to reuse afterwards. */
interface Pending {
  readonly bytes: Buffer;
  readonly position: number;
  readonly window?: Buffer;
}

/**
 * A mediabunny output target writing to an open file through a 4 MiB window of the file held in memory: the
 * muxer writes mostly forwards, skipping an element's size and going back to fill it in once the element is
 * written, which all lands in the window; a write past the window sends the window to the file (when the muxer
 * next flushes) and opens the next one; a write before the window (a cluster size or, at the end, the header)
 * is queued behind it, so the file ends up with the final bytes. Bytes never written read as zeros, as with
 * mediabunny's own targets. (Its StreamTarget copies, sorts and merges every write on every flush, which was
 * most of the mux time for a long recording.) Implements Target's internal protocol (`_start`, `_write`,
 * `_flush`, `_finalize`, `_close`) as mediabunny's targets do; tests/e2e/recording-pipeline.int.spec.ts checks
 * the file is byte for byte what mediabunny's BufferTarget holds.
 */
class FileTarget extends Target {
  /** The file's size so far. */
  size = 0;
  readonly #file: FileHandle;
  #window: Buffer = Buffer.alloc(WINDOW_BYTES);
  #base = 0;
  #high = 0;
  #queue: Pending[] = [];
  #spare: Buffer | undefined;

  constructor(file: FileHandle) {
    super();
    this.#file = file;
  }

  _start(): void {}

  _write(data: Uint8Array, position: number): void {
    const length = data.byteLength;
    this.size = Math.max(this.size, position + length);
    let from = 0;
    if (position < this.#base) {
      const before = Math.min(length, this.#base - position);
      this.#queue.push({ bytes: Buffer.from(data.subarray(0, before)), position });
      from = before;
      position += before;
    }
    while (from < length) {
      if (position >= this.#base + WINDOW_BYTES) this.#retire(position);
      const at = position - this.#base;
      const n = Math.min(length - from, WINDOW_BYTES - at);
      this.#window.set(data.subarray(from, from + n), at);
      this.#high = Math.max(this.#high, at + n);
      from += n;
      position += n;
    }
  }

  async _flush(): Promise<void> {
    for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
      const { bytes, position, window } = next;
      for (let done = 0; done < bytes.length;) {
        const { bytesWritten } = await this.#file.write(bytes, done, bytes.length - done, position + done);
        done += bytesWritten;
      }
      if (window) this.#spare = window.fill(0);
    }
  }

  async _finalize(): Promise<void> {
    this.#retire(this.#base + this.#high);
    await this._flush();
  }

  async _close(): Promise<void> {}

  /** Queues the window's bytes and opens the next window at `base`. */
  #retire(base: number): void {
    if (this.#high > 0) {
      const window = this.#window;
      this.#queue.push({ bytes: window.subarray(0, this.#high), position: this.#base, window });
      this.#window = this.#spare ?? Buffer.alloc(WINDOW_BYTES);
      this.#spare = undefined;
    }
    this.#base = base;
    this.#high = 0;
  }
}

async function openTracks(files: readonly TrackFile[]): Promise<Opened[]> {
  const opened: Opened[] = [];
  try {
    for (const file of files) {
      const input = new Input({ source: new FilePathSource(file.path), formats: ALL_FORMATS });
      const track = (await input.getTracks()).find((t) => t.type === file.kind);
      if (!track) {
        input.dispose();
        throw new Error(`no ${file.kind} track in a converted file`);
      }
      opened.push({ input, track, file });
    }
  } catch (error) {
    for (const o of opened) o.input.dispose();
    throw error;
  }
  return opened;
}

/** One track being fed to the muxer, with its next packet read ahead. */
interface Cursor {
  readonly index: number;
  readonly file: TrackFile;
  readonly source: EncodedVideoPacketSource | EncodedAudioPacketSource;
  readonly sink: EncodedPacketSink;
  /** The packet read last (undefined: none yet). */
  read: EncodedPacket | undefined;
  /** The decoder config, sent with the first packet only. */
  meta: { decoderConfig: VideoDecoderConfig | AudioDecoderConfig } | undefined;
  keySeen: boolean;
  latest: number;
  floor: number;
  /** The next packet (timestamp moved to the recording's time), and where its track's media ends. */
  next: { packet: EncodedPacket; timestamp: number; media: number } | undefined;
}

/** Reads the cursor's next packet worth muxing; at the end of its track, closes its source. */
async function advance(c: Cursor): Promise<void> {
  for (;;) {
    // One packet at a time: the sink's packets() iterator reads ahead as many packets as were taken in the
    // last second, in an array it shifts (quadratic at the muxer's pace).
    const packet = await (c.read ? c.sink.getNextPacket(c.read) : c.sink.getFirstPacket());
    if (!packet) {
      c.next = undefined;
      c.source.close();
      return;
    }
    c.read = packet;
    if (!c.keySeen && packet.type !== 'key') continue;
    c.keySeen = true;
    const timestamp = packet.timestamp + c.file.offsetSeconds;
    if (packet.type === 'key' && c.source instanceof EncodedVideoPacketSource) c.floor = c.latest;
    if (timestamp < c.floor) continue;
    c.latest = Math.max(c.latest, timestamp);
    c.next = {
      packet: packet.clone({ timestamp }),
      timestamp,
      media: packet.timestamp + packet.duration,
    };
    return;
  }
}

/**
 * Muxes `files` into one WebM written to `target` (mediabunny's BufferTarget in a test; {@link muxToFile} in the
 * pipeline). `onProgress` gets the share of the media muxed so far (0–1). Resolves to the media's duration in
 * seconds. Throws on a file mediabunny cannot read or a muxer or target failure.
 */
export async function muxTracks(
  files: readonly TrackFile[],
  target: Target,
  options: { onProgress?: (fraction: number) => void } = {},
): Promise<number> {
  const { onProgress } = options;
  const opened = await openTracks(files);
  try {
    const output = new Output({ format: new WebMOutputFormat(), target });
    const feeds = opened.map(({ track, file }) => {
      if (track.type === 'video') {
        const source = new EncodedVideoPacketSource(track.codec as 'vp8');
        output.addVideoTrack(source, { name: file.name });
        return { track, file, source };
      }
      const source = new EncodedAudioPacketSource(track.codec as 'opus');
      output.addAudioTrack(source, { name: file.name });
      return { track, file, source };
    });
    const durations = onProgress ? await Promise.all(opened.map((o) => o.track.computeDuration())) : [];
    const total = durations.reduce((a, b) => a + b, 0) || 1;
    const done = opened.map(() => 0);
    let doneSum = 0;
    await output.start();
    const cursors = await Promise.all(
      feeds.map(async ({ track, file, source }, i) => {
        const decoderConfig = await (track as InputAudioTrack | InputVideoTrack).getDecoderConfig();
        const cursor: Cursor = {
          index: i,
          file,
          source,
          sink: new EncodedPacketSink(track),
          read: undefined,
          meta: decoderConfig ? { decoderConfig } : undefined,
          // A recording starts whenever everyone has consented, often between two video key frames: the
          // frames before the first key frame cannot be decoded (and the muxer refuses them), and a late
          // packet from before the last key frame would go back in time. Both are left out.
          keySeen: !(source instanceof EncodedVideoPacketSource),
          latest: -Infinity,
          floor: -Infinity,
          next: undefined,
        };
        await advance(cursor);
        return cursor;
      }),
    );
    let end = 0;
    const feed = async (c: Cursor): Promise<void> => {
      const { packet, media } = c.next!;
      end = Math.max(end, packet.timestamp + packet.duration);
      if (c.source instanceof EncodedVideoPacketSource) {
        await c.source.add(packet, c.meta);
      } else {
        await c.source.add(packet, c.meta as EncodedAudioChunkMetadata | undefined);
      }
      c.meta = undefined;
      if (onProgress) {
        doneSum += media - done[c.index]!;
        done[c.index] = media;
        onProgress(Math.min(1, doneSum / total));
      }
      await advance(c);
    };
    // The muxer writes a packet only once every open track has one queued, and keeps each track's queue in an
    // array it shifts. So every track's first packet goes in first (a track that starts late, someone who
    // joined later, would otherwise hold back everything before it), then the packets in timestamp order
    // across the tracks (a merge, one packet read ahead per track): the queues stay a packet or two long. Fed
    // track by track in parallel instead, whichever track read fastest ran minutes ahead, its queue grew with
    // it, and the shifts made a 10-minute visit's mux quadratic.
    for (const c of cursors.filter((c) => c.next).sort((a, b) => a.next!.timestamp - b.next!.timestamp)) {
      await feed(c);
    }
    for (;;) {
      let best: Cursor | undefined;
      for (const c of cursors) {
        if (c.next && (!best || c.next.timestamp < best.next!.timestamp)) best = c;
      }
      if (!best) break;
      await feed(best);
    }
    await output.finalize();
    return end;
  } finally {
    for (const o of opened) o.input.dispose();
  }
}

/**
 * Muxes `files` into one WebM at `path` (created, mode 0600; replaced if it exists) in one pass. `onProgress`
 * gets the share of the media muxed so far (0–1). Resolves to what the file holds. Throws on a file mediabunny
 * cannot read, a muxer failure or a write error (ENOSPC); the caller removes the partial file.
 */
export async function muxToFile(
  files: readonly TrackFile[],
  path: string,
  options: { onProgress?: (fraction: number) => void } = {},
): Promise<MuxSummary> {
  const out = await fs.open(path, 'w', 0o600);
  try {
    const target = new FileTarget(out);
    const durationSeconds = await muxTracks(files, target, options);
    await out.close();
    return {
      sizeBytes: target.size,
      durationSeconds,
      audioTracks: files.filter((f) => f.kind === 'audio').length,
      videoTracks: files.filter((f) => f.kind === 'video').length,
    };
  } finally {
    await out.close().catch(() => undefined);
  }
}
