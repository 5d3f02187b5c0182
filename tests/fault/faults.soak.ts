/**
 * The fault suite, long version (`npm run soak -- faults`): the short version's scenario for
 * HAVEN_SOAK_MINUTES (default 10) with more clients, the fault cycle repeating (latency, resets, kill -9 of
 * scheduling, SIGSTOP of nats-server, blackhole, kill -9 of nats-server, kill -9 of audit, kill -9 of session,
 * periodic resets) over a network that is never quite clean (30 ms latency between faults). Prints operations,
 * retries, duplicates, orphans, half bookings, lost and phantom results, visits, and the ledger comparison.
 */
import type { SoakResult } from '../soak/soak';
import { startFaultStack } from './support/fault-stack';
import { faultCycle, runFaultScenario, soakResult, type FaultStep } from './support/scenario';

export async function run(options: { log: (line: string) => void }): Promise<SoakResult> {
  const minutes = Number(process.env['HAVEN_SOAK_MINUTES'] ?? '10');
  const durationMs = Math.max(1, minutes) * 60_000;
  const steps = faultCycle(0, 1).length;
  const spacingMs = Math.min(8_000, Math.floor((durationMs - 2_000) / steps));
  const cycleMs = steps * spacingMs;
  const faults: FaultStep[] = [];
  for (let from = 2_000; from + cycleMs <= durationMs; from += cycleMs) {
    faults.push(
      ...faultCycle(from, spacingMs).map((step) => ({
        ...step,
        run: async (stack: Parameters<FaultStep['run']>[0]) => {
          await step.run(stack);
          stack.proxy.set({ latencyMs: 30, jitterMs: 20 });
        },
      })),
    );
  }
  const stack = await startFaultStack({ restartReadiness: 'liveness' });
  try {
    const result = await runFaultScenario(stack, {
      durationMs,
      concurrency: 12,
      clinicians: 8,
      faults,
      settleMs: 60_000,
      log: options.log,
    });
    return soakResult(stack, result, { minutes, log: options.log });
  } finally {
    await stack.stop();
  }
}
