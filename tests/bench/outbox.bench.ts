/**
 * Reminder outbox throughput (issue 16): reminders per second through the whole outbox path — load the
 * reminder and the appointment, ReminderSending, PhiAccessed, open the sealed address and link, render, SMTP,
 * ReminderSent — to a real local smtp-server, against nodemailer sending the same messages straight to the
 * same server, in the same run, with the same pool and the same number of messages in flight.
 *
 *   npm run bench -- outbox
 *
 * Target (reported, not enforced): outbox time per reminder ≤ 1.3 × nodemailer's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTransport } from 'nodemailer';
import { FilePatientKeyStore, LocalKeyringKms, sealPhi } from '@haven/crypto';
import { JetStreamEventStore, connectNats, newEvent } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import { startMailCatcher, startNatsServer } from '@haven/testing';
import { DEFAULT_OUTBOX_POLICY, reminderIdOf } from '../../services/scheduling/src/notification/decide';
import { ReminderOutbox } from '../../services/scheduling/src/notification/outbox';
import { ReminderKind, reminderStream } from '../../services/scheduling/src/notification/reminder';
import { SmtpTransport } from '../../services/scheduling/src/notification/smtp';
import { DEFAULT_TEMPLATES } from '../../services/scheduling/src/notification/template';
import { round3 } from './stats';

const N = 300;
const CONCURRENCY = 4;
const actor = { kind: 'service', id: 'scheduling' } as const;

async function inParallel(items: readonly string[], work: (item: string) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Runs the benchmark; returns the numbers. */
export async function run(): Promise<Record<string, unknown>> {
  const server = await startNatsServer();
  const catcher = await startMailCatcher();
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-outbox-'));
  const nc = await connectNats({ ...server.client('scheduling'), name: 'bench-outbox' });
  try {
    const store = await JetStreamEventStore.create(nc);
    const kms = await LocalKeyringKms.open({ file: join(dir, 'keyring.json'), create: true });
    const keys = new FilePatientKeyStore({ dir: join(dir, 'keys'), kms });
    const patientId = 'pat-bench';
    const phi = await sealPhi(keys, patientId, {
      givenName: 'B',
      familyName: 'P',
      email: 'bench@example.test',
    });
    await store.append(`scheduling.patient-${patientId}`, 'no_stream', [
      newEvent({
        type: 'haven.scheduling.v1.PatientRegistered',
        data: { patientId, keyId: phi.keyId },
        phi,
        actor,
      }),
    ]);
    const start = new Date(Date.now() + 7 * 86_400_000);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const appointmentId = `appt-bench-${i}`;
      const startTime = new Date(start.getTime() + i * 3_600_000).toISOString();
      const endTime = new Date(start.getTime() + i * 3_600_000 + 1_800_000).toISOString();
      const token = await sealPhi(keys, patientId, { linkToken: `token-${i}-${'x'.repeat(30)}` });
      await store.append(`scheduling.appointment-${appointmentId}`, 'no_stream', [
        newEvent({
          type: 'haven.scheduling.v1.AppointmentBooked',
          data: { appointmentId, clinicianId: 'doc-bench', patientId, startTime, endTime },
          actor,
        }),
        newEvent({
          type: 'haven.scheduling.v1.PatientLinkIssued',
          data: {
            appointmentId,
            linkId: `l-${i}`,
            tokenSha256: 'x',
            passcodeHash: 'x',
            dateOfBirthRequired: false,
            issuedAt: new Date().toISOString(),
          },
          phi: token,
          actor,
        }),
      ]);
      const plan = {
        appointmentId,
        patientId,
        clinicianId: 'doc-bench',
        kind: ReminderKind.Invitation,
        channel: 'email' as const,
        startTime,
      };
      const reminderId = reminderIdOf(plan);
      await store.append(reminderStream(reminderId), 'no_stream', [
        newEvent({
          type: 'haven.scheduling.v1.ReminderScheduled',
          data: { ...plan, reminderId, dueAt: new Date().toISOString() },
          actor,
        }),
      ]);
      ids.push(reminderId);
    }
    const transport = new SmtpTransport({
      url: `smtp://127.0.0.1:${catcher.port}`,
      from: 'Bench <no-reply@bench.test>',
      requireTls: false,
    });
    const outbox = new ReminderOutbox(
      {
        store,
        clock: () => new Date(),
        keys,
        logger: createLogger({ service: 'bench', level: 'warn' }),
        settings: { requireDobCheck: false, publicUrl: 'https://bench.test', timeZone: 'UTC' },
      },
      [transport],
      {
        clinicName: 'Bench Clinic',
        language: 'en',
        passcodeDelivery: 'front-desk',
        messageDomain: 'bench.test',
        templates: DEFAULT_TEMPLATES,
        policy: DEFAULT_OUTBOX_POLICY,
      },
    );
    const direct = createTransport({
      host: '127.0.0.1',
      port: catcher.port,
      ignoreTLS: true,
      pool: true,
      maxConnections: 2,
    });
    const text =
      'You have a video visit with your clinician at Bench Clinic.\n\nJoin here: https://bench.test/join#t';
    // Warm both paths (connections, JIT), then alternate halves so drift hits both alike.
    await direct.sendMail({ from: 'no-reply@bench.test', to: 'bench@example.test', subject: 'warm', text });
    await outbox.sendOne(ids[0]!);
    const rest = ids.slice(1);
    const halves = [rest.slice(0, rest.length / 2), rest.slice(rest.length / 2)];
    let outboxMs = 0;
    let directMs = 0;
    for (const half of halves) {
      let t = performance.now();
      await inParallel(half, (id) => outbox.sendOne(id));
      outboxMs += performance.now() - t;
      t = performance.now();
      await inParallel(half, async (id) => {
        await direct.sendMail({
          from: 'no-reply@bench.test',
          to: 'bench@example.test',
          subject: 'Your video visit with Bench Clinic',
          text,
          messageId: `<direct-${id}@bench.test>`,
        });
      });
      directMs += performance.now() - t;
    }
    direct.close();
    await outbox.stop();
    const sent = catcher.messages().filter((m) => m.messageId.startsWith('<reminder-')).length;
    const outboxRate = rest.length / (outboxMs / 1000);
    const directRate = rest.length / (directMs / 1000);
    return {
      reminders: rest.length,
      concurrency: CONCURRENCY,
      outboxPerSecond: round3(outboxRate),
      nodemailerPerSecond: round3(directRate),
      outboxMsPerReminder: round3(outboxMs / rest.length),
      nodemailerMsPerMessage: round3(directMs / rest.length),
      ratio: round3(directRate / outboxRate),
      target: '≤ 1.3',
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
