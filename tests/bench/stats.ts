/** Shared statistics for the benchmarks: nearest-rank percentiles over sorted samples. */

/** The nearest-rank `p`th percentile (0–100) of ascending `sorted` samples; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/** Samples sorted ascending (a copy). */
export const ascending = (samples: readonly number[]): number[] => [...samples].sort((a, b) => a - b);

/** Rounds to microsecond precision for millisecond values. */
export const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Arithmetic mean; 0 for no samples. */
export const mean = (samples: readonly number[]): number =>
  samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
