/**
 * The fault suite's flaky-network soak (`npm run soak -- flaky`): the setup of issue 11's report — a proxy
 * between the services and NATS adding 200 ms of latency and dropping every connection every 10 s — for
 * HAVEN_SOAK_MINUTES (default 10), clients allowing 10 s per attempt (a booking takes several NATS round
 * trips: at 400 ms each it needs seconds). Prints the counts; any duplicate, phantom, orphan or lost result is a
 * problem.
 */
import type { SoakResult } from '../soak/soak';
import { startFaultStack } from './support/fault-stack';
import { runFaultScenario, soakResult } from './support/scenario';

export async function run(options: { log: (line: string) => void }): Promise<SoakResult> {
  const minutes = Number(process.env['HAVEN_SOAK_MINUTES'] ?? '10');
  const durationMs = Math.max(1, minutes) * 60_000;
  const stack = await startFaultStack();
  try {
    stack.proxy.set({ latencyMs: 200, jitterMs: 50, resetEveryMs: 10_000 });
    const result = await runFaultScenario(stack, {
      durationMs,
      concurrency: 8,
      clinicians: 4,
      faults: [],
      attemptDeadlineMs: 10_000,
      settleMs: 60_000,
      log: options.log,
    });
    return soakResult(stack, result, { minutes, log: options.log });
  } finally {
    await stack.stop();
  }
}
