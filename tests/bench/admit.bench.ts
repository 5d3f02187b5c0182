/**
 * Admit → first decoded video frame in the patient's Chromium, through the whole stack (scheduling, session,
 * Janus, web/src/visit) inside a private network namespace, against a raw janus.js subscriber join → first
 * frame measured in the same run with the same browsers and room. Needs root (network namespaces).
 * Targets (issue 5): p50 ≤ 300 ms and ≤ 1.5 × raw. Reports numbers; does not pass or fail.
 * Stand-alone: `node -r ts-node/register/transpile-only tests/bench/admit.bench.ts [runs]`.
 */
import { join } from 'node:path';
import type { AdmitBenchDriverResult } from '../e2e/support/admit-bench-driver';
import { createNetns, runInNetns } from '@haven/testing';
import { spread, type Spread } from './stats';
import { runWhenMain } from './main';

/** Result of {@link run}. */
export interface AdmitBenchResult {
  readonly name: 'admit-to-first-frame';
  readonly unit: 'ms';
  readonly runs: number;
  readonly admit: Spread & { readonly samples: number[] };
  /** The admit RPC alone (part of `admit`). */
  readonly admitRpc: Spread;
  readonly raw: Spread & { readonly samples: number[] };
  /** admit.p50 / raw.p50. */
  readonly ratioP50: number;
  readonly targets: { readonly p50AtMost300: boolean; readonly p50AtMost1_5xRaw: boolean };
  readonly stackStartMs: number;
  readonly totalMs: number;
}

/**
 * Measures `runs` (default 20, max 100) admissions. Throws Error when namespaces are unavailable or a run fails.
 */
export async function run(opts: { runs?: number } = {}): Promise<AdmitBenchResult> {
  const runs = Math.min(Math.max(opts.runs ?? 20, 1), 100);
  const ns = await createNetns();
  try {
    const r = await runInNetns<AdmitBenchDriverResult>(
      ns,
      join(__dirname, '..', 'e2e', 'support', 'admit-bench-driver.ts'),
      { RUNS: String(runs) },
      { timeoutMs: 60_000 + runs * 6_000 },
    );
    const admit = spread(r.admitToFirstFrameMs);
    const raw = spread(r.rawJoinToFirstFrameMs);
    const ratioP50 = Math.round((admit.p50 / raw.p50) * 100) / 100;
    return {
      name: 'admit-to-first-frame',
      unit: 'ms',
      runs: r.admitToFirstFrameMs.length,
      admit: { ...admit, samples: r.admitToFirstFrameMs },
      admitRpc: spread(r.admitRpcMs),
      raw: { ...raw, samples: r.rawJoinToFirstFrameMs },
      ratioP50,
      targets: { p50AtMost300: admit.p50 <= 300, p50AtMost1_5xRaw: ratioP50 <= 1.5 },
      stackStartMs: r.stackStartMs,
      totalMs: r.totalMs,
    };
  } finally {
    await ns.destroy();
  }
}

runWhenMain(module, () => run({ runs: Number(process.argv[2] ?? 20) }));
