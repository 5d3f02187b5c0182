/**
 * What every benchmark file does when it is run directly (`node -r ts-node/register x.bench.ts [args]`) rather
 * than through run.ts: runs `bench`, prints its JSON result, or prints the error and exits with code 1.
 */
export function runWhenMain(mod: NodeModule, bench: () => Promise<unknown>): void {
  if (require.main !== mod) return;
  bench().then(
    (result) => process.stdout.write(`${JSON.stringify(result, null, 2)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
