/**
 * The recording pipeline: for a recording in PROCESSING, its raw Janus files (`<recordings dir>/<id>/*.mjr`)
 * → janus-pp-rec (one Opus or VP8 file per track, in a 0700 work folder inside the recordings dir, which is
 * memory-backed in the chart) → one WebM, laid out from an index of the converted files and written front to
 * back (mux.ts, ADR 0020; tracks aligned by the raw files' first-packet times) straight into the chunked
 * AES-256-GCM encryption with a fresh data key (KMS context `{ recording: "recordings/<id>" }`) → the object
 * store; the converted tracks are deleted as soon as they are encrypted. Plaintext never leaves the
 * memory-backed folder. Ends in RecordingEncrypted or RecordingProcessingFailed; the raw files and every
 * intermediate are deleted either way.
 *
 * After a crash (kill -9 mid-processing) {@link RecordingPipeline.recover} finds what the run left — converted
 * tracks, a partial (or complete but unrecorded) ciphertext object, the raw files — removes the partial output,
 * and resumes from the raw files when they are still there or fails the recording when they are not, appending
 * RecordingProcessingRecovered (`resumed` / `discarded`) to say which.
 *
 * Recordings are processed one at a time (media conversion is CPU-bound; the machine is shared).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { encryptChunks, type Kms } from '@haven/crypto';
import type { CommandMetadata, Logger } from '@haven/service';
import type { RecordingProjection } from '../recording/projection';
import { FailureReason, type RecordingMedia } from '../recording/recording';
import type { Recordings } from '../recording/recordings';
import {
  ConversionError,
  UnsupportedCodecError,
  convertTrack,
  listRawTracks,
  type RawTrack,
} from './janus-pp-rec';
import { indexTrackFile, planMux, type MuxSummary, type TrackFile } from './mux';
import type { TrackIndex } from './track-index';
import { StorageFullError, type ObjectStore } from './object-store';

/** Media type of the recordings. */
export const RECORDING_CONTENT_TYPE = 'video/webm';
/** Plaintext bytes per encrypted chunk (playback decrypts ranges chunk by chunk). */
export const RECORDING_CHUNK_SIZE = 256 * 1024;
/** Name of the work folder inside the recordings directory. */
export const WORK_FOLDER = '.processing';

/** The object key of a recording's ciphertext. */
export function objectKeyOf(recordingId: string): string {
  return `recordings/${recordingId}.webm.henc`;
}

/** The KMS context of a recording's data key. */
export function recordingKmsContext(recordingId: string): { recording: string } {
  return { recording: `recordings/${recordingId}` };
}

/** What the pipeline needs. */
export interface PipelineDeps {
  readonly recordings: Recordings;
  readonly projection: RecordingProjection;
  readonly objects: ObjectStore;
  /** The recordings directory (`HAVEN_RECORDINGS_DIR`); undefined: nothing can be processed. */
  readonly recordingsDir: string | undefined;
  /** The KMS that wraps recording `id`'s data key. */
  readonly kmsFor: (recordingId: string) => Kms;
  readonly logger: Logger;
  /** The janus-pp-rec binary (default from PATH). */
  readonly janusPpRec?: string;
  /**
   * This process's name (its host name: a container restarted after a crash keeps it). Recordings it took
   * are recovered when it starts again; another process's only once they went quiet for `staleAfterMs`.
   */
  readonly processor?: string;
  /** How long a recording may go without an event before another process takes it over. Default 10 min. */
  readonly staleAfterMs?: number;
  /**
   * Only recordings made on this Janus node (a processor beside it: their raw files are in its memory-backed
   * folder, which no other process sees). Undefined: every recording.
   */
  readonly janusNode?: string;
  readonly clock?: () => Date;
}

