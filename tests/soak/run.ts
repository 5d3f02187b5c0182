/**
 * `npm run soak`: the long forms of the fault (and tamper) suites. Runs every `tests/<suite>/<name>.soak.ts`
 * one after the other (or only those whose name contains an argument: `npm run soak -- faults`), prints each
 * case's counts and problems, writes them to bench-results/soak-<timestamp>.json, and exits 1 when a case
 * found a problem or failed. Durations: HAVEN_SOAK_MINUTES (default 10) per case that honours it.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { SoakCase, SoakResult } from './soak';

const TESTS = join(__dirname, '..');

function soakFiles(): string[] {
  return readdirSync(TESTS, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.soak.ts'))
    .map((f) => join(TESTS, f))
    .sort();
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const files = soakFiles().filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)));
  if (files.length === 0) throw new Error(`no soak case matches ${wanted.join(' ')}`);
  const results: Record<string, SoakResult | { error: string }> = {};
  let failed = false;
  for (const file of files) {
    const name = relative(TESTS, file);
    process.stdout.write(`soak: ${name} …\n`);
    const started = Date.now();
    try {
      const mod = (await import(file)) as SoakCase;
      const result = await mod.run({ log: (line) => process.stdout.write(`  ${line}\n`) });
      results[name] = result;
      if (result.problems.length > 0) failed = true;
      process.stdout.write(
        `soak: ${name} ${result.problems.length === 0 ? 'held' : 'FOUND PROBLEMS'} in ` +
          `${((Date.now() - started) / 1000).toFixed(0)} s\n${JSON.stringify(result.counts, null, 2)}\n` +
          result.problems
            .slice(0, 50)
            .map((p) => `  problem: ${p}\n`)
            .join(''),
      );
    } catch (error) {
      failed = true;
      results[name] = { error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
      process.stdout.write(`soak: ${name} failed: ${String(error)}\n`);
    }
  }
  const dir = join(TESTS, '..', 'bench-results');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`soak: results written to ${out}\n`);
  process.exit(failed ? 1 : 0);
}

main().catch((error: unknown) => {
  process.stderr.write(`soak: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
