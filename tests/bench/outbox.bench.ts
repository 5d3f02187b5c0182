/**
 * Reminder outbox throughput (issue 16): reminders per second through the outbox's own sender loop — the
 * follower indexes the planned invitations, then one round (`tick`) sends every due one: ReminderSending,
 * PhiAccessed, open the sealed address and link, render, SMTP, ReminderSent — to a real local smtp-server,
 * against nodemailer sending the same number of messages straight to the same server, in the same run, with the
 * same pool and the same number of messages in flight.
 *
 *   npm run bench -- outbox
 *
 * Target (reported, not enforced): outbox time per reminder ≤ 1.3 × nodemailer's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type * as Nodemailer from 'nodemailer';
import { FilePatientKeyStore, LocalKeyringKms } from '@haven/crypto';
import { JetStreamEventStore, connectNats } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import { REPO_ROOT, startMailCatcher, startNatsServer } from '@haven/testing';
import { NatsAcceptedMarks } from '../../services/scheduling/src/notification/accepted-marks';
import { ReminderOutbox } from '../../services/scheduling/src/notification/outbox';
import { SmtpTransport } from '../../services/scheduling/src/notification/smtp';
import {
  givenBookingWithLink,
  givenRegisteredPatient,
  testOutbox,
} from '../../services/scheduling/src/testing';
import { ascending, percentile, round3 } from './stats';

/**
 * Rounds of {@link PER_ROUND} reminders, each timed against as many direct sends right after it (or before: the
 * order alternates). A round of 40 (≈ 75 ms) moved by 0.5 with one GC pause or a neighbour's time slice; rounds
 * of 200 (≈ 0.4 s each way) average those out, and 12 of them keep the run under 30 s.
 */
const ROUNDS = 12;
const PER_ROUND = 200;
/**
 * Untimed rounds first, run like the others: the first 200 cost both paths twice the CPU of the later ones (JIT),
 * and how much more moved with the machine's load.
 */
const WARMUP_ROUNDS = 1;
/** Messages in flight, for both paths (the outbox's HAVEN_REMINDER_CONCURRENCY default). */
const CONCURRENCY = ReminderOutbox.DEFAULT_CONCURRENCY;
/** Both paths send from the same address. */
const FROM = 'Bench <no-reply@bench.test>';
/**
 * nodemailer as the outbox loads it: the scheduling service's own copy, which may be a newer release than the one
 * hoisted to the root for the mail catcher's parser.
 */
const { createTransport } = createRequire(join(REPO_ROOT, 'services/scheduling/package.json'))(
  'nodemailer',
) as typeof Nodemailer;