/** A failure with the reason the event names. */
class ProcessingError extends Error {
  override readonly name = 'ProcessingError';
  constructor(
    readonly reason: FailureReason,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

/**
 * The offset of each track from the earliest first packet, and a PHI-free name per participant feed; the tracks
 * that start first come first (a player plays the first audio and video track by default: not those of someone
 * who joined late), participants numbered in that order.
 */
export function trackLayout(raw: readonly RawTrack[], converted: readonly string[]): TrackFile[] {
  const start = Math.min(...raw.map((t) => t.firstPacketMicros));
  const order = raw
    .map((t, i) => ({ t, path: converted[i]! }))
    .sort((a, b) => a.t.firstPacketMicros - b.t.firstPacketMicros);
  const feeds = [...new Set(order.map(({ t }) => t.feed))];
  return order.map(({ t, path }) => ({
    path,
    kind: t.kind,
    offsetSeconds: Math.max(0, (t.firstPacketMicros - start) / 1e6),
    name: `participant ${feeds.indexOf(t.feed) + 1} ${t.kind === 'audio' ? 'microphone' : 'video'}`,
  }));
}

/** The wrapped data key in an encrypted object's header (see STREAM_FORMAT in @haven/crypto). */
function wrappedKeyOf(header: Buffer): { kekId: string; ciphertext: string } {
  const length = header.readUInt16BE(24);
  return JSON.parse(header.subarray(26, 26 + length).toString('utf8')) as {
    kekId: string;
    ciphertext: string;
  };
}

async function spaceLeft(dir: string): Promise<number> {
  const s = await fs.statfs(dir).catch(() => undefined);
  return s ? s.bavail * s.bsize : Number.POSITIVE_INFINITY;
}

function isNoSpace(error: unknown): boolean {
  return error instanceof StorageFullError || (error as NodeJS.ErrnoException).code === 'ENOSPC';
}

export class RecordingPipeline {
  readonly #deps: PipelineDeps;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  #running: Promise<void> | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
  }

  /** The work folder (0700) inside the recordings directory. */
  get workDir(): string | undefined {
    return this.#deps.recordingsDir ? join(this.#deps.recordingsDir, WORK_FOLDER) : undefined;
  }

  /** Queues a recording in PROCESSING; processing runs in the background, one at a time. */
  enqueue(recordingId: string): void {
    if (this.#closed || this.#queued.has(recordingId)) return;
    this.#queued.add(recordingId);
    this.#queue.push(recordingId);
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
  }

  /** Resolves when the queue is empty. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Runs {@link recover} every `intervalMs` (the timer is unref'd and stopped by {@link close}). */
  startRecoveryChecks(intervalMs = 60_000): void {
    this.#timer ??= setInterval(() => {
      this.recover().catch((error: unknown) =>
        this.#deps.logger.warn({ err: error }, 'recovery check failed'),
      );
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops taking work; resolves when the current recording is done. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#closed = true;
    this.#queue.length = 0;
    await this.idle();
  }

  async #drain(): Promise<void> {
    for (let id = this.#queue.shift(); id !== undefined; id = this.#queue.shift()) {
      try {
        await this.process(id);
      } catch (error) {
        this.#deps.logger.error({ recordingId: id, err: error }, 'recording processing could not finish');
      } finally {
        this.#queued.delete(id);
      }
    }
  }

  /**
   * At start (and then every minute, see {@link startRecoveryChecks}): a recording still PROCESSING that this
   * process took but is not working on, that nobody claimed, or whose processor went quiet for `staleAfterMs`,
   * was interrupted. Removes what its run left, then resumes
   * it (raw files still there) or fails it (`RAW_FILES_LOST`), with a RecordingProcessingRecovered event
   * saying which. Also removes work folders of recordings that are no longer processing.
   */
  async recover(): Promise<void> {
    const work = this.workDir;
    const { janusNode } = this.#deps;
    const processing = this.#deps.projection
      .all()
      .filter((r) => r.status === 'processing' && (janusNode === undefined || r.janusNode === janusNode));
    const now = (this.#deps.clock ?? (() => new Date()))().getTime();
    const staleAfter = this.#deps.staleAfterMs ?? 10 * 60_000;
    const interrupted = processing.filter(
      (r) =>
        !this.#queued.has(r.recordingId) &&
        (r.processor === undefined ||
          r.processor === this.#deps.processor ||
          now - Date.parse(r.lastEventAt ?? '') > staleAfter),
    );
    const partials = new Set(await this.#deps.objects.partials());
    for (const r of interrupted) {
      const id = r.recordingId;
      const intermediates = work ? await this.#removeDir(join(work, id)) : 0;
      const key = objectKeyOf(id);
      const complete = await this.#deps.objects.size(key).then(
        () => true,
        () => false,
      );
      const partialObjectsRemoved = (partials.has(key) ? 1 : 0) + (complete ? 1 : 0);
      if (partialObjectsRemoved > 0) await this.#deps.objects.delete(key);
      const rawFiles = this.#deps.recordingsDir
        ? await this.#countRaw(join(this.#deps.recordingsDir, id))
        : 0;
      const action = rawFiles > 0 ? 'resumed' : 'discarded';
      const { metadata } = await this.#deps.recordings.nextStep(id, `recover-${id}`);
      await this.#deps.recordings.command(
        id,
        {
          type: 'RecoverProcessing',
          data: {
            action,
            rawFiles,
            intermediatesRemoved: intermediates,
            partialObjectsRemoved,
            ...(this.#deps.processor !== undefined ? { processor: this.#deps.processor } : {}),
          },
        },
        metadata,
      );
      this.#deps.logger.warn(
        { recordingId: id, action, rawFiles, intermediates, partialObjectsRemoved },
        'interrupted recording processing recovered',
      );
      if (action === 'resumed') this.enqueue(id);
      else {
        await this.#deps.recordings.command(
          id,
          { type: 'FailProcessing', data: { reason: FailureReason.RawFilesLost } },
          metadata,
        );
      }
    }
    // Leftovers of recordings that finished (or never existed here): plaintext, removed.
    if (work) {
      const active = new Set(processing.map((r) => r.recordingId));
      const names = await fs.readdir(work).catch(() => [] as string[]);
      for (const name of names) if (!active.has(name)) await this.#removeDir(join(work, name));
    }
  }

