/**
 * The tamper suite, long version (`npm run soak -- tamper`): over HAVEN_SOAK_EVENTS stored events (default
 * 20 000) per round, many tampering points at once — bytes flipped in many events of the block files, a block
 * file truncated, max_msgs lowered, messages deleted through the API, entries of the audit log rewritten while
 * the service runs, a log rebuilt from the store in a fresh volume — and checks that every entry concerned is
 * named (no more, no fewer) and that the intact cases raise nothing. Prints, per round, what was tampered with,
 * what was named and how long detection took.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SoakResult } from '../soak/soak';
import {
  LEDGER_INTEGRITY_VIOLATED,
  LEDGER_STREAM,
  STORE_INTEGRITY_VIOLATED,
  entriesOnDisk,
  eventStoreConfig,
  findInBlocks,
  markerOf,
  startRig,
  type AlarmData,
  type Rig,
} from './rig';
import { eventually } from '@haven/testing';

type Counts = Record<string, number | string>;

/** `count` distinct indexes in [from, to), sorted, spread by a fixed stride (reproducible, no clustering). */
function pick(count: number, from: number, to: number): number[] {
  const out = new Set<number>();
  const stride = Math.max(1, Math.floor((to - from) / count));
  for (let k = 0; out.size < count && k < count * 4; k++)
    out.add(from + ((k * stride + 7 * k) % (to - from)));
  return [...out].sort((a, b) => a - b);
}

