/**
 * Muxes the converted tracks of a recording (Opus audio and VP8 video, one file each from janus-pp-rec) into ONE
 * WebM, aligned by the raw files' start times, as a stream of bytes that goes straight into the encryption
 * (ADR 0020): first an index of every packet (track-index.ts: the files' framing only), from which the whole
 * file is laid out (webm-writer.ts: cluster sizes, Cues, Duration and SeekHead known before the first byte),
 * then one sequential read of each converted file while the WebM is written out. No muxed plaintext file, no
 * second pass.
 */
import { promises as fs } from 'node:fs';
import { FileWindow, indexOggOpus, indexWebmVideo, type TrackIndex } from './track-index';
import { planWebm, writeWebm, type PacketBytes, type WriterTrack } from './webm-writer';

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

/** A recording laid out, ready to be written. */
export interface Mux {
  readonly summary: MuxSummary;
  /**
   * The WebM's bytes in order, in pieces of 1 MiB, read from the converted files as they are written. Each
   * piece is lent: valid until the next one is pulled (one buffer, reused). `onProgress` gets the share
   * written so far (0–1). Throws on a read error or a file that changed since it was indexed.
   */
  bytes(options?: { onProgress?: (fraction: number) => void }): AsyncGenerator<Uint8Array, void, undefined>;
}

/**
 * The packet index of one converted file (Ogg Opus for audio, WebM VP8 for video). Throws TrackFileError on a
 * file it cannot read.
 */
export async function indexTrackFile(file: Pick<TrackFile, 'path' | 'kind'>): Promise<TrackIndex> {
  const handle = await fs.open(file.path, 'r');
  try {
    const { size } = await handle.stat();
    return file.kind === 'audio' ? await indexOggOpus(handle, size) : await indexWebmVideo(handle, size);
  } finally {
    await handle.close();
  }
}

/**
 * The packets of a video track that are muxed. A recording starts whenever everyone has consented, often
 * between two key frames: the frames before the first key frame cannot be decoded and are left out; so is a
 * late frame from before the last key frame (it would go back in time).
 */
function videoSkips(t: TrackIndex): Uint8Array {
  const skip = new Uint8Array(t.count);
  let keySeen = false;
  let latest = -Infinity;
  let floor = -Infinity;
  for (let i = 0; i < t.count; i++) {
    const key = t.keys[i] === 1;
    if (!keySeen && !key) {
      skip[i] = 1;
      continue;
    }
    keySeen = true;
    const ts = t.timestamps[i]!;
    if (key) floor = latest;
    if (ts < floor) {
      skip[i] = 1;
      continue;
    }
    latest = Math.max(latest, ts);
  }
  return skip;
}

/** Packet bytes from each converted file, read front to back through a window. */
function packetBytes(windows: readonly FileWindow[], tracks: readonly TrackIndex[]): PacketBytes {
  const window = (k: number): FileWindow => windows[k]!;
  return {
    peek(k, i) {
      const t = tracks[k]!;
      const offset = t.offsets[i]!;
      return offset < 0 ? t.pieced[-offset - 1] : window(k).peek(offset, t.sizes[i]!);
    },
    async load(k, i) {
      const t = tracks[k]!;
      return await window(k).read(t.offsets[i]!, t.sizes[i]!);
    },
  };
}

/**
 * Lays out the WebM of `files` (track order: the order of `files`) from their indexes (`indexes[k]`: from
 * {@link indexTrackFile}, which the pipeline runs on each file as soon as it is converted; default: indexed
 * here). Throws TrackFileError on a file it cannot read.
 */
export async function planMux(
  files: readonly TrackFile[],
  indexes: readonly Promise<TrackIndex>[] = files.map(indexTrackFile),
): Promise<Mux> {
  const indexed = await Promise.all(indexes);
  const tracks: WriterTrack[] = indexed.map((t, k) => {
    const file = files[k]!;
    const timestamps = new Float64Array(t.count);
    for (let i = 0; i < t.count; i++) timestamps[i] = t.timestamps[i]! + file.offsetSeconds;
    return {
      ...t,
      name: file.name,
      timestamps,
      ...(t.kind === 'video' ? { skip: videoSkips(t) } : {}),
    };
  });
  const plan = planWebm(tracks);
  const summary: MuxSummary = {
    sizeBytes: plan.size,
    durationSeconds: plan.durationSeconds,
    audioTracks: files.filter((f) => f.kind === 'audio').length,
    videoTracks: files.filter((f) => f.kind === 'video').length,
  };
  return {
    summary,
    async *bytes(options = {}) {
      const { onProgress } = options;
      const handles = await Promise.all(files.map((f) => fs.open(f.path, 'r')));
      try {
        const windows = await Promise.all(handles.map(async (h) => new FileWindow(h, (await h.stat()).size)));
        const blocks = plan.blockTracks.length || 1;
        let written = 0;
        for await (const piece of writeWebm(plan, tracks, packetBytes(windows, indexed), {
          ...(onProgress ? { onBlocks: (n: number) => onProgress(n / blocks) } : {}),
        })) {
          written += piece.length;
          yield piece;
        }
        if (written !== plan.size) throw new Error(`wrote ${written} bytes of ${plan.size}`);
      } finally {
        await Promise.all(handles.map((h) => h.close()));
      }
    },
  };
}

/**
 * Muxes `files` into one WebM at `path` (created, mode 0600; replaced if it exists). Resolves to what it holds.
 * For tests and tools: the pipeline streams {@link Mux.bytes} into the encryption instead.
 */
export async function muxToFile(files: readonly TrackFile[], path: string): Promise<MuxSummary> {
  const mux = await planMux(files);
  const out = await fs.open(path, 'w', 0o600);
  try {
    for await (const piece of mux.bytes()) await out.write(piece);
  } finally {
    await out.close();
  }
  return mux.summary;
}