  /** Processes one recording if it is PROCESSING. Appends the outcome; throws only when that append fails. */
  async process(recordingId: string): Promise<void> {
    // The outcome below is decided on the stream as it is then (the command reads it again); this read only
    // says whether to start, and what the step is caused by.
    const { state, metadata } = await this.#deps.recordings.nextStep(recordingId, `process-${recordingId}`);
    if (state.status !== 'processing') return;
    if (this.#deps.janusNode !== undefined && state.janusNode !== this.#deps.janusNode) return;
    const started = Date.now();
    try {
      const { media, summary } = await this.#run(recordingId, metadata);
      await this.#deps.recordings.command(
        recordingId,
        {
          type: 'CompleteProcessing',
          data: { ...media, tracks: { audio: summary.audioTracks, video: summary.videoTracks } },
        },
        metadata,
      );
      this.#deps.logger.info(
        {
          recordingId,
          ms: Date.now() - started,
          bytes: media.sizeBytes,
          tracks: summary.audioTracks + summary.videoTracks,
        },
        'recording encrypted and stored',
      );
    } catch (error) {
      const reason = await this.#reasonOf(error);
      this.#deps.logger.warn({ recordingId, reasonCode: reason, err: error }, 'recording processing failed');
      await this.#deps.objects.delete(objectKeyOf(recordingId)).catch(() => undefined);
      // The plaintext goes before the outcome is told: whoever reads "failed" finds nothing left behind.
      await this.#cleanUp(recordingId);
      await this.#deps.recordings.command(
        recordingId,
        { type: 'FailProcessing', data: { reason } },
        metadata,
      );
    } finally {
      await this.#cleanUp(recordingId);
    }
  }

  async #reasonOf(error: unknown): Promise<FailureReason> {
    if (error instanceof ProcessingError) return error.reason;
    if (isNoSpace(error)) return FailureReason.NoSpace;
    if (error instanceof UnsupportedCodecError) return FailureReason.ConversionFailed;
    if (error instanceof ConversionError) {
      // janus-pp-rec does not say why it failed; a full work folder is the usual reason.
      const work = this.workDir;
      return work && (await spaceLeft(work)) < 1024 * 1024
        ? FailureReason.NoSpace
        : FailureReason.ConversionFailed;
    }
    return FailureReason.ConversionFailed;
  }

  async #run(
    recordingId: string,
    metadata: CommandMetadata,
  ): Promise<{ media: RecordingMedia; summary: MuxSummary }> {
    const { recordingsDir } = this.#deps;
    const work = this.workDir;
    if (!recordingsDir || !work) throw new ProcessingError(FailureReason.NoRawFiles);
    const raw = await listRawTracks(join(recordingsDir, recordingId));
    if (raw.length === 0) throw new ProcessingError(FailureReason.NoRawFiles);
    await fs.mkdir(work, { recursive: true, mode: 0o700 });
    await fs.chmod(work, 0o700);
    const own = join(work, recordingId);
    await fs.mkdir(own, { recursive: true, mode: 0o700 });
    const { report: progress, settled } = this.#progress(recordingId, metadata);
    try {
      return await this.#convertMuxStore(recordingId, raw, own, progress);
    } finally {
      await settled();
    }
  }

  async #convertMuxStore(
    recordingId: string,
    raw: readonly RawTrack[],
    own: string,
    progress: (fraction: number) => void,
  ): Promise<{ media: RecordingMedia; summary: MuxSummary }> {
    const { janusPpRec } = this.#deps;
    // Two conversions at a time: janus-pp-rec is single-threaded and mostly waits on I/O. The biggest files
    // first (the video tracks), so the small ones fill in beside them instead of trailing at the end.
    const converted: string[] = new Array<string>(raw.length);
    // Each converted file is indexed as soon as it is written (in this process, while janus-pp-rec converts
    // the next ones); the mux waits for all of them.
    const indexing = new Map<string, Promise<TrackIndex>>();
    const sizes = await Promise.all(raw.map((t) => fs.stat(t.path).then((s) => s.size)));
    const order = raw.map((_, i) => i).sort((a, b) => sizes[b]! - sizes[a]!);
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      for (let n = next++; n < order.length; n = next++) {
        const i = order[n]!;
        const path = await convertTrack(raw[i]!, own, janusPpRec);
        converted[i] = path;
        const index = indexTrackFile({ path, kind: raw[i]!.kind });
        index.catch(() => undefined); // awaited below; a failure there fails the recording
        indexing.set(path, index);
        progress(0.3 * (++done / raw.length));
      }
    };
    const convertStart = performance.now();
    await Promise.all([worker(), worker()]);
    const convertMs = Math.round(performance.now() - convertStart);
    const files = trackLayout(raw, converted);
    const storeStart = performance.now();
    // The whole WebM is laid out from the indexes (sizes, cues, duration), then written front to back straight
    // into the encryption and the store: no muxed plaintext file.
    const mux = await planMux(
      files,
      files.map((f) => indexing.get(f.path)!),
    );
    const summary = mux.summary;
    const planMs = Math.round(performance.now() - storeStart);
    const kms = this.#deps.kmsFor(recordingId);
    const plaintext = mux.bytes({ onProgress: (f) => progress(0.3 + 0.6 * f) });
    // Pulled from the converted files into the object store: each ciphertext piece is freed once stored.
    const ciphertext = encryptChunks(kms, plaintext, {
      chunkSize: RECORDING_CHUNK_SIZE,
      context: recordingKmsContext(recordingId),
    });
    let header: Buffer | undefined;
    const withHeader = (async function* () {
      for await (const piece of ciphertext) {
        header ??= piece; // the encryption yields its whole header first (not lent)
        yield piece;
      }
    })();
    let stored: Awaited<ReturnType<ObjectStore['put']>>;
    try {
      stored = await this.#deps.objects.put(objectKeyOf(recordingId), withHeader);
    } finally {
      await plaintext.return(undefined);
      // The converted tracks go as soon as they are encrypted (or the attempt failed).
      await Promise.all(converted.map((path) => fs.rm(path, { force: true })));
    }
    this.#deps.logger.info(
      { recordingId, convertMs, planMs, muxEncryptStoreMs: Math.round(performance.now() - storeStart) },
      'recording converted, muxed, encrypted and stored',
    );
    await this.#removeDir(own);
    if (!header) throw new ProcessingError(FailureReason.EncryptionFailed);
    const wrapped = wrappedKeyOf(header);
    return {
      summary,
      media: {
        keyId: `dk-${createHash('sha256').update(wrapped.ciphertext).digest('hex').slice(0, 32)}`,
        wrappedKey: wrapped.ciphertext,
        kekId: wrapped.kekId,
        objectKey: objectKeyOf(recordingId),
        chunkSize: RECORDING_CHUNK_SIZE,
        sizeBytes: summary.sizeBytes,
        ciphertextSizeBytes: stored.sizeBytes,
        ciphertextSha256: stored.sha256,
        contentType: RECORDING_CONTENT_TYPE,
        durationMs: Math.round(summary.durationSeconds * 1000),
      },
    };
  }

  /**
   * Reports progress in steps of 10 % (at most 90: the outcome says 100), one event at a time in the
   * background; `settled` resolves once the last report is appended (before the outcome is).
   */
  #progress(
    recordingId: string,
    metadata: CommandMetadata,
  ): { report: (fraction: number) => void; settled: () => Promise<void> } {
    let reported = 0;
    let chain = Promise.resolve();
    const report = (fraction: number): void => {
      const percent = Math.min(90, Math.floor(fraction * 10) * 10);
      if (percent <= reported) return;
      reported = percent;
      chain = chain.then(() =>
        this.#deps.recordings
          .command(recordingId, { type: 'ReportProgress', data: { percent } }, metadata)
          .then(
            () => undefined,
            (error: unknown) => this.#deps.logger.warn({ recordingId, err: error }, 'progress not recorded'),
          ),
      );
    };
    return { report, settled: () => chain };
  }

  /** Deletes the recording's plaintext: converted tracks and raw files. */
  async #cleanUp(recordingId: string): Promise<void> {
    const work = this.workDir;
    if (work) await this.#removeDir(join(work, recordingId));
    if (this.#deps.recordingsDir) await this.#removeDir(join(this.#deps.recordingsDir, recordingId));
  }

  async #countRaw(dir: string): Promise<number> {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.mjr')).length;
  }

  /** Removes a folder; resolves to how many files it held. */
  async #removeDir(dir: string): Promise<number> {
    const names = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
    await fs.rm(dir, { recursive: true, force: true });
    return names.length;
  }
}