/** The ledger indexes the alarms of `reason` name, as a set (from their runs). */
async function named(rig: Rig, type: string, reasons: readonly string[]): Promise<Set<number>> {
  const out = new Set<number>();
  for (const a of await rig.alarms(type)) {
    if (!reasons.includes(a.data.reason)) continue;
    const runs = (a.data as AlarmData & { runs?: [number, number][] }).runs ?? [];
    for (const [lo, hi] of runs) for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** Waits until `want` are all named; returns the time it took from `t0`, or -1 when they never all were. */
async function untilNamed(
  rig: Rig,
  type: string,
  reasons: readonly string[],
  want: readonly number[],
  t0: number,
  withinMs: number,
): Promise<{ ms: number; named: Set<number> }> {
  let last = new Set<number>();
  try {
    await eventually(
      'every entry named',
      async () => {
        last = await named(rig, type, reasons);
        return want.every((i) => last.has(i)) ? true : undefined;
      },
      { timeoutMs: withinMs, intervalMs: 250 },
    );
    return { ms: Date.now() - t0, named: last };
  } catch {
    return { ms: -1, named: last };
  }
}

function compare(round: string, want: readonly number[], got: Set<number>, problems: string[]): void {
  const missing = want.filter((i) => !got.has(i));
  const extra = [...got].filter((i) => !want.includes(i));
  if (missing.length > 0)
    problems.push(`${round}: ${missing.length} entries never named (first ${missing[0]})`);
  if (extra.length > 0) problems.push(`${round}: ${extra.length} entries named wrongly (first ${extra[0]})`);
}

export async function run(options: { log: (line: string) => void }): Promise<SoakResult> {
  const events = Number(process.env['HAVEN_SOAK_EVENTS'] ?? '20000');
  const withinMs = 120_000;
  const counts: Counts = { events };
  const problems: string[] = [];
  const round = async (name: string, body: (rig: Rig) => Promise<void>, stream = {}): Promise<void> => {
    const started = Date.now();
    const rig = await startRig({ events, stream });
    counts[`${name}.setupS`] = Math.round((Date.now() - started) / 1000);
    try {
      await body(rig);
      const stray = (await rig.alarms(LEDGER_INTEGRITY_VIOLATED)).length;
      if (name !== 'auditLogRewritten' && stray > 0)
        problems.push(`${name}: ${stray} LedgerIntegrityViolated`);
    } catch (error) {
      problems.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await rig.close();
    }
    options.log(
      `${name}: ${JSON.stringify(Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith(name))))}`,
    );
  };
  /**
   * Waits until the checker names every entry of `want` (for one of `reasons`) and records how many were
   * `what` (tampered, dropped, …), how many were named and when the last was, and each miss or stray name.
   */
  const expectNamed = async (
    rig: Rig,
    name: string,
    what: string,
    reasons: readonly string[],
    want: readonly number[],
    t0 = Date.now(),
  ): Promise<void> => {
    const r = await untilNamed(rig, STORE_INTEGRITY_VIOLATED, reasons, want, t0, withinMs);
    counts[`${name}.${what}`] = want.length;
    counts[`${name}.named`] = r.named.size;
    counts[`${name}.allNamedAfterMs`] = r.ms;
    compare(name, want, r.named, problems);
  };

  await round('intact', async (rig) => {
    await new Promise((r) => setTimeout(r, 10_000));
    counts['intact.alarms'] = (await rig.alarms(STORE_INTEGRITY_VIOLATED)).length;
    if (counts['intact.alarms'] !== 0) problems.push(`intact: ${counts['intact.alarms']} false alarms`);
  });

  await round('bytesFlipped', async (rig) => {
    const victims = pick(25, 0, events);
    await rig.nats.down();
    const files = rig.blockFiles();
    for (const n of victims) {
      const { file, offset } = findInBlocks(files, markerOf(n));
      const bytes = readFileSync(file);
      bytes[offset + 2] = bytes[offset + 2]! ^ 0x01;
      writeFileSync(file, bytes);
    }
    await rig.nats.up();
    await expectNamed(rig, 'bytesFlipped', 'tampered', ['EVENTS_MISSING'], victims);
  });

  await round('blockTruncated', async (rig) => {
    const files = rig.blockFiles();
    const cut = events - Math.floor(events / 10);
    await rig.nats.down();
    const { file, offset } = findInBlocks(files, markerOf(cut));
    truncateSync(file, offset);
    await rig.nats.up();
    const t0 = Date.now();
    // Everything from `cut` to the end of that block file is gone; a later block file (if any) stays.
    const alarm = await rig.alarm(
      STORE_INTEGRITY_VIOLATED,
      (d) => d.reason === 'NEWEST_EVENTS_GONE',
      withinMs,
    );
    counts['blockTruncated.blockFiles'] = files.length;
    counts['blockTruncated.firstNamed'] = alarm.data.firstBadIndex ?? -1;
    counts['blockTruncated.namedCount'] = alarm.data.count ?? -1;
    counts['blockTruncated.namedAfterMs'] = Date.parse(alarm.occurredAt) - t0;
    if (alarm.data.firstBadIndex !== cut && files.at(-1) === file) {
      problems.push(`blockTruncated: first entry named ${alarm.data.firstBadIndex}, cut at ${cut}`);
    }
  });

  await round('maxMsgsLowered', async (rig) => {
    const keep = Math.floor(events / 2);
    await rig.jsm.streams.update('HAVEN_ES', { ...eventStoreConfig(), max_msgs: keep });
    const want = Array.from({ length: events - keep }, (_, i) => i);
    await expectNamed(rig, 'maxMsgsLowered', 'dropped', ['OLDEST_EVENTS_DROPPED'], want);
  });

  await round(
    'messagesDeleted',
    async (rig) => {
      const victims = pick(50, 0, events);
      const t0 = Date.now();
      for (const n of victims)
        await rig.jsm.streams.deleteMessage('HAVEN_ES', Number(rig.positions[n]), false);
      // Deleting the first message moves the store's start: that one is named as OLDEST_EVENTS_DROPPED.
      const gone = ['EVENTS_MISSING', 'OLDEST_EVENTS_DROPPED'];
      await expectNamed(rig, 'messagesDeleted', 'deleted', gone, victims, t0);
    },
    { deny_delete: false },
  );

  await round('auditLogRewritten', async (rig) => {
    const victims = pick(10, 0, events);
    const lines = readFileSync(rig.logPath, 'utf8').split('\n');
    for (const n of victims) {
      const entry = JSON.parse(lines[n]!) as { actorId: string };
      entry.actorId = 'u-evil';
      lines[n] = JSON.stringify(entry);
    }
    writeFileSync(rig.logPath, lines.join('\n'));
    const t0 = Date.now();
    const alarm = await rig.alarm(LEDGER_INTEGRITY_VIOLATED, (d) => d.reason === 'ENTRY_CHANGED', withinMs);
    counts['auditLogRewritten.rewritten'] = victims.length;
    counts['auditLogRewritten.firstNamed'] = alarm.data.firstBadIndex ?? -1;
    counts['auditLogRewritten.namedCount'] = alarm.data.count ?? -1;
    counts['auditLogRewritten.namedAfterMs'] = Date.parse(alarm.occurredAt) - t0;
    if (alarm.data.firstBadIndex !== victims[0] || alarm.data.count !== victims.length) {
      problems.push(`auditLogRewritten: named ${alarm.data.firstBadIndex} ×${alarm.data.count}`);
    }
  });

  await round('freshVolume', async (rig) => {
    await rig.stopAudit();
    const stored = (await rig.store.read(LEDGER_STREAM)).length;
    const fresh = mkdtempSync(join(tmpdir(), 'haven-soak-fresh-'));
    try {
      const t0 = Date.now();
      await rig.startAudit({ HAVEN_DATA_DIR: fresh });
      await eventually(
        'the rebuilt log',
        async () => (entriesOnDisk(join(fresh, 'audit-log.ndjson')) >= events + stored ? true : undefined),
        { timeoutMs: 600_000, intervalMs: 250 },
      );
      counts['freshVolume.rebuildMs'] = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 5_000));
      counts['freshVolume.alarms'] =
        (await rig.alarms(LEDGER_INTEGRITY_VIOLATED)).length +
        (await rig.alarms(STORE_INTEGRITY_VIOLATED)).length;
      if (counts['freshVolume.alarms'] !== 0)
        problems.push(`freshVolume: ${counts['freshVolume.alarms']} false alarms`);
    } finally {
      await rig.stopAudit();
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  return { counts, problems };
}
