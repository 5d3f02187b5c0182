/**
 * Stop → playable encrypted recording: the recording pipeline (janus-pp-rec per track → one WebM laid out from
 * an index of the converted files and written straight into chunked AES-256-GCM → filesystem object store,
 * events in an in-memory store) against
 * janus-pp-rec alone converting the same `.mjr` files (one after the other), in the same run, alternating,
 * 3 rounds each after a warm-up round. The pipeline converts two tracks at a time. The raw
 * files come from a real visit: Janus and two Chromium publishers (fake camera and microphone) recorded for
 * HAVEN_BENCH_RECORDING_SECONDS (default 60; the target is a 10-minute visit: 600) in a network
 * namespace (root), or from an existing folder of `.mjr` files in HAVEN_BENCH_MJR_DIR.
 * Stand-alone: `TS_NODE_PROJECT=tests/bench/tsconfig.json node -r ts-node/register/transpile-only
 * tests/bench/recording.bench.ts` (after `npm run build`).
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { LocalKeyringKms } from '@haven/crypto';
import { InMemoryEventStore } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import { convertTrack, listRawTracks } from '../../services/recording/src/pipeline/janus-pp-rec';
import { FsObjectStore } from '../../services/recording/src/pipeline/object-store';
import { RecordingPipeline } from '../../services/recording/src/pipeline/pipeline';
import { RecordingProjection } from '../../services/recording/src/recording/projection';
import { Recordings } from '../../services/recording/src/recording/recordings';
import { givenProcessing } from '../../services/recording/src/testing';
import { recordVisit } from '../support/media/record-visit';
import { median, round3 } from './stats';

/** Result of {@link run}. */
export interface RecordingBenchResult extends Record<string, unknown> {
  readonly name: 'recording-pipeline';
  readonly unit: 's';
  readonly recordedSeconds: number;
  readonly rawFiles: number;
  readonly rawBytes: number;
  readonly rounds: number;
  /** janus-pp-rec alone on every raw file, one after the other (what the pipeline runs first). */
  readonly janusPpRecSeconds: number[];
  /** Whole pipeline, from "processing" to the RecordingEncrypted event. */
  readonly pipelineSeconds: number[];
  readonly medianJanusPpRecSeconds: number;
  readonly medianPipelineSeconds: number;
  /** median(pipeline) / median(janus-pp-rec alone); the target is ≤ 1.5. */
  readonly ratio: number;
  /**
   * Per counted round: janus-pp-rec inside the pipeline (two at a time), indexing the converted files and laying
   * out the WebM, and that plus writing it into the encryption and the store.
   */
  readonly pipelinePhasesMs: readonly { convertMs: number; planMs: number; muxEncryptStoreMs: number }[];
  readonly webmBytes: number;
  readonly ciphertextBytes: number;
  readonly note: string;
}

async function rawFiles(base: string): Promise<{ dir: string; seconds: number }> {
  const given = process.env['HAVEN_BENCH_MJR_DIR'];
  if (given) return { dir: given, seconds: Number.NaN };
  const seconds = Number(process.env['HAVEN_BENCH_RECORDING_SECONDS'] ?? '60');
  const dir = join(base, 'fixture', 'raw');
  const recorded = await recordVisit({ recDir: dir, seconds, publishers: 2 });
  return { dir, seconds: Math.round(recorded.recordedMs / 100) / 10 };
}

export async function run(options: { rounds?: number } = {}): Promise<RecordingBenchResult> {
  const rounds = options.rounds ?? 3;
  const base = mkdtempSync(join(tmpdir(), 'haven-recording-bench-'));
  try {
    const { dir, seconds } = await rawFiles(base);
    const names = readdirSync(dir).filter((n) => n.endsWith('.mjr'));
    const rawBytes = names.reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
    const recordingsDir = join(base, 'recordings');
    const dataDir = join(base, 'data');
    // The pipeline logs how long conversion and mux + encrypt + store took: kept per round.
    const phases: { convertMs: number; planMs: number; muxEncryptStoreMs: number }[] = [];
    const phaseLog = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (!line.includes('"convertMs"')) continue;
          const { convertMs, planMs, muxEncryptStoreMs } = JSON.parse(line) as (typeof phases)[number];
          phases.push({ convertMs, planMs, muxEncryptStoreMs });
        }
        done();
      },
    });
    const store = new InMemoryEventStore();
    const recordings = new Recordings(store);
    const kms = await LocalKeyringKms.open({ file: join(dataDir, 'keyring.json'), create: true });
    const objects = new FsObjectStore(join(dataDir, 'objects'));
    const pipeline = new RecordingPipeline({
      recordings,
      projection: new RecordingProjection(),
      objects,
      recordingsDir,
      kmsFor: () => kms,
      logger: createLogger({ service: 'bench', level: 'info', destination: phaseLog }),
    });
    const janus: number[] = [];
    const haven: number[] = [];
    let webmBytes = 0;
    let ciphertextBytes = 0;
    // Round 0 warms up (the service's JIT is warm after its first recording) and is not counted.
    for (let round = 0; round <= rounds; round++) {
      // janus-pp-rec alone: every track converted, one after the other.
      const out = join(base, `plain-${round}`);
      cpSync(dir, join(recordingsDir, `plain-${round}`), { recursive: true });
      cpSync(dir, out, { recursive: true });
      const tracks = await listRawTracks(out);
      let t0 = performance.now();
      for (const track of tracks) await convertTrack(track, out);
      if (round > 0) janus.push((performance.now() - t0) / 1000);
      rmSync(out, { recursive: true, force: true });
      rmSync(join(recordingsDir, `plain-${round}`), { recursive: true, force: true });

      // The pipeline: the same files, from "processing" to RecordingEncrypted.
      const id = `bench-${round}`;
      cpSync(dir, join(recordingsDir, id), { recursive: true });
      await givenProcessing(recordings, id, { visitId: 'v', clinicianId: 'c', patientId: 'p' });
      t0 = performance.now();
      await pipeline.process(id);
      if (round > 0) haven.push((performance.now() - t0) / 1000);
      const { state } = await recordings.load(id);
      if (state.status !== 'available') throw new Error(`the pipeline did not finish: ${state.status}`);
      webmBytes = state.media.sizeBytes;
      ciphertextBytes = state.media.ciphertextSizeBytes;
      await objects.delete(state.media.objectKey);
    }
    const medianJanus = median(janus);
    const medianHaven = median(haven);
    return {
      name: 'recording-pipeline',
      unit: 's',
      recordedSeconds: seconds,
      rawFiles: names.length,
      rawBytes,
      rounds,
      janusPpRecSeconds: janus.map(round3),
      pipelineSeconds: haven.map(round3),
      medianJanusPpRecSeconds: round3(medianJanus),
      medianPipelineSeconds: round3(medianHaven),
      ratio: Math.round((medianHaven / medianJanus) * 100) / 100,
      // Round 0 (warm-up) left out, like the timings above.
      pipelinePhasesMs: phases.slice(1),
      webmBytes,
      ciphertextBytes,
      note:
        'pipeline = janus-pp-rec per track (two at a time, biggest first) + an index of the converted files ' +
        '+ the WebM written front to back into AES-256-GCM chunks + fsync’d object; events in memory',
    };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (require.main === module) {
  run().then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
