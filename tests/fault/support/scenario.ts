/**
 * A fault scenario: the load driver runs against the fault stack while a schedule of faults plays out; then the
 * network heals, the stack settles (the booking reconciler finishes what faults interrupted, the audit service
 * catches up) and the checker compares the journal, the store and the ledger.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readEventLog } from '@haven/testing';
import { checkFaultRun, type FaultReport } from './checker';
import type { FaultStack, StackService } from './fault-stack';
import { runLoad, type Operation } from './load-driver';
import type { SoakResult } from '../../soak/soak';

/** One fault: at `at` ms after the load started, `run` hurts the stack (and undoes it when it should). */
export interface FaultStep {
  readonly at: number;
  readonly name: string;
  readonly run: (stack: FaultStack) => Promise<void>;
}

/**
 * The faults of issue 11, one after the other, `spacingMs` apart (each lasts less than the spacing): latency,
 * connection resets, kill -9 of scheduling, SIGSTOP of nats-server, a blackhole, kill -9 of nats-server, kill -9
 * of the audit service, kill -9 of the session service, periodic resets. Starts at `from` ms.
 */
export function faultCycle(from: number, spacingMs: number): FaultStep[] {
  const at = (i: number): number => from + i * spacingMs;
  const hold = Math.max(500, Math.floor(spacingMs * 0.6));
  /** A fault that `start` sets, held for `hold` ms, then undone by `end`. */
  const held = (
    i: number,
    name: string,
    start: (s: FaultStack) => unknown,
    end: (s: FaultStack) => unknown,
  ): FaultStep => ({
    at: at(i),
    name,
    run: async (s) => {
      await start(s);
      await sleep(hold);
      await end(s);
    },
  });
  /** kill -9 of what `target` picks, restarted 300 ms later; nothing when the stack runs without it. */
  const killAndRestart = (
    i: number,
    name: string,
    target: (s: FaultStack) => Pick<StackService, 'crash' | 'restart'> | undefined,
  ): FaultStep => ({
    at: at(i),
    name: `kill -9 ${name}, restart`,
    run: async (s) => {
      const victim = target(s);
      if (!victim) return;
      await victim.crash();
      await sleep(300);
      await victim.restart();
    },
  });
  const heal = (s: FaultStack): void => s.proxy.heal();
  return [
    held(0, 'latency 200 ms ± 100 ms', (s) => s.proxy.set({ latencyMs: 200, jitterMs: 100 }), heal),
    { at: at(1), name: 'reset every NATS connection', run: async (s) => s.proxy.resetAll() },
    killAndRestart(2, 'scheduling', (s) => s.scheduling),
    held(
      3,
      'SIGSTOP nats-server, SIGCONT',
      (s) => s.pauseNats(),
      (s) => s.resumeNats(),
    ),
    held(
      4,
      'blackhole between services and NATS',
      (s) => s.proxy.set({ blackhole: true }),
      (s) => s.proxy.set({ blackhole: false }),
    ),
    killAndRestart(5, 'nats-server', (s) => ({ crash: () => s.crashNats(), restart: () => s.restartNats() })),
    killAndRestart(6, 'audit', (s) => s.audit),
    killAndRestart(7, 'session', (s) => s.session),
    held(8, 'reset connections every 700 ms', (s) => s.proxy.set({ resetEveryMs: 700 }), heal),
  ];
}

