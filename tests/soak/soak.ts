/**
 * What a soak case exports: `run()` resolving with its counts and the problems it found. A soak case is a file
 * `tests/<suite>/<name>.soak.ts`; `npm run soak` (tests/soak/run.ts) finds and runs them all.
 */
export interface SoakResult {
  /** Numbers worth printing (operations, retries, duplicates found…). */
  readonly counts: Readonly<Record<string, number | string>>;
  /** Every problem found; empty when the case held. */
  readonly problems: readonly string[];
}

/** A soak case module. */
export interface SoakCase {
  run(options: { readonly log: (line: string) => void }): Promise<SoakResult>;
}
