/** Shared statistics for the benchmarks: nearest-rank percentiles over sorted samples. */

/** The nearest-rank `p`th percentile (0–100) of ascending `sorted` samples; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/** Samples sorted ascending (a copy). */
export const ascending = (samples: readonly number[]): number[] => [...samples].sort((a, b) => a - b);

/** The median of `samples` (the mean of the two middle ones for an even count); NaN when empty. */
export function median(samples: readonly number[]): number {
  const s = ascending(samples);
  const m = Math.floor(s.length / 2);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Rounds to microsecond precision for millisecond values. */
export const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Arithmetic mean; 0 for no samples. */
export const mean = (samples: readonly number[]): number =>
  samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);

/** The `pN` percentiles named in `ps` and the mean of `samples`, each rounded by {@link round3}. */
export function summary<P extends number>(
  samples: readonly number[],
  ps: readonly P[],
): { readonly [K in P as `p${K}`]: number } & { readonly mean: number } {
  const sorted = ascending(samples);
  return {
    ...Object.fromEntries(ps.map((p) => [`p${p}`, round3(percentile(sorted, p))])),
    mean: round3(mean(sorted)),
  } as { readonly [K in P as `p${K}`]: number } & { readonly mean: number };
}

/** Latencies in milliseconds: the median, the 99th percentile and the mean, each rounded by {@link round3}. */
export interface LatencyMs {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
}

/** The {@link LatencyMs} of `samples` (milliseconds). */
export function latencyMs(samples: readonly number[]): LatencyMs {
  const { p50, p99, mean } = summary(samples, [50, 99]);
  return { p50Ms: p50, p99Ms: p99, meanMs: mean };
}

/** Where latencies fall: the median, the 95th percentile and the extremes, each rounded by {@link round3}. */
export interface Spread {
  readonly p50: number;
  readonly p95: number;
  readonly min: number;
  readonly max: number;
}

/** The {@link Spread} of `samples`; NaN each when there are none. */
export function spread(samples: readonly number[]): Spread {
  const sorted = ascending(samples);
  return {
    p50: round3(percentile(sorted, 50)),
    p95: round3(percentile(sorted, 95)),
    min: round3(percentile(sorted, 0)),
    max: round3(percentile(sorted, 100)),
  };
}

/**
 * Runs `a` and `b` `n` times each, alternating call by call (a b, b a, a b, …) so both see the machine at the
 * same moment: on a shared machine the speed drifts from one second to the next, and blocks of calls would
 * measure the drift instead of the difference. Each call resolves to its own latency (ms). `every(i)` runs
 * after pair `i` (e.g. to trim an in-memory exporter).
 */
export async function interleaved(
  n: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
  every?: (i: number) => void,
): Promise<{ a: number[]; b: number[] }> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
    every?.(i);
  }
  return { a: as, b: bs };
}