/** Options of {@link runFaultScenario}. */
export interface ScenarioOptions {
  /** Load runs at least this long, and until every fault has played. */
  readonly durationMs: number;
  readonly concurrency: number;
  readonly faults: readonly FaultStep[];
  readonly clinicians?: number;
  /** Deadline of each client attempt (default the driver's, 3 s). */
  readonly attemptDeadlineMs?: number;
  /** After the load: how long the stack may take to settle before the check gives up waiting. Default 30 s. */
  readonly settleMs?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/** What a scenario did and what the checker found. */
export interface ScenarioResult {
  readonly report: FaultReport;
  readonly journal: readonly Operation[];
  readonly faultsRun: readonly string[];
  readonly faultErrors: readonly string[];
  readonly elapsedMs: number;
}

/** Runs load and faults, heals, settles and checks. Rejects only when the stack cannot be read at the end. */
export async function runFaultScenario(stack: FaultStack, options: ScenarioOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const faultsRun: string[] = [];
  const faultErrors: string[] = [];
  const clinicians = Array.from({ length: options.clinicians ?? 4 }, (_, i) => `clin-fault-${i}`);
  let faultsDone = false;
  const faults = (async () => {
    for (const step of [...options.faults].sort((a, b) => a.at - b.at)) {
      const wait = started + step.at - Date.now();
      if (wait > 0) await sleep(wait);
      log(`fault @${((Date.now() - started) / 1000).toFixed(1)} s: ${step.name}`);
      try {
        await step.run(stack);
        faultsRun.push(step.name);
      } catch (error) {
        faultErrors.push(
          `${step.name}: ${error instanceof Error ? error.message.slice(0, 4000) : String(error)}`,
        );
      }
    }
    faultsDone = true;
  })();
  const journal = await runLoad({
    client: stack.schedulingClient,
    token: () => stack.token('front_desk'),
    clinicians,
    concurrency: options.concurrency,
    ...(options.attemptDeadlineMs !== undefined ? { attemptDeadlineMs: options.attemptDeadlineMs } : {}),
    // Load runs for the duration and until every fault has played (a restart may take longer than planned).
    done: () => faultsDone && Date.now() - started >= options.durationMs,
  });
  await faults;
  stack.proxy.heal();
  await stack.resumeNats().catch(() => undefined);
  log(`load done: ${journal.length} operations in ${((Date.now() - started) / 1000).toFixed(1)} s; settling`);

  const nc = await stack.connectNats();
  try {
    // Settle: wait until the scheduling store has no orphan or half booking left (the reconciler's work),
    // bounded; then the ledger, when there is one, until it holds everything stored so far.
    const settleUntil = Date.now() + (options.settleMs ?? 30_000);
    let events = await readEventLog(nc);
    const visits = stack.session !== undefined;
    for (;;) {
      const report = checkFaultRun(journal, events, undefined, { visits });
      const settled =
        report.orphansFound === 0 &&
        report.halfBookingsFound === 0 &&
        (report.visits?.missing ?? 0) === 0 &&
        (report.visits?.openAfterCancel ?? 0) === 0;
      if (settled || Date.now() > settleUntil) break;
      await sleep(1_000);
      events = await readEventLog(nc);
    }
    let ledger: { ids: string[]; upToSeq: number } | undefined;
    if (stack.audit) {
      const upToSeq = events.reduce((max, e) => Math.max(max, e.seq), 0);
      let ledgerError: string | undefined;
      const wanted = new Set(events.map((e) => e.id));
      for (;;) {
        const ids =
          (await stack.ledgerIds().catch((error: unknown) => {
            ledgerError = error instanceof Error ? error.message : String(error);
            return undefined;
          })) ?? [];
        const have = new Set(ids);
        ledger = { ids, upToSeq };
        if ([...wanted].every((id) => have.has(id)) || Date.now() > settleUntil) break;
        await sleep(1_000);
      }
      if (ledgerError !== undefined) log(`the ledger could not be read at the last try: ${ledgerError}`);
      events = await readEventLog(nc);
    }
    const report = checkFaultRun(journal, events, ledger, { visits });
    return { report, journal, faultsRun, faultErrors, elapsedMs: Date.now() - started };
  } finally {
    await nc.close();
  }
}

/**
 * A fault run as a soak case reports it: the counts `npm run soak` prints, and every problem (a fault that did
 * not play included). Logs the stack's last lines through `log` when there is a problem.
 */
export function soakResult(
  stack: FaultStack,
  result: ScenarioResult,
  options: { readonly minutes: number; readonly log: (line: string) => void },
): SoakResult {
  const { report } = result;
  const problems = [...result.faultErrors.map((e) => `fault did not play: ${e}`), ...report.problems];
  if (problems.length > 0) options.log(`logs:\n${stack.logs(300)}`);
  return {
    counts: {
      minutes: options.minutes,
      operations: report.operations,
      acknowledged: report.acknowledged,
      refused: report.refused,
      gaveUp: report.gaveUp,
      retries: report.retries,
      faults: result.faultsRun.length,
      duplicatesFound: report.duplicatesFound,
      orphansFound: report.orphansFound,
      halfBookingsFound: report.halfBookingsFound,
      lostFound: report.lostFound,
      phantomsFound: report.phantomsFound,
      storedEvents: report.storedEvents,
      visitsOpened: report.visits?.opened ?? 'no session',
      visitsMissing: report.visits?.missing ?? 'no session',
      ledgerEntries: report.ledger?.entries ?? 'no audit',
      ledgerMissing: report.ledger?.missing ?? 'no audit',
      ledgerExtra: report.ledger?.extra ?? 'no audit',
    },
    problems,
  };
}
