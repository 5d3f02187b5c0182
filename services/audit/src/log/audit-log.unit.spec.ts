import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, UnreadableAuditLogError } from './audit-log';
import type { IngestibleEvent } from './audit-record';

const event = (n: number, over: Partial<IngestibleEvent> = {}): IngestibleEvent => ({
  id: `evt-${n}`,
  type: 'haven.scheduling.v1.AppointmentBooked',
  stream: `scheduling.appointment-${n}`,
  revision: 0n,
  occurredAt: `2026-11-26T10:00:0${n}.000Z`,
  actor: { kind: 'user', id: 'u-front', role: 'front_desk' },
  correlationId: 'c',
  causationId: 'c',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  data: { patientId: `pat-${n % 2}`, clinicianId: 'clin-1' },
  position: BigInt(n),
  ...over,
});

describe('the audit log', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haven-audit-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('records each event once, resumes from its checkpoint after reopening, and keeps no data values', async () => {
    const path = join(dir, 'audit.ndjson');
    const log = await AuditLog.open(path);
    expect(log.checkpoint).toBe('start');
    await log.ingest(event(1));
    await log.ingest(event(2));
    expect(await log.ingest(event(1))).toBeUndefined();
    await log.close();

    const reopened = await AuditLog.open(path);
    expect(reopened.size).toBe(2);
    expect(reopened.checkpoint).toBe(2n);
    expect(await reopened.ingest(event(2))).toBeUndefined();
    const third = await reopened.ingest(event(3));
    expect(third?.index).toBe(2);
    expect(third?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    await reopened.close();

    const text = await readFile(path, 'utf8');
    expect(text.trim().split('\n')).toHaveLength(3);
    expect(text).not.toContain('clin-1');
  });

  it('answers queries by patient, actor, type and time, with paging', async () => {
    const log = await AuditLog.open(join(dir, 'audit.ndjson'));
    for (let n = 1; n <= 5; n++)
      await log.ingest(event(n, n === 5 ? { actor: { kind: 'service', id: 'session' } } : {}));
    expect(log.query({ patientId: 'pat-1', limit: 10 }).map((r) => r.eventId)).toEqual([
      'evt-1',
      'evt-3',
      'evt-5',
    ]);
    expect(log.query({ actorId: 'session', limit: 10 }).map((r) => r.eventId)).toEqual(['evt-5']);
    expect(
      log
        .query({ from: new Date('2026-11-26T10:00:02Z'), to: new Date('2026-11-26T10:00:04Z'), limit: 10 })
        .map((r) => r.eventId),
    ).toEqual(['evt-2', 'evt-3']);
    const page1 = log.query({ limit: 2 });
    const page2 = log.query({ limit: 2, after: page1.at(-1)!.index });
    expect([...page1, ...page2].map((r) => r.eventId)).toEqual(['evt-1', 'evt-2', 'evt-3', 'evt-4']);
    expect(log.query({ types: new Set(['nope']), limit: 10 })).toEqual([]);
    await log.close();
  });

  it("finds every event of a patient's visits and appointments by the patient, also after reopening", async () => {
    const path = join(dir, 'audit.ndjson');
    const log = await AuditLog.open(path);
    const clinician = { kind: 'user', id: 'clin-1', role: 'clinician' };
    const visit = (n: number, type: string, data: Record<string, unknown>): IngestibleEvent =>
      event(n, { type: `haven.session.v1.${type}`, stream: 'session.visit-a-7', actor: clinician, data });
    // The appointment names the patient when booked; its cancellation, like a visit's admit, lock, kick and
    // end, names nobody.
    await log.ingest(event(1, { stream: 'scheduling.appointment-a-7', data: { patientId: 'pat-7' } }));
    await log.ingest(visit(2, 'VisitOpened', { visitId: 'a-7', patientId: 'pat-7', clinicianId: 'clin-1' }));
    await log.ingest(visit(3, 'PatientArrivedInLobby', { visitId: 'a-7', participantId: 'p1' }));
    await log.ingest(visit(4, 'ParticipantAdmitted', { visitId: 'a-7', participantId: 'p1' }));
    await log.ingest(visit(5, 'VisitLocked', { visitId: 'a-7' }));
    await log.ingest(visit(6, 'ParticipantKicked', { visitId: 'a-7', participantId: 'p1' }));
    await log.ingest(visit(7, 'VisitEnded', { visitId: 'a-7', reason: 'ended_by_clinician' }));
    await log.ingest(
      event(8, {
        type: 'haven.scheduling.v1.AppointmentCompleted',
        stream: 'scheduling.appointment-a-7',
        data: { appointmentId: 'a-7' },
      }),
    );
    // Another patient's visit, and a clinician's schedule (many patients): neither is pat-7's.
    await log.ingest(event(9, { stream: 'session.visit-b-8', data: { patientId: 'pat-8' } }));
    await log.ingest({ ...visit(10, 'VisitLocked', { visitId: 'b-8' }), stream: 'session.visit-b-8' });
    await log.ingest(
      event(11, { stream: 'scheduling.clinician_schedule-clin-1', data: { patientId: 'pat-7' } }),
    );
    await log.ingest(event(12, { stream: 'scheduling.clinician_schedule-clin-1', data: {} }));
    const expected = ['evt-1', 'evt-2', 'evt-3', 'evt-4', 'evt-5', 'evt-6', 'evt-7', 'evt-8', 'evt-11'];
    expect(log.query({ patientId: 'pat-7', limit: 50 }).map((r) => r.eventId)).toEqual(expected);
    expect(log.patientOf(log.get('evt-5')!)).toBe('pat-7');
    expect(log.patientOf(log.get('evt-12')!)).toBeUndefined();
    expect(log.query({ patientId: 'pat-8', limit: 50 }).map((r) => r.eventId)).toEqual(['evt-9', 'evt-10']);
    await log.close();

    const reopened = await AuditLog.open(path);
    expect(reopened.query({ patientId: 'pat-7', limit: 50 }).map((r) => r.eventId)).toEqual(expected);
    expect(
      reopened
        .newestFirst((r) => reopened.matches(r, { patientId: 'pat-7', limit: 50 }), 3)
        .map((r) => r.eventId),
    ).toEqual(['evt-11', 'evt-8', 'evt-7']);
    await reopened.close();
  });

  describe('given a last line torn by a crash', () => {
    it('cuts it off when it is not JSON, says where, and records that event again at the same index', async () => {
      const path = join(dir, 'audit.ndjson');
      const log = await AuditLog.open(path);
      for (let n = 1; n <= 3; n++) await log.ingest(event(n));
      await log.close();
      const whole = await readFile(path, 'utf8');
      const cut = whole.length - 40;
      await writeFile(path, whole.slice(0, cut));

      const reopened = await AuditLog.open(path);
      expect(reopened.size).toBe(2);
      const thirdLine = whole.indexOf('\n', whole.indexOf('\n') + 1) + 1; // ASCII: characters are bytes
      expect(reopened.repaired).toEqual({ atIndex: 2, droppedBytes: cut - thirdLine });
      expect(reopened.checkpoint).toBe(2n);
      const again = await reopened.ingest(event(3));
      expect(again).toMatchObject({ index: 2, eventId: 'evt-3' });
      await reopened.close();
      expect(
        (await readFile(path, 'utf8'))
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { index: number }).index),
      ).toEqual([0, 1, 2]);
    });

    it('cuts off a complete record whose newline never reached the disk', async () => {
      const path = join(dir, 'audit.ndjson');
      const log = await AuditLog.open(path);
      for (let n = 1; n <= 2; n++) await log.ingest(event(n));
      await log.close();
      await writeFile(path, (await readFile(path, 'utf8')).replace(/\n$/, ''));
      const reopened = await AuditLog.open(path);
      expect(reopened.size).toBe(1);
      expect(reopened.repaired?.atIndex).toBe(1);
      expect(reopened.get('evt-2')).toBeUndefined();
      await reopened.close();
    });

    it('leaves an intact log alone', async () => {
      const path = join(dir, 'audit.ndjson');
      const log = await AuditLog.open(path);
      await log.ingest(event(1));
      await log.close();
      const reopened = await AuditLog.open(path);
      expect(reopened.repaired).toBeUndefined();
      expect(reopened.size).toBe(1);
      await reopened.close();
    });
  });

  describe('given an unreadable line before the last one', () => {
    it('refuses to open, naming the entry', async () => {
      const path = join(dir, 'audit.ndjson');
      const log = await AuditLog.open(path);
      for (let n = 1; n <= 3; n++) await log.ingest(event(n));
      await log.close();
      const lines = (await readFile(path, 'utf8')).split('\n');
      lines[1] = '{"index": 1, garbage';
      await writeFile(path, lines.join('\n'));
      const error = await AuditLog.open(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnreadableAuditLogError);
      expect((error as UnreadableAuditLogError).index).toBe(1);
    });
  });

  describe('when someone else writes the file', () => {
    it('sees it at once, and not its own appends', async () => {
      const path = join(dir, 'audit.ndjson');
      const log = await AuditLog.open(path);
      await log.ingest(event(1));
      expect(await log.changedOnDisk()).toBe(false);
      await log.ingest(event(2));
      expect(await log.changedOnDisk()).toBe(false);
      await appendFile(path, '{}\n');
      expect(await log.changedOnDisk()).toBe(true);
      await log.acceptDiskState();
      expect(await log.changedOnDisk()).toBe(false);
      // Same size, other bytes: the change time gives it away.
      const text = await readFile(path, 'utf8');
      await new Promise((r) => setTimeout(r, 20));
      await writeFile(path, text.replace('u-front', 'u-frunt'));
      expect(await log.changedOnDisk()).toBe(true);
      // …even when one of its own appends came in between.
      await log.acceptDiskState();
      await new Promise((r) => setTimeout(r, 20));
      await writeFile(path, (await readFile(path, 'utf8')).replace('u-frunt', 'u-front'));
      await log.ingest(event(3));
      expect(await log.changedOnDisk()).toBe(true);
      expect(await log.changedOnDisk()).toBe(false);
      await log.close();
    });
  });
});
