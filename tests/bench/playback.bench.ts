/**
 * Recording playback latency on loopback, through the real path: browser-like HTTP range request → gateway →
 * recording service (mutual TLS gRPC) → grant check, chunk reads and authentication of the 1 MiB window,
 * RecordingViewed + PhiAccessed appended to JetStream → first byte. Measured: time to the first body byte of
 * `bytes=0-` (start) and of `bytes=<random offset>-` (seek), interleaved with the same requests to a plain Node
 * HTTP server serving the plaintext from memory (the floor: no decryption, no audit, no gRPC).
 * Target (issue 15): p50 ≤ 50 ms. Reports numbers; does not pass or fail.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JetStreamEventStore } from '@haven/eventstore';
import { CookieJar } from '../../services/gateway/test/gateway';
import { STACK_PASSWORD, startStack } from '../../services/gateway/test/stack';
import { seedAvailableRecording } from '../../services/recording/src/testing';
import { interleaved, spread } from './stats';
import { runWhenMain } from './main';

const MiB = 1024 * 1024;

/** Milliseconds from the request to its first body byte; the rest of the answer is abandoned. */
async function firstByte(url: string, range: string, jar?: CookieJar): Promise<number> {
  const started = performance.now();
  const res = jar ? await jar.fetch(url, { headers: { range } }) : await fetch(url, { headers: { range } });
  if (res.status !== 206) throw new Error(`expected 206, got ${res.status}`);
  const reader = res.body!.getReader();
  const first = (await reader.read()) as { done: boolean; value?: Uint8Array };
  const ms = performance.now() - started;
  if (first.done || !first.value || first.value.length === 0) throw new Error('empty body');
  await reader.cancel();
  return ms;
}

/** The floor: Range over plaintext in memory, nothing else. */
function plainServer(bytes: Buffer): Promise<Server> {
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = Number(m?.[1] ?? 0);
    const end = Math.min(bytes.length, start + MiB);
    res.writeHead(206, {
      'content-range': `bytes ${start}-${end - 1}/${bytes.length}`,
      'content-length': String(end - start),
    });
    res.end(bytes.subarray(start, end));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function run(opts: { runs?: number; sizeMiB?: number } = {}) {
  const runs = Math.min(Math.max(opts.runs ?? 40, 4), 400);
  const size = (opts.sizeMiB ?? 64) * MiB;
  const t0 = performance.now();
  const stack = await startStack({ recordingEnv: {} });
  const store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'playback-bench' });
  const plain = randomBytes(size);
  const floor = await plainServer(plain);
  try {
    const clinicianId = await stack.createUser('bench@rec.test', 'clinician', 'Dr Bench');
    await seedAvailableRecording({
      store,
      dataDir: stack.recordingDataDir!,
      recordingId: 'rec-bench',
      clinicianId,
      plaintext: plain,
    });
    const jar = new CookieJar();
    await jar.fetch(`${stack.url}/`);
    await jar.post(`${stack.url}/api/auth/login`, { username: 'bench@rec.test', password: STACK_PASSWORD });
    const stackStartMs = performance.now() - t0;

    const grants: number[] = [];
    let url = '';
    for (let i = 0; i < Math.min(runs, 20); i++) {
      const started = performance.now();
      const r = await jar.post(`${stack.url}/api/recordings/rec-bench/playback`, { purpose: 'treatment' });
      grants.push(performance.now() - started);
      url = `${stack.url}${((await r.json()) as { url: string }).url}`;
    }
    const floorUrl = `http://127.0.0.1:${(floor.address() as AddressInfo).port}/`;
    for (let i = 0; i < 3; i++) await firstByte(url, 'bytes=0-', jar); // warm-up (connections, JIT)
    const start = await interleaved(
      runs,
      () => firstByte(url, 'bytes=0-', jar),
      () => firstByte(floorUrl, 'bytes=0-'),
    );
    const offsets = Array.from({ length: runs }, () => randomInt(0, size - MiB));
    let k = 0;
    let j = 0;
    const seek = await interleaved(
      runs,
      () => firstByte(url, `bytes=${offsets[k++ % runs]}-`, jar),
      () => firstByte(floorUrl, `bytes=${offsets[j++ % runs]}-`),
    );
    const first = spread(start.a);
    const seeks = spread(seek.a);
    return {
      name: 'recording-playback-latency',
      unit: 'ms',
      runs,
      recordingBytes: size,
      windowBytes: MiB,
      firstByte: first,
      seek: seeks,
      grant: spread(grants),
      floor: { firstByte: spread(start.b), seek: spread(seek.b) },
      targets: { firstByteP50AtMost50: first.p50 <= 50, seekP50AtMost50: seeks.p50 <= 50 },
      stackStartMs: Math.round(stackStartMs),
      totalMs: Math.round(performance.now() - t0),
    };
  } finally {
    await new Promise<void>((resolve) => floor.close(() => resolve()));
    await store.close();
    await stack.stop();
  }
}

runWhenMain(module, () => run({ runs: Number(process.argv[2] ?? 40) }));
