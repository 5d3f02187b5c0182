/**
 * Streaming file encryption throughput: Haven's `encryptFile` (AES-256-GCM, 64 KiB authenticated chunks,
 * envelope key from a local keyring) against `openssl enc -aes-256-ctr` on the same 64 MiB temp file, in
 * the same run, alternating, 3 rounds each. `openssl enc` does not support AEAD ciphers (GCM), so the
 * baseline is AES-256-CTR: the same AES core without authentication. Also reports our decrypt throughput
 * and the peak RSS growth while our streaming encrypt runs (to show constant memory).
 * Stand-alone: `node --expose-gc -r ts-node/register/transpile-only tests/bench/crypto.bench.ts [sizeMiB]`
 * (needs `npx tsc -b packages/crypto` first: `@haven/crypto` resolves to its dist).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { LocalKeyringKms, decryptFile, encryptFile } from '@haven/crypto';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;

/** Result of {@link run}. */
export interface CryptoBenchResult extends Record<string, unknown> {
  readonly name: 'crypto-stream-encrypt';
  readonly unit: 'MB/s';
  readonly fileBytes: number;
  readonly rounds: number;
  readonly chunkSize: number;
  readonly haven: {
    readonly cipher: string;
    readonly encryptMBps: number[];
    readonly decryptMBps: number[];
    readonly medianEncryptMBps: number;
    readonly medianDecryptMBps: number;
  };
  readonly openssl:
    | {
        readonly cipher: string;
        readonly version: string;
        readonly encryptMBps: number[];
        readonly medianEncryptMBps: number;
      }
    | { readonly skipped: string };
  /** median(haven encrypt) / median(openssl encrypt); > 1 means Haven is faster. */
  readonly ratio: number | null;
  /** Largest RSS growth over the pre-encrypt baseline, sampled every 2 ms during our encrypts. */
  readonly peakRssDeltaMiB: number;
  readonly roundTripVerified: boolean;
  readonly note: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
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

/** Runs the benchmark: `sizeMiB` (default 64) plaintext, 3 rounds. Temp files are always deleted. */
export async function run(opts: { sizeMiB?: number; rounds?: number } = {}): Promise<CryptoBenchResult> {
  const bytes = Math.min(Math.max(opts.sizeMiB ?? 64, 1), 1024) * MiB;
  const rounds = Math.min(Math.max(opts.rounds ?? 3, 1), 10);
  const dir = await fs.mkdtemp(join(tmpdir(), 'haven-crypto-bench-'));
  try {
    const plain = join(dir, 'plain.bin');
    const ours = join(dir, 'haven.enc');
    const back = join(dir, 'haven.dec');
    const theirs = join(dir, 'openssl.enc');
    await writeRandomFile(plain, bytes);
    const kms = await LocalKeyringKms.open({ file: join(dir, 'keys', 'keyring.json'), create: true });

    let opensslVersion: string | undefined;
    try {
      opensslVersion = (await execFileP('openssl', ['version'])).stdout.trim();
    } catch {
      opensslVersion = undefined;
    }
    const key = randomBytes(32).toString('hex');
    const iv = randomBytes(16).toString('hex');

    const enc: number[] = [];
    const dec: number[] = [];
    const ossl: number[] = [];
    let peak = 0;
    // Warm-up (page cache, JIT) for both, not measured.
    await encryptFile(kms, plain, ours);
    if (opensslVersion !== undefined)
      await execFileP('openssl', ['enc', '-aes-256-ctr', '-K', key, '-iv', iv, '-in', plain, '-out', theirs]);

    for (let r = 0; r < rounds; r++) {
      await fs.rm(ours, { force: true });
      gc();
      const base = process.memoryUsage.rss();
      let max = base;
      const sampler = setInterval(() => {
        max = Math.max(max, process.memoryUsage.rss());
      }, 2);
      const t0 = performance.now();
      await encryptFile(kms, plain, ours);
      const t1 = performance.now();
      clearInterval(sampler);
      max = Math.max(max, process.memoryUsage.rss());
      peak = Math.max(peak, max - base);
      enc.push(mbps(bytes, t1 - t0));

      const t2 = performance.now();
      await decryptFile(kms, ours, back);
      dec.push(mbps(bytes, performance.now() - t2));

      if (opensslVersion !== undefined) {
        await fs.rm(theirs, { force: true });
        const t3 = performance.now();
        await execFileP('openssl', [
          'enc',
          '-aes-256-ctr',
          '-K',
          key,
          '-iv',
          iv,
          '-in',
          plain,
          '-out',
          theirs,
        ]);
        ossl.push(mbps(bytes, performance.now() - t3));
      }
    }
    const roundTripVerified = (await sha256(plain)) === (await sha256(back));
    const havenMedian = median(enc);
    const opensslMedian = ossl.length > 0 ? median(ossl) : undefined;
    return {
      name: 'crypto-stream-encrypt',
      unit: 'MB/s',
      fileBytes: bytes,
      rounds,
      chunkSize: 64 * 1024,
      haven: {
        cipher: 'aes-256-gcm (64 KiB chunks, file to file)',
        encryptMBps: enc,
        decryptMBps: dec,
        medianEncryptMBps: havenMedian,
        medianDecryptMBps: median(dec),
      },
      openssl:
        opensslVersion === undefined || opensslMedian === undefined
          ? { skipped: 'openssl not found on PATH' }
          : {
              cipher: 'aes-256-ctr',
              version: opensslVersion,
              encryptMBps: ossl,
              medianEncryptMBps: opensslMedian,
            },
      ratio: opensslMedian === undefined ? null : Math.round((havenMedian / opensslMedian) * 100) / 100,
      peakRssDeltaMiB: round1(peak / MiB),
      roundTripVerified,
      note:
        'openssl enc does not support GCM (no AEAD in enc), so the baseline is openssl enc -aes-256-ctr: same AES core, ' +
        'no authentication, includes process start-up. MB/s = 10^6 bytes/s.',
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const sizeMiB = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  run(sizeMiB === undefined ? {} : { sizeMiB })
    .then((result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    })
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
