/**
 * A driver is the part of a test that runs in its own process (a browser and a whole stack): it prints one JSON
 * line with what it saw and exits 0, or names its failure on stderr and exits 1. The spec runs it and reads
 * that line.
 */

/** Runs `main` as the driver `name`: its result as one JSON line on stdout, or its failure on stderr. */
export function runDriver(
  name: string,
  main: () => Promise<unknown>,
  options: { stack?: boolean } = {},
): void {
  main().then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      const why =
        err instanceof Error ? (options.stack ? (err.stack ?? err.message) : err.message) : String(err);
      process.stderr.write(`${name} failed: ${why}\n`);
      process.exit(1);
    },
  );
}

/**
 * `err`, its stack trace and the last lines of the services' logs in one error (why a driver failed). The
 * message is said again after the logs: a spec shows only the end of a driver's output, and the reason must
 * not be the part cut off.
 */
export function withLogs(err: unknown, logs: string): Error {
  const why = err instanceof Error ? err.message : String(err);
  const full = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return new Error(`${full}\n${logs}\n--- the failure ---\n${why.slice(0, 1500)}`, { cause: err });
}
