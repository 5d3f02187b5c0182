/**
 * Muxes the converted tracks of a recording (Opus audio, VP8 video, one file each from janus-pp-rec) into ONE
 * WebM with mediabunny, aligned by the raw files' start times, and yields its bytes strictly in order so they
 * can stream straight into the chunked encryption (which cannot seek back).
 *
 * mediabunny's Matroska muxer writes a seekable file (Duration, SeekHead → Cues, sizes) by going back to patch
 * a few fields: each cluster's size when the cluster ends, and the header (segment size, duration, seek head)
 * at the end. Its append-only mode avoids that but leaves a file without duration or index (players cannot
 * seek). So the tracks are muxed twice: pass 1 writes nowhere and keeps only the FINAL bytes of the fields that
 * get patched (the header up to the first cluster, the head of every cluster); pass 2 produces the same bytes
 * (the muxer is deterministic) and yields them in order with pass 1's final values laid over them, ignoring
 * the seeks back. Pass 1 reads the packets without their data (muxing zeros of the same length). Memory: the
 * header and a few bytes per cluster; no plaintext file is written. The result is byte for byte what a one-pass
 * mux into memory writes (tests/e2e/recording-pipeline.int.spec.ts checks it).
 */
import {
  ALL_FORMATS,
  EncodedAudioPacketSource,
  EncodedPacketSink,
  EncodedVideoPacketSource,
  FilePathSource,
  Input,
  Output,
  StreamTarget,
  WebMOutputFormat,
  type InputAudioTrack,
  type InputTrack,
  type InputVideoTrack,
  type StreamTargetChunk,
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

/** A byte range whose final content is known. */
interface Overlay {
  readonly position: number;
  readonly bytes: Uint8Array;
}

/** How many bytes at the start of a cluster hold its id and its (patched) size. */
const CLUSTER_HEAD_BYTES = 16;

interface Opened {
  readonly input: Input;
  readonly track: InputTrack;
  readonly file: TrackFile;
}

let zeroBuffer = new Uint8Array(64 * 1024);
/** `length` zero bytes (a view of one shared buffer; the muxer copies what it keeps). */
function zeros(length: number): Uint8Array {
  if (zeroBuffer.byteLength < length) zeroBuffer = new Uint8Array(length * 2);
  return zeroBuffer.subarray(0, length);
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

/**
 * One mux pass into `writable`. `onCluster` sees each finished cluster; `onProgress` the share of the packets
 * read so far (0–1). Resolves to the media duration in seconds.
 */
async function muxPass(
  files: readonly TrackFile[],
  writable: WritableStream<StreamTargetChunk>,
  hooks: {
    onSegmentHeader?: (data: Uint8Array, position: number) => void;
    onCluster?: (data: Uint8Array, position: number) => void;
    onProgress?: (fraction: number) => void;
    /**
     * Sizes only: packets are read without their data and muxed as zeros of the same length (the layout and
     * every patched field are the same; the bytes written are thrown away).
     */
    sizesOnly?: boolean;
  },
): Promise<number> {
  const opened = await openTracks(files);
  try {
    const output = new Output({
      format: new WebMOutputFormat({
        ...(hooks.onSegmentHeader ? { onSegmentHeader: hooks.onSegmentHeader } : {}),
        ...(hooks.onCluster ? { onCluster: hooks.onCluster } : {}),
      }),
      target: new StreamTarget(writable, { chunked: true, chunkSize: 1024 * 1024 }),
    });
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
    const durations = await Promise.all(opened.map((o) => o.track.computeDuration()));
    const total = durations.reduce((a, b) => a + b, 0) || 1;
    const done = durations.map(() => 0);
    await output.start();
    let end = 0;
    await Promise.all(
      feeds.map(async ({ track, file, source }, i) => {
        const decoderConfig = await (track as InputAudioTrack | InputVideoTrack).getDecoderConfig();
        let first = true;
        // A recording starts whenever everyone has consented, often between two video key frames: the
        // frames before the first key frame cannot be decoded (and the muxer refuses them), and a late
        // packet from before the last key frame would go back in time. Both are left out.
        let keySeen = !(source instanceof EncodedVideoPacketSource);
        let latest = -Infinity;
        let floor = -Infinity;
        const options = hooks.sizesOnly ? { metadataOnly: true } : {};
        for await (const packet of new EncodedPacketSink(track).packets(undefined, undefined, options)) {
          if (!keySeen && packet.type !== 'key') continue;
          keySeen = true;
          const timestamp = packet.timestamp + file.offsetSeconds;
          if (packet.type === 'key' && source instanceof EncodedVideoPacketSource) floor = latest;
          if (timestamp < floor) continue;
          latest = Math.max(latest, timestamp);
          const moved = hooks.sizesOnly
            ? packet.clone({ timestamp, data: zeros(packet.byteLength) })
            : packet.clone({ timestamp });
          end = Math.max(end, timestamp + packet.duration);
          const meta = first && decoderConfig ? { decoderConfig } : undefined;
          if (source instanceof EncodedVideoPacketSource) {
            await source.add(moved, meta);
          } else {
            await source.add(moved, meta as EncodedAudioChunkMetadata | undefined);
          }
          first = false;
          done[i] = packet.timestamp + packet.duration;
          hooks.onProgress?.(Math.min(1, done.reduce((a, b) => a + b, 0) / total));
        }
        source.close();
      }),
    );
    await output.finalize();
    return end;
  } finally {
    for (const o of opened) o.input.dispose();
  }
}

/** Pass 1: the final bytes of every field the muxer patches, and the file's size. */
async function finalFields(files: readonly TrackFile[]): Promise<{ overlays: Overlay[]; size: number }> {
  let headerEnd = Number.POSITIVE_INFINITY;
  let header = new Uint8Array(0);
  let size = 0;
  const clusterHeads: Overlay[] = [];
  const writable = new WritableStream<StreamTargetChunk>({
    write(chunk) {
      size = Math.max(size, chunk.position + chunk.data.byteLength);
      // Keep (and keep patching) everything before the first cluster: the header is patched at the end.
      const upTo = Math.min(headerEnd, chunk.position + chunk.data.byteLength);
      if (chunk.position >= upTo) return;
      if (header.byteLength < upTo) {
        const grown = new Uint8Array(upTo);
        grown.set(header);
        header = grown;
      }
      header.set(chunk.data.subarray(0, upTo - chunk.position), chunk.position);
    },
  });
  await muxPass(files, writable, {
    sizesOnly: true,
    onSegmentHeader: (data, position) => {
      headerEnd = position + data.byteLength;
    },
    onCluster: (data, position) => {
      clusterHeads.push({ position, bytes: data.slice(0, CLUSTER_HEAD_BYTES) });
    },
  });
  const head = header.subarray(0, Math.min(header.byteLength, headerEnd));
  return { overlays: [{ position: 0, bytes: head }, ...clusterHeads], size };
}

function overlay(chunk: Uint8Array, position: number, overlays: readonly Overlay[]): void {
  const end = position + chunk.byteLength;
  for (const o of overlays) {
    const from = Math.max(position, o.position);
    const to = Math.min(end, o.position + o.bytes.byteLength);
    if (from < to) chunk.set(o.bytes.subarray(from - o.position, to - o.position), from - position);
  }
}

/** Muxed bytes waiting for the consumer before the muxer is held back (memory stays constant). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/**
 * Muxes `files` into one WebM and yields its bytes in order (each yielded buffer is the caller's to keep).
 * `onProgress` gets 0–1 while the final bytes are produced. Returns (as the generator's return value) what
 * the file holds. Throws on a file mediabunny cannot read or a muxer failure.
 */
export async function* muxToWebm(
  files: readonly TrackFile[],
  options: { onProgress?: (fraction: number) => void } = {},
): AsyncGenerator<Buffer, MuxSummary, undefined> {
  const { overlays, size } = await finalFields(files);
  // Pass 2: the same bytes, in order, with the final fields laid over them.
  const queue: Buffer[] = [];
  let queued = 0;
  let drained: (() => void) | undefined;
  let committed = 0;
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  const writable = new WritableStream<StreamTargetChunk>({
    write(chunk) {
      const end = chunk.position + chunk.data.byteLength;
      if (end <= committed) return; // a seek back: its final value went out already
      if (chunk.position > committed) throw new Error('muxer left a gap in its output');
      const fresh = Buffer.from(chunk.data.subarray(committed - chunk.position));
      overlay(fresh, committed, overlays);
      committed = end;
      queue.push(fresh);
      queued += fresh.length;
      wake?.();
      // Backpressure: the muxer waits (mediabunny awaits the writer's readiness) while the consumer is behind.
      if (queued > MAX_QUEUED_BYTES) return new Promise<void>((resolve) => (drained = resolve));
      return undefined;
    },
  });
  const run = muxPass(files, writable, options.onProgress ? { onProgress: options.onProgress } : {}).then(
    (duration) => {
      finished = true;
      wake?.();
      return duration;
    },
    (error: unknown) => {
      failure = error;
      finished = true;
      wake?.();
      return 0;
    },
  );
  for (;;) {
    const next = queue.shift();
    if (next) {
      queued -= next.length;
      if (queued <= MAX_QUEUED_BYTES && drained) {
        drained();
        drained = undefined;
      }
      yield next;
      continue;
    }
    if (finished) break;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
  const durationSeconds = await run;
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new Error('the muxer failed', { cause: failure });
  if (committed !== size) throw new Error(`muxer passes disagree (${committed} vs ${size} bytes)`);
  return {
    sizeBytes: committed,
    durationSeconds,
    audioTracks: files.filter((f) => f.kind === 'audio').length,
    videoTracks: files.filter((f) => f.kind === 'video').length,
  };
}