async function inParallel(items: readonly string[], work: (item: string) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** CPU milliseconds nats-server used so far (the outbox's appends and reads); 0 when not on Linux. */
function natsCpuMs(natsPid: number): number {
  try {
    const fields = readFileSync(`/proc/${natsPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks (100 Hz)
  } catch {
    return 0; // not Linux: this process only
  }
}

/**
 * CPU milliseconds used so far by this process (outbox, nodemailer and the catcher all run here) and by
 * nats-server: on a shared machine the wall clock also measures the neighbours.
 */
function cpuMs(natsPid: number): { readonly own: number; readonly nats: number } {
  const own = process.cpuUsage();
  return { own: (own.user + own.system) / 1000, nats: natsCpuMs(natsPid) };
}

/** Read and write system calls so far (`syscr`, `syscw` of /proc/<pid>/io); zeros when not on Linux. */
function syscalls(pid: number | 'self'): { readonly reads: number; readonly writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return {
      reads: Number(/^syscr: (\d+)$/m.exec(io)?.[1]),
      writes: Number(/^syscw: (\d+)$/m.exec(io)?.[1]),
    };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

/**
 * Where a path's cost goes: CPU milliseconds of this process and of nats-server, and the system calls that
 * read and write (sockets, and nats-server's own storage writes) of each.
 */
interface Cost {
  own: number;
  nats: number;
  ownReads: number;
  ownWrites: number;
  natsReads: number;
  natsWrites: number;
}

function costNow(natsPid: number): Cost {
  const cpu = cpuMs(natsPid);
  const own = syscalls('self');
  const nats = syscalls(natsPid);
  return {
    own: cpu.own,
    nats: cpu.nats,
    ownReads: own.reads,
    ownWrites: own.writes,
    natsReads: nats.reads,
    natsWrites: nats.writes,
  };
}

/** Waits (bounded) until `done()`. */
async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs the benchmark; returns the numbers. */
export async function run(): Promise<Record<string, unknown>> {
  // Others' work on a shared machine moves every number here: the JSON says how busy it was.
  const loadBefore = loadavg()[0]!;
  const server = await startNatsServer();
  const catcher = await startMailCatcher();
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-outbox-'));
  const nc = await connectNats({ ...server.client('scheduling'), name: 'bench-outbox' });
  try {
    const store = await JetStreamEventStore.create(nc);
    const kms = await LocalKeyringKms.open({ file: join(dir, 'keyring.json'), create: true });
    const keys = new FilePatientKeyStore({ dir: join(dir, 'keys'), kms });
    const patientId = 'pat-bench';
    await givenRegisteredPatient(store, keys, patientId, {
      givenName: 'B',
      familyName: 'P',
      email: 'bench@example.test',
    });
    const start = new Date(Date.now() + 7 * 86_400_000);
    /** Books appointments [from, to) with a link each: the outbox's follower plans one invitation per booking. */
    const book = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        await givenBookingWithLink(store, keys, {
          appointmentId: `appt-bench-${i}`,
          patientId,
          clinicianId: 'doc-bench',
          startTime: new Date(start.getTime() + i * 3_600_000).toISOString(),
          endTime: new Date(start.getTime() + i * 3_600_000 + 1_800_000).toISOString(),
          linkId: `l-${i}`,
          linkToken: `token-${i}-${'x'.repeat(30)}`,
        });
      }
    };
    const transport = new SmtpTransport({
      url: `smtp://127.0.0.1:${catcher.port}`,
      from: FROM,
      requireTls: false,
    });
    const logger = createLogger({ service: 'bench', level: 'warn' });
    // The outbox as the service runs it: the relay's acceptances marked in HAVEN_ACCEPTED.
    const marks = await NatsAcceptedMarks.open(nc, 'scheduling', logger);
    if (!marks) throw new Error('bench: HAVEN_ACCEPTED is not provisioned');
    const outbox = testOutbox(
      { store, keys, logger },
      [transport],
      { domain: 'bench.test', clinicName: 'Bench Clinic' },
      { policy: { offsetsMinutes: [] } },
      { concurrency: CONCURRENCY, marks },
    );
    const follower = await outbox.follow(store, logger);
    const direct = createTransport({
      host: '127.0.0.1',
      port: catcher.port,
      ignoreTLS: true,
      pool: true,
      maxConnections: 2,
    });
    // Open both paths' connections with one message each (nodemailer sends what the outbox rendered), warm them
    // with WARMUP_ROUNDS untimed rounds, then alternate the rounds so that the load of a shared machine
    // hits both alike; the ratio reported is the median of the rounds' ratios.
    await book(0, 1);
    await until('the first invitation', () => outbox.openCount() === 1);
    await outbox.tick();
    const rendered = catcher.messages()[0];
    if (!rendered) throw new Error('bench: the first invitation did not arrive');
    const { subject, text } = rendered;
    await direct.sendMail({ from: FROM, to: 'bench@example.test', subject, text });
    let outboxMs = 0;
    let directMs = 0;
    /** CPU and system calls of each path: this process's and nats-server's. */
    const zero = (): Cost => ({ own: 0, nats: 0, ownReads: 0, ownWrites: 0, natsReads: 0, natsWrites: 0 });
    const outboxCpu = zero();
    const directCpu = zero();
    const addCpu = (to: Cost, since: Cost) => {
      const now = costNow(server.pid);
      for (const k of Object.keys(to) as (keyof Cost)[]) to[k] += now[k] - since[k];
    };
    const ratios: number[] = [];
    for (let round = -WARMUP_ROUNDS; round < ROUNDS; round++) {
      const from = 1 + (round + WARMUP_ROUNDS) * PER_ROUND;
      const to = from + PER_ROUND;
      await book(from, to);
      // Planning happens when the appointment is booked, long before a reminder is due: not timed.
      await until('the planned invitations', () => outbox.openCount() === to - from);
      const timeOutbox = async () => {
        const t = performance.now();
        const c = costNow(server.pid);
        await outbox.tick();
        const ms = performance.now() - t;
        addCpu(outboxCpu, c);
        if (outbox.openCount() !== 0) throw new Error(`bench: ${outbox.openCount()} reminder(s) not sent`);
        return ms;
      };
      const timeDirect = async () => {
        const ids = Array.from({ length: to - from }, (_, i) => `direct-${from + i}`);
        const t = performance.now();
        const c = costNow(server.pid);
        await inParallel(ids, async (id) => {
          await direct.sendMail({
            from: FROM,
            to: 'bench@example.test',
            subject,
            text,
            messageId: `<${id}@bench.test>`,
          });
        });
        const ms = performance.now() - t;
        addCpu(directCpu, c);
        return ms;
      };
      // Alternate which goes first.
      let outboxRound: number;
      let directRound: number;
      if (round % 2 === 0) {
        outboxRound = await timeOutbox();
        directRound = await timeDirect();
      } else {
        directRound = await timeDirect();
        outboxRound = await timeOutbox();
      }
      if (round < 0) {
        // a warm-up round: forget its costs
        Object.assign(outboxCpu, zero());
        Object.assign(directCpu, zero());
        continue;
      }
      outboxMs += outboxRound;
      directMs += directRound;
      ratios.push(outboxRound / directRound);
    }
    direct.close();
    await follower.close();
    await outbox.stop();
    const sent = catcher.messages().filter((m) => m.messageId.startsWith('<reminder-')).length;
    const reminders = ROUNDS * PER_ROUND;
    const outboxRate = reminders / (outboxMs / 1000);
    const directRate = reminders / (directMs / 1000);
    return {
      reminders,
      concurrency: CONCURRENCY,
      outboxPerSecond: round3(outboxRate),
      nodemailerPerSecond: round3(directRate),
      outboxMsPerReminder: round3(outboxMs / reminders),
      nodemailerMsPerMessage: round3(directMs / reminders),
      ratioOfTotals: round3(directRate / outboxRate),
      ratio: round3(percentile(ascending(ratios), 50)),
      roundRatios: ratios.map(round3),
      outboxCpuMsPerReminder: round3((outboxCpu.own + outboxCpu.nats) / reminders),
      nodemailerCpuMsPerMessage: round3((directCpu.own + directCpu.nats) / reminders),
      cpuRatio: round3((outboxCpu.own + outboxCpu.nats) / (directCpu.own + directCpu.nats)),
      // The same split by process: this one (outbox or nodemailer, and the catcher) and nats-server.
      outboxProcessCpuMsPerReminder: round3(outboxCpu.own / reminders),
      outboxNatsCpuMsPerReminder: round3(outboxCpu.nats / reminders),
      nodemailerProcessCpuMsPerMessage: round3(directCpu.own / reminders),
      processCpuRatio: round3(outboxCpu.own / directCpu.own),
      // Read / write system calls per message (a NATS round trip costs one or more of each, on both sides).
      syscallsPerMessage: {
        outbox: perMessage(outboxCpu, reminders),
        nodemailer: perMessage(directCpu, reminders),
      },
      target: '≤ 1.3',
      loadAverage: { before: round3(loadBefore), after: round3(loadavg()[0]!) },
      delivered: sent,
      duplicates: catcher.duplicates().length,
    };
  } finally {
    await nc.close();
    await catcher.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function perMessage(cost: Cost, messages: number) {
  return {
    processReads: round3(cost.ownReads / messages),
    processWrites: round3(cost.ownWrites / messages),
    natsReads: round3(cost.natsReads / messages),
    natsWrites: round3(cost.natsWrites / messages),
  };
}
