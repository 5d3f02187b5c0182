/**
 * Encryption throughput of the recording pipeline's encrypt step (`encryptChunks` / `encryptFile`:
 * AES-256-GCM in authenticated chunks, data key wrapped by a local keyring), in the same run as its baselines:
 *
 * - Node's own `crypto` AES-256-GCM over one buffer (one cipher, 1 MiB `update`s): the ceiling for anything
 *   written with node:crypto; target: the in-memory stream ≥ 90 % of it.
 * - `openssl speed -evp aes-256-gcm` (16 KiB blocks, in memory).
 * - In memory: a 2 GiB plaintext streamed from a generator (1 MiB pieces) through `encryptChunks` into a
 *   consumer that counts bytes; RSS growth sampled every 2 ms and every 16 pieces (target ≤ 64 MiB: constant
 *   memory). The Transform `createEncryptStream` on the same input, for comparison.
 * - File to file: `encryptFile` / `decryptFile` on a temp file, against `openssl enc -aes-256-ctr` on the same
 *   file (`openssl enc` has no AEAD mode; CTR is the same AES core without authentication).
 *
 * The machine may be shared: rounds alternate the contenders and the medians are compared.
 * Stand-alone: `node --expose-gc -r ts-node/register/transpile-only tests/bench/crypto.bench.ts [fileMiB] [streamMiB]`
 * (needs `npx tsc -b packages/crypto` first: `@haven/crypto` resolves to its dist).
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import {
  LocalKeyringKms,
  STREAM_FORMAT,
  createEncryptStream,
  decryptFile,
  encryptChunks,
  encryptFile,
  type Kms,
} from '@haven/crypto';
import { runWhenMain } from './main';
import { median } from './stats';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;

/** Result of {@link run}. */
export interface CryptoBenchResult extends Record<string, unknown> {
  readonly name: 'crypto-stream-encrypt';
  readonly unit: 'MB/s';
  readonly rounds: number;
  readonly chunkSize: number;
  /** Node's AES-256-GCM on one buffer (one cipher, 1 MiB updates), per round. */
  readonly nodeGcm: {
    readonly bufferBytes: number;
    readonly MBps: number[];
    readonly medianMBps: number;
    /** Bytes per second of CPU time (user + system): stable when the machine is shared. */
    readonly cpuMBps: number[];
    readonly medianCpuMBps: number;
  };
  readonly opensslSpeed:
    | {
        readonly command: string;
        readonly version: string;
        readonly MBps: number[];
        readonly medianMBps: number;
      }
    | { readonly skipped: string };
  /**
   * The recording pipeline's encrypt step, `encryptChunks` (a pull stream that frees each ciphertext piece once
   * the consumer asks for the next), from a generator to a counting consumer.
   */
  readonly inMemory: {
    readonly plaintextBytes: number;
    readonly MBps: number[];
    readonly medianMBps: number;
    /** Largest RSS growth over the pre-run baseline, sampled every 2 ms. */
    readonly peakRssDeltaMiB: number;
    /**
     * The same for a 256 MiB input, in the same rounds: equal to the above when memory does not grow with the
     * input. Both include the cipher's output buffers V8 has not collected yet (it collects external memory
     * after some tens of MiB), since the baseline is taken right after a forced GC.
     */
    readonly peakRssDeltaMiB256: number;
    /** median(in-memory stream) / median(Node GCM on one buffer), wall clock; target ≥ 0.9. */
    readonly ratioToNodeGcm: number;
    readonly cpuMBps: number[];
    readonly medianCpuMBps: number;
    /** The same ratio in CPU time: what the code costs, whatever else the machine runs. */
    readonly ratioToNodeGcmCpu: number;
    /**
     * The Transform `createEncryptStream` on the same input: its pushed ciphertext waits for V8 to collect it
     * (external memory, collected every ~64 MiB), so its RSS grows by that much.
     */
    readonly transform: {
      readonly cpuMBps: number[];
      readonly medianCpuMBps: number;
      readonly peakRssDeltaMiB: number;
    };
  };
  readonly fileToFile: {
    readonly fileBytes: number;
    readonly encryptMBps: number[];
    readonly decryptMBps: number[];
    readonly medianEncryptMBps: number;
    readonly medianDecryptMBps: number;
    readonly opensslEncCtrMBps: number[] | null;
    readonly medianOpensslEncCtrMBps: number | null;
    readonly peakRssDeltaMiB: number;
    readonly roundTripVerified: boolean;
  };
  readonly note: string;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const mbps = (bytes: number, ms: number): number => round1(bytes / 1e6 / (ms / 1000));

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path, { mode: 0o600 });
  for (let written = 0; written < bytes; written += MiB) {
    if (!out.write(randomBytes(Math.min(MiB, bytes - written)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** CPU time of this process (all threads, user + system) in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Runs `body` while sampling RSS every 2 ms; returns its wall time, the process's CPU time over it and the
 * peak RSS growth in bytes.
 */
async function measured(
  body: (sample: () => void) => Promise<void>,
): Promise<{ ms: number; cpu: number; rssDelta: number }> {
  gc();
  const base = process.memoryUsage.rss();
  let max = base;
  // The timer alone misses peaks: an in-memory stream rarely yields to the event loop. The body samples too.
  const sample = (): void => {
    max = Math.max(max, process.memoryUsage.rss());
  };
  const sampler = setInterval(sample, 2);
  const c0 = cpuMs();
  const t0 = performance.now();
  try {
    await body(sample);
  } finally {
    clearInterval(sampler);
  }
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  max = Math.max(max, process.memoryUsage.rss());
  return { ms, cpu, rssDelta: max - base };
}

/**
 * Node's AES-256-GCM over one buffer: one cipher, fed in 1 MiB slices so that the output allocation is
 * recycled (one 256 MiB update would mostly measure the kernel zeroing 256 MiB of fresh pages).
 */
function nodeGcmOnce(buffer: Buffer): { wall: number; cpu: number } {
  const c0 = cpuMs();
  const t0 = performance.now();
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
  for (let offset = 0; offset < buffer.length; offset += MiB)
    cipher.update(buffer.subarray(offset, offset + MiB));
  cipher.final();
  cipher.getAuthTag();
  return { wall: mbps(buffer.length, performance.now() - t0), cpu: mbps(buffer.length, cpuMs() - c0) };
}

/**
 * `total` bytes of plaintext (`piece` over and over) through the recording pipeline's encrypt step, the pull
 * stream `encryptChunks` (`pull`), or through the Transform `createEncryptStream` (`transform`), into a consumer
 * that counts the bytes (and samples RSS every 16 pieces).
 */
async function streamOnce(
  kms: Kms,
  piece: Buffer,
  total: number,
  mode: 'pull' | 'transform' = 'pull',
): Promise<{ ms: number; cpu: number; rssDelta: number }> {
  let seen = 0;
  let pieces = 0;
  const plaintext = function* (): Generator<Buffer> {
    for (let n = 0; n < total; n += piece.length) yield piece;
  };
  if (mode === 'pull') {
    const result = await measured(async (sample) => {
      for await (const c of encryptChunks(kms, plaintext())) {
        seen += c.length;
        if ((++pieces & 15) === 0) sample();
      }
    });
    if (seen <= total) throw new Error(`encryptChunks yielded ${seen} bytes for ${total} of plaintext`);
    return result;
  }
  let sample = (): void => undefined;
  const source = Readable.from(plaintext(), { objectMode: false });
  const sink = new Writable({
    highWaterMark: STREAM_FORMAT.defaultChunkSize,
    write(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if ((++pieces & 15) === 0) sample();
      callback();
    },
    writev(chunks, callback) {
      for (const { chunk } of chunks) seen += (chunk as Buffer).length;
      sample();
      callback();
    },
  });
  const result = await measured((s) => {
    sample = s;
    return pipeline(source, createEncryptStream(kms), sink);
  });
  if (seen <= total) throw new Error(`encrypt stream wrote ${seen} bytes for ${total} of plaintext`);
  return result;
}

/** `openssl speed -evp aes-256-gcm -bytes 16384 -seconds 1`: MB/s, or undefined when openssl is missing. */
async function opensslSpeed(): Promise<number | undefined> {
  try {
    const { stdout } = await execFileP('openssl', [
      'speed',
      '-elapsed',
      '-seconds',
      '1',
      '-bytes',
      '16384',
      '-evp',
      'aes-256-gcm',
    ]);
    // Last line: "AES-256-GCM   123456.78k" (1000s of bytes per second).
    const match = /([\d.]+)k\s*$/.exec(stdout.trim());
    return match === null ? undefined : round1(Number(match[1]) / 1000);
  } catch {
    return undefined;
  }
}

/**
 * Runs the benchmark: `fileMiB` (default 256) for the file-to-file numbers, `streamMiB` (default 2048) for the
 * in-memory stream, `rounds` (default 3). Temp files are always deleted.
 */
export async function run(
  opts: { fileMiB?: number; streamMiB?: number; rounds?: number } = {},
): Promise<CryptoBenchResult> {
  const fileBytes = Math.min(Math.max(opts.fileMiB ?? 256, 1), 4096) * MiB;
  const streamBytes = Math.min(Math.max(opts.streamMiB ?? 2048, 1), 16384) * MiB;
  const rounds = Math.min(Math.max(opts.rounds ?? 3, 1), 10);
  const dir = await fs.mkdtemp(join(tmpdir(), 'haven-crypto-bench-'));
  try {
    const plain = join(dir, 'plain.bin');
    const ours = join(dir, 'haven.enc');
    const back = join(dir, 'haven.dec');
    const theirs = join(dir, 'openssl.enc');
    await writeRandomFile(plain, fileBytes);
    const kms = await LocalKeyringKms.open({ file: join(dir, 'keys', 'keyring.json'), create: true });
    let opensslVersion: string | undefined;
    try {
      opensslVersion = (await execFileP('openssl', ['version'])).stdout.trim();
    } catch {
      opensslVersion = undefined;
    }
    const key = randomBytes(32).toString('hex');
    const iv = randomBytes(16).toString('hex');
    const opensslEnc = () =>
      execFileP('openssl', ['enc', '-aes-256-ctr', '-K', key, '-iv', iv, '-in', plain, '-out', theirs]);
    const gcmBuffer = randomBytes(256 * MiB);
    const piece = randomBytes(MiB);

    // Warm-up (JIT, page cache), not measured.
    nodeGcmOnce(gcmBuffer.subarray(0, 16 * MiB));
    await streamOnce(kms, piece, 64 * MiB);
    await encryptFile(kms, plain, ours);
    if (opensslVersion !== undefined) await opensslEnc();

    const nodeGcm: number[] = [];
    const nodeGcmCpu: number[] = [];
    const streamCpu: number[] = [];
    const speed: number[] = [];
    const stream: number[] = [];
    const enc: number[] = [];
    const dec: number[] = [];
    const ossl: number[] = [];
    let streamPeak = 0;
    let transformPeak = 0;
    const transformCpu: number[] = [];
    let smallPeak = 0;
    let filePeak = 0;
    for (let r = 0; r < rounds; r++) {
      for (const g of [nodeGcmOnce(gcmBuffer), nodeGcmOnce(gcmBuffer)]) {
        nodeGcm.push(g.wall);
        nodeGcmCpu.push(g.cpu);
      }
      const s = await streamOnce(kms, piece, streamBytes);
      stream.push(mbps(streamBytes, s.ms));
      streamCpu.push(mbps(streamBytes, s.cpu));
      streamPeak = Math.max(streamPeak, s.rssDelta);
      smallPeak = Math.max(smallPeak, (await streamOnce(kms, piece, 256 * MiB)).rssDelta);
      const t = await streamOnce(kms, piece, streamBytes, 'transform');
      transformCpu.push(mbps(streamBytes, t.cpu));
      transformPeak = Math.max(transformPeak, t.rssDelta);
      if (opensslVersion !== undefined) {
        const mb = await opensslSpeed();
        if (mb !== undefined) speed.push(mb);
      }

      await fs.rm(ours, { force: true });
      const e = await measured(async () => {
        await encryptFile(kms, plain, ours);
      });
      enc.push(mbps(fileBytes, e.ms));
      filePeak = Math.max(filePeak, e.rssDelta);
      const t2 = performance.now();
      await decryptFile(kms, ours, back);
      dec.push(mbps(fileBytes, performance.now() - t2));
      if (opensslVersion !== undefined) {
        await fs.rm(theirs, { force: true });
        const t3 = performance.now();
        await opensslEnc();
        ossl.push(mbps(fileBytes, performance.now() - t3));
      }
    }
    const roundTripVerified = (await sha256(plain)) === (await sha256(back));
    const nodeMedian = median(nodeGcm);
    return {
      name: 'crypto-stream-encrypt',
      unit: 'MB/s',
      rounds,
      chunkSize: STREAM_FORMAT.defaultChunkSize,
      nodeGcm: {
        bufferBytes: gcmBuffer.length,
        MBps: nodeGcm,
        medianMBps: nodeMedian,
        cpuMBps: nodeGcmCpu,
        medianCpuMBps: median(nodeGcmCpu),
      },
      opensslSpeed:
        opensslVersion === undefined || speed.length === 0
          ? { skipped: 'openssl not found on PATH, or its output was not understood' }
          : {
              command: 'openssl speed -elapsed -seconds 1 -bytes 16384 -evp aes-256-gcm',
              version: opensslVersion,
              MBps: speed,
              medianMBps: median(speed),
            },
      inMemory: {
        plaintextBytes: streamBytes,
        MBps: stream,
        medianMBps: median(stream),
        peakRssDeltaMiB: round1(streamPeak / MiB),
        peakRssDeltaMiB256: round1(smallPeak / MiB),
        ratioToNodeGcm: Math.round((median(stream) / nodeMedian) * 100) / 100,
        cpuMBps: streamCpu,
        medianCpuMBps: median(streamCpu),
        ratioToNodeGcmCpu: Math.round((median(streamCpu) / median(nodeGcmCpu)) * 100) / 100,
        transform: {
          cpuMBps: transformCpu,
          medianCpuMBps: median(transformCpu),
          peakRssDeltaMiB: round1(transformPeak / MiB),
        },
      },
      fileToFile: {
        fileBytes,
        encryptMBps: enc,
        decryptMBps: dec,
        medianEncryptMBps: median(enc),
        medianDecryptMBps: median(dec),
        opensslEncCtrMBps: ossl.length > 0 ? ossl : null,
        medianOpensslEncCtrMBps: ossl.length > 0 ? median(ossl) : null,
        peakRssDeltaMiB: round1(filePeak / MiB),
        roundTripVerified,
      },
      note:
        "MB/s = 10^6 bytes/s; cpuMBps per second of this process's CPU time (a shared machine slows wall time). " +
        'Node GCM is measured twice per round. openssl enc has no ' +
        'AEAD mode, so the file baseline is openssl enc -aes-256-ctr (same AES core, no authentication, includes ' +
        'process start-up and its own file I/O).',
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

runWhenMain(module, () => {
  const fileMiB = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  const streamMiB = process.argv[3] === undefined ? undefined : Number(process.argv[3]);

  return run({
    ...(fileMiB === undefined ? {} : { fileMiB }),
    ...(streamMiB === undefined ? {} : { streamMiB }),
  });
});
