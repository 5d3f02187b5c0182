/**
 * The fault suite, short version (issue 11): concurrent clients with their own idempotency keys book and cancel
 * through scheduling while nats-server is killed (-9) and stopped (SIGSTOP), scheduling and audit are killed
 * (-9), the session service (whose booking consumer opens a visit per booking) is killed (-9), and the TCP proxy
 * between the services and NATS adds latency, resets connections and black-holes them. Afterwards: every
 * acknowledged command exists exactly once, nothing a client was told failed was stored, no orphan reservation
 * or half booking is left, every booking has its visit, and the audit ledger equals the store.
 * The long version is `npm run soak` (tests/fault/faults.soak.ts).
 */
import { faultCycle, runFaultScenario } from './support/scenario';
import { startFaultStack, type FaultStack } from './support/fault-stack';

jest.setTimeout(240_000);

let stack: FaultStack | undefined;

beforeAll(async () => {
  stack = await startFaultStack();
});

afterAll(async () => {
  await stack?.stop();
});

it('keeps every acknowledged command exactly once and leaves no partial trace under faults', async () => {
  const lines: string[] = [];
  const faults = faultCycle(2_000, 3_400);
  const result = await runFaultScenario(stack!, {
    durationMs: 32_000,
    concurrency: 6,
    faults,
    log: (line) => lines.push(line),
  });
  const { report } = result;
  const summary = JSON.stringify({ ...report, problems: report.problems.slice(0, 20) }, null, 2);
  process.stdout.write(`fault suite: ${summary}\n${lines.join('\n')}\n`);
  // The run must have been a real one: load acknowledged, faults played, clients had to retry.
  expect(result.faultErrors).toEqual([]);
  expect(result.faultsRun).toHaveLength(faults.length);
  expect(report.acknowledged).toBeGreaterThan(20);
  expect(report.retries).toBeGreaterThan(0);
  if (report.problems.length > 0) {
    throw new Error(`${summary}\n${lines.join('\n')}\n${stack!.logs(15)}`);
  }
  expect(report).toMatchObject({
    duplicatesFound: 0,
    orphansFound: 0,
    halfBookingsFound: 0,
    lostFound: 0,
    phantomsFound: 0,
    visits: { missing: 0, openAfterCancel: 0 },
    ledger: { missing: 0, extra: 0, repeated: 0 },
  });
});
