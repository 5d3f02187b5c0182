/**
 * The bench runner with made-up benches, for run.int.spec.ts: `throws` fails and leaves an interval running
 * (as a follower's timers did after a real bench failed), `passes` resolves with a number.
 * `node -r ts-node/register/transpile-only tests/bench/run-fixture.ts <names…>`, results in BENCH_RESULTS_DIR.
 */
import { main } from './run';

const resultsDir = process.env['BENCH_RESULTS_DIR'];
if (resultsDir === undefined) throw new Error('BENCH_RESULTS_DIR is not set');

void main(
  {
    passes: async () => ({ opsPerSecond: 1 }),
    throws: async () => {
      setInterval(() => undefined, 1_000);
      throw new Error('bench failed on purpose');
    },
  },
  process.argv.slice(2),
  { resultsDir, exitGraceMs: 1_000 },
);
