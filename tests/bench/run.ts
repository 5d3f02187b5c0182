/**
 * `npm run bench`: runs every benchmark in this folder one after the other (each measures Haven against its
 * baseline side by side, in the same process), prints a summary and writes everything to
 * bench-results/bench-<timestamp>.json. `npm run bench -- eventstore grpc` runs only those.
 * Benchmarks print numbers; they do not pass or fail on them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const BENCHES: Record<string, () => Promise<Record<string, unknown>>> = {
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

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);
  const results: Record<string, unknown> = {};
  for (const name of names) {
    const bench = BENCHES[name];
    if (!bench) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.stdout.write(`bench: ${name} …\n`);
    const started = Date.now();
    try {
      results[name] = await bench();
    } catch (error) {
      results[name] = { error: error instanceof Error ? error.message : String(error) };
    }
    process.stdout.write(
      `bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n${JSON.stringify(results[name], null, 2)}\n`,
    );
  }
  const dir = join(__dirname, '..', '..', 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ node: process.version, cpus: cpus().length, results }, null, 2) + '\n',
  );
  process.stdout.write(`bench: results written to ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
