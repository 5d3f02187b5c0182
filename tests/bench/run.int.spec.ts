/**
 * The bench runner ends its process: after it wrote its results, with code 1 when a bench threw (even one that
 * left a timer running, as a follower's did) and 0 when every bench finished. Run as `npm run bench` runs it,
 * with made-up benches (run-fixture.ts).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, spawnChild, type Child } from '@haven/testing';

/** Far above ts-node's start and the fixture's 1 s grace; a runner that hangs is killed here. */
const BOUND_MS = 30_000;

let resultsDir: string;
const children: Child[] = [];

beforeEach(() => {
  resultsDir = mkdtempSync(join(tmpdir(), 'haven-bench-run-'));
});

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop({ signal: 'SIGKILL' })));
  rmSync(resultsDir, { recursive: true, force: true });
});

/** Runs the fixture with `names`; resolves with how it ended (or `still running`) and how long it took. */
async function runRunner(...names: string[]): Promise<{ ended: string; ms: number; child: Child }> {
  const started = Date.now();
  const child = spawnChild({
    name: 'bench-runner',
    command: process.execPath,
    args: ['-r', 'ts-node/register/transpile-only', join(REPO_ROOT, 'tests/bench/run-fixture.ts'), ...names],
    cwd: REPO_ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      TS_NODE_PROJECT: join(REPO_ROOT, 'tests/bench/tsconfig.json'),
      BENCH_RESULTS_DIR: resultsDir,
    },
  });
  children.push(child);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([child.done, new Promise((resolve) => (timer = setTimeout(resolve, BOUND_MS)))]);
  clearTimeout(timer);
  return { ended: child.exitReason ?? 'still running', ms: Date.now() - started, child };
}

/** The results file the runner wrote. */
function results(): Record<string, unknown> {
  const files = readdirSync(resultsDir);
  expect(files).toHaveLength(1);
  return (
    JSON.parse(readFileSync(join(resultsDir, files[0]!), 'utf8')) as { results: Record<string, unknown> }
  ).results;
}

describe('npm run bench', () => {
  it('exits with 1 after a bench threw and left a timer running, once its results are written', async () => {
    const run = await runRunner('throws', 'passes');
    expect(run.ended).toBe('exited with 1');
    expect(results()).toEqual({
      throws: { error: 'bench failed on purpose' },
      passes: { opsPerSecond: 1 },
    });
    expect(run.child.output()).toMatch(/bench: results written to/);
  });

  it('exits with 0 when every bench finished', async () => {
    const run = await runRunner('passes');
    expect(run.ended).toBe('exited with 0');
    expect(results()).toEqual({ passes: { opsPerSecond: 1 } });
  });

  it('exits with 1 for an unknown bench, before running any', async () => {
    const run = await runRunner('passes', 'nope');
    expect(run.ended).toBe('exited with 1');
    expect(run.child.output()).toMatch(/unknown benchmark nope/);
    expect(run.child.output()).not.toMatch(/bench: passes/);
    expect(readdirSync(resultsDir)).toEqual([]);
  });
});
