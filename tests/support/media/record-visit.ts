/**
 * Real raw recordings for the recording pipeline's tests and benchmark: Janus and Chromium (fake camera and
 * microphone) in a private network namespace, PUBLISHERS participants publishing for SECONDS into a room that
 * records into `recDir` (see record-visit-driver.ts). Needs root (netns); callers gate on `netnsGate()`.
 * Run directly (`node -r ts-node/register/transpile-only tests/support/media/record-visit.ts <dir> [seconds]`)
 * it leaves the `.mjr` files of a short two-party visit in `<dir>`.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createNetns, runInNetns, startJanus } from '@haven/testing';
import type { RecordVisitResult } from './record-visit-driver';

const DRIVER = join(__dirname, 'record-visit-driver.ts');

/** Records a visit of `publishers` participants for `seconds` into `recDir` (created). Resolves to what Janus wrote. */
export async function recordVisit(options: {
  readonly recDir: string;
  readonly seconds: number;
  readonly publishers?: number;
}): Promise<RecordVisitResult> {
  mkdirSync(options.recDir, { recursive: true, mode: 0o700 });
  chmodSync(options.recDir, 0o700);
  const ns = await createNetns();
  try {
    const janus = await startJanus({
      netns: ns.name,
      tokenAuthSecret: `rec-${Date.now()}-secret`,
      iceEnforceList: ns.iface,
      recordingsDir: join(options.recDir, '..'),
    });
    try {
      return await runInNetns<RecordVisitResult>(
        ns,
        DRIVER,
        {
          JANUS_WS_URL: janus.wsUrl,
          JANUS_TOKEN_SECRET: janus.tokenSecret ?? '',
          REC_DIR: options.recDir,
          SECONDS: String(options.seconds),
          PUBLISHERS: String(options.publishers ?? 2),
        },
        { timeoutMs: 60_000 + options.seconds * 1500 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- janus log ---\n${janus.logTail(40)}`, { cause: err });
    } finally {
      await janus.stop();
    }
  } finally {
    await ns.destroy();
  }
}

if (require.main === module) {
  const [dir, seconds] = process.argv.slice(2);
  if (!dir) throw new Error('usage: record-visit.ts <dir> [seconds]');
  recordVisit({ recDir: dir, seconds: Number(seconds ?? '3') }).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
