/**
 * `npm run bench`: runs every benchmark in this folder one after the other (each measures Haven against its
 * baseline side by side, in the same process), prints a summary and writes everything to
 * bench-results/bench-<timestamp>.json. `npm run bench -- eventstore grpc` runs only those.
 * Benchmarks print numbers; they do not pass or fail on them. The process exits with 1 when a bench threw (its
 * error is in the results), 0 otherwise, within 10 s of writing the results whatever a bench left open.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** A benchmark: resolves with its numbers. */
export type Bench = () => Promise<Record<string, unknown>>;

const BENCHES: Record<string, Bench> = {
  eventstore: async () => (await import('./eventstore.bench')).run(),
  schedule: async () => (await import('./schedule.bench')).run(),
  grpc: async () => ({ ...(await (await import('./grpc.bench')).run()) }),
  identity: async () => ({ ...(await (await import('./identity.bench')).run()) }),
  crypto: async () => ({ ...(await (await import('./crypto.bench')).run()) }),
  mtls: async () => ({ ...(await (await import('./mtls.bench')).run()) }),
  audit: async () => (await import('./audit.bench')).run(),
  'audit-watch': async () => (await import('./audit-watch.bench')).run(),
  outbox: async () => (await import('./outbox.bench')).run(),
  relay: async () => (await import('./relay.bench')).run(),
  janus: async () => ({ ...(await (await import('./janus.bench')).run({ runs: 20 })) }),
  admit: async () => ({ ...(await (await import('./admit.bench')).run({ runs: 20 })) }),
  recording: async () => ({ ...(await (await import('./recording.bench')).run()) }),
  playback: async () => ({ ...(await (await import('./playback.bench')).run({ runs: 40 })) }),
};

/** Where the runner writes its results and how long it waits for what a bench left open. */
export interface RunOptions {
  readonly resultsDir: string;
  /**
   * How long the process may stay up after the results are written: a bench that threw may have left a
   * follower's timers or a socket open, which would keep it alive for good. Then it exits anyway.
   */
  readonly exitGraceMs: number;
}

/** Runs `names` of `benches` one after the other and writes their results; resolves with those that threw. */
async function runBenches(
  benches: Readonly<Record<string, Bench>>,
  names: readonly string[],
  resultsDir: string,
): Promise<string[]> {
  const unknown = names.filter((name) => !Object.hasOwn(benches, name));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}`);
  }
  const results: Record<string, unknown> = {};
  const failed: string[] = [];
  for (const name of names) {
    process.stdout.write(`bench: ${name} …\n`);
    const started = Date.now();
    try {
      results[name] = await benches[name]!();
    } catch (error) {
      failed.push(name);
      results[name] = { error: error instanceof Error ? error.message : String(error) };
    }
    process.stdout.write(
      `bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n${JSON.stringify(results[name], null, 2)}\n`,
    );
  }
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ node: process.version, cpus: cpus().length, results }, null, 2) + '\n',
  );
  process.stdout.write(`bench: results written to ${file}\n`);
  return failed;
}

/**
 * Runs the benches named in `argv` (every one of `benches` when none is), writes their results and ends the
 * process: code 1 when a bench threw or a name is unknown (then none runs), 0 otherwise. It ends as soon as
 * nothing keeps it alive, at the latest `exitGraceMs` after the results. Never rejects.
 */
export async function main(
  benches: Readonly<Record<string, Bench>>,
  argv: readonly string[],
  options: RunOptions,
): Promise<void> {
  const wanted = argv.filter((a) => !a.startsWith('-'));
  let code = 1;
  try {
    const failed = await runBenches(
      benches,
      wanted.length > 0 ? wanted : Object.keys(benches),
      options.resultsDir,
    );
    if (failed.length > 0) process.stderr.write(`bench: failed: ${failed.join(', ')}\n`);
    code = failed.length > 0 ? 1 : 0;
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exitCode = code;
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().join(', ');
    process.stderr.write(
      `bench: still running ${options.exitGraceMs} ms after the results (${open}); exiting\n`,
    );
    process.exit(code);
  }, options.exitGraceMs).unref();
}

if (require.main === module) {
  void main(BENCHES, process.argv.slice(2), {
    resultsDir: join(__dirname, '..', '..', 'bench-results'),
    exitGraceMs: 10_000,
  });
}
