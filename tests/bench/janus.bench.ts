/**
 * Baseline: raw Janus subscriber join -> first decoded video frame (no Haven services in the path), measured
 * with the e2e media driver inside a private network namespace. Needs root (network namespaces).
 * `run()` returns JSON; the product's admit -> first frame benchmark is compared against it.
 * Stand-alone: `node -r ts-node/register/transpile-only tests/bench/janus.bench.ts [runs]`.
 */
import { join } from 'node:path';
import { createNetns, runInNetns, startJanus } from '@haven/testing';
import type { DriverResult } from '../support/media/janus-room-driver';
import { spread } from './stats';
import { runWhenMain } from './main';

/** Result of {@link run}. */
export interface JanusBenchResult {
  readonly name: 'janus-join-to-first-frame';
  readonly unit: 'ms';
  readonly runs: number;
  readonly p50: number;
  readonly p95: number;
  readonly min: number;
  readonly max: number;
  readonly samples: number[];
}

/**
 * Measures `runs` (default 20, max 100) subscriber joins against one publisher.
 * Throws Error when namespaces are unavailable or any join fails to show video.
 */
export async function run(opts: { runs?: number } = {}): Promise<JanusBenchResult> {
  const runs = Math.min(Math.max(opts.runs ?? 20, 1), 100);
  const ns = await createNetns();
  try {
    const janus = await startJanus({
      netns: ns.name,
      tokenAuthSecret: `bench-${Date.now()}-secret`,
      iceEnforceList: ns.iface,
    });
    try {
      const r = await runInNetns<DriverResult>(
        ns,
        join(__dirname, '..', 'support', 'media', 'janus-room-driver.ts'),
        { JANUS_WS_URL: janus.wsUrl, JANUS_TOKEN_SECRET: janus.tokenSecret ?? '', RUNS: String(runs) },
        { timeoutMs: 60_000 + runs * 5_000 },
      );
      return {
        name: 'janus-join-to-first-frame',
        unit: 'ms',
        runs: r.firstFrameMs.length,
        ...spread(r.firstFrameMs),
        samples: r.firstFrameMs,
      };
    } finally {
      await janus.stop();
    }
  } finally {
    await ns.destroy();
  }
}

runWhenMain(module, () => run({ runs: Number(process.argv[2] ?? 20) }));
