/**
 * The fuzz suite, long version (`npm run soak -- fuzz`): the short version's run (fuzz-run.ts) for
 * HAVEN_SOAK_MINUTES (default 10) with more calls in flight, over one stack of the real services. Prints calls,
 * status codes, rejected calls, appends for rejected calls (must be 0) and the seed; every problem found.
 */
import type { SoakResult } from '../soak/soak';
import { startServiceStack } from '../support/service-stack';
import { FUZZ_IDENTITY_ENV } from './fuzz-env';
import { runFuzz } from './fuzz-run';

export async function run(options: { log: (line: string) => void }): Promise<SoakResult> {
  const minutes = Number(process.env['HAVEN_SOAK_MINUTES'] ?? '10');
  const seed = Number(process.env['HAVEN_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
  const stack = await startServiceStack({ identityEnv: FUZZ_IDENTITY_ENV });
  try {
    return await runFuzz(stack, {
      calls: Number.MAX_SAFE_INTEGER,
      durationMs: Math.max(1, minutes) * 60_000,
      concurrency: 12,
      seed,
      log: options.log,
    });
  } finally {
    await stack.stop();
  }
}
