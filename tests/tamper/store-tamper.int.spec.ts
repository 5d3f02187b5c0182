/**
 * The event store tampered with from outside, the audit service running: each edit, truncation or
 * reconfiguration of HAVEN_ES (its files on disk, or the JetStream API with the operator's connection) is
 * detected by the audit service within seconds and named — the first entry concerned (ledger index, event id,
 * store position) and how many — in a `StoreIntegrityViolated` event.
 */
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import {
  EVENTS,
  STORE_INTEGRITY_VIOLATED,
  eventStoreConfig,
  findInBlocks,
  latencyOf,
  markerOf,
  measured,
  rigPerTest,
  type Rig,
} from './rig';

jest.setTimeout(90_000);

const startCaseRig = rigPerTest();

describe('the audit service watches the event store', () => {
  it('raises no alarm while the store is intact', async () => {
    const rig = await startCaseRig();
    await rig.append(5);
    await rig.ingested(rig.ids.length);
    // A few status checks and the start-up pass over every event.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await rig.alarms(STORE_INTEGRITY_VIOLATED)).toEqual([]);
  });

  it('names the event nats-server drops after a byte of its block file was flipped', async () => {
    const rig = await startCaseRig();
    const victims = [30];
    const t0 = await restartAfter(rig, (files) => {
      for (const n of victims) {
        const { file, offset } = findInBlocks(files, markerOf(n));
        const bytes = readFileSync(file);
        bytes[offset + 2] = bytes[offset + 2]! ^ 0x01; // "visitId" → "vjsitId": the record's checksum fails
        writeFileSync(file, bytes);
      }
    });
    for (const n of victims) {
      const alarm = await rig.alarm(
        STORE_INTEGRITY_VIOLATED,
        (d) => d.reason === 'EVENTS_MISSING' && d.firstBadEventId === rig.ids[n],
      );
      expect(alarm.data).toMatchObject({
        firstBadIndex: n,
        firstBadPosition: rig.positions[n]!.toString(),
        count: 1,
      });
      measured.push(`byte flipped in event ${n}: named after ${latencyOf(alarm, t0)} ms`);
    }
  });

  it('names the first event lost to a truncated block file, and how many', async () => {
    const rig = await startCaseRig();
    const from = Math.floor(EVENTS * 0.6);
    const t0 = await restartAfter(rig, (files) => {
      const { file, offset } = findInBlocks(files, markerOf(from));
      truncateSync(file, offset); // cuts event `from` in the middle, and everything after it in this file
    });
    const alarm = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'NEWEST_EVENTS_GONE');
    expect(alarm.data).toMatchObject({
      firstBadIndex: from,
      firstBadEventId: rig.ids[from],
      firstBadPosition: rig.positions[from]!.toString(),
    });
    // Everything after it in that block file is gone: here the whole rest of the store.
    expect(alarm.data.count).toBe(EVENTS - from);
    measured.push(
      `block file truncated at event ${from}: ${alarm.data.count} named after ${latencyOf(alarm, t0)} ms`,
    );
  });

  it('reports max_msgs lowered through the API and names the oldest events it dropped', async () => {
    const rig = await startCaseRig();
    const keep = Math.floor(EVENTS * 0.4);
    await rig.jsm.streams.update('HAVEN_ES', { ...eventStoreConfig(), max_msgs: keep });
    const t0 = Date.now();
    const setting = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'STREAM_RECONFIGURED');
    expect(setting.data.detail).toContain(`max_msgs=${keep} (expected -1)`);
    const dropped = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'OLDEST_EVENTS_DROPPED');
    expect(dropped.data).toMatchObject({
      firstBadIndex: 0,
      firstBadEventId: rig.ids[0],
      firstBadPosition: rig.positions[0]!.toString(),
      count: EVENTS - keep,
    });
    measured.push(
      `max_msgs lowered to ${keep}: setting after ${latencyOf(setting, t0)} ms, ${dropped.data.count} dropped named after ${latencyOf(dropped, t0)} ms`,
    );
  });

  it('reports the stream deleted, then created again, naming what the new one lacks', async () => {
    const rig = await startCaseRig();
    await rig.jsm.streams.delete('HAVEN_ES');
    const t0 = Date.now();
    // While it is gone the alarm cannot be stored: the service logs it (and stores it once it can).
    const logged = await waitForLog(rig, /"violation":"STREAM_MISSING"/);
    measured.push(`stream deleted: logged after ${logged - t0} ms`);
    await rig.jsm.streams.add(eventStoreConfig());
    const t1 = Date.now();
    const missing = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'STREAM_MISSING');
    expect(missing.data).toMatchObject({ firstBadIndex: 0, firstBadEventId: rig.ids[0] });
    expect(missing.data.count).toBeGreaterThanOrEqual(EVENTS);
    const recreated = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'STREAM_RECREATED');
    expect(recreated.data.detail).toMatch(/^the event store was created again: created \S+, now \S+$/);
    const gone = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'NEWEST_EVENTS_GONE');
    // The new stream holds only the alarms appended since: every entry the ledger had is named from its first.
    expect(gone.data.firstBadIndex).toBeLessThanOrEqual(EVENTS);
    expect(gone.data.count).toBeGreaterThanOrEqual(1);
    measured.push(`stream created again: reported after ${latencyOf(recreated, t1)} ms`);
  });

  it('reports a store provisioned without deny-delete, and names a message deleted through the API', async () => {
    const rig = await startCaseRig({ stream: { deny_delete: false } });
    const setting = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'STREAM_RECONFIGURED');
    expect(setting.data.detail).toContain('deny_delete=false (expected true)');
    const victim = Math.floor(EVENTS / 3);
    expect(await rig.jsm.streams.deleteMessage('HAVEN_ES', Number(rig.positions[victim]), false)).toBe(true);
    const t0 = Date.now();
    const alarm = await rig.alarm(STORE_INTEGRITY_VIOLATED, (d) => d.reason === 'EVENTS_MISSING');
    expect(alarm.data).toMatchObject({
      firstBadIndex: victim,
      firstBadEventId: rig.ids[victim],
      firstBadPosition: rig.positions[victim]!.toString(),
      count: 1,
    });
    measured.push(`message deleted through the API: named after ${latencyOf(alarm, t0)} ms`);
  });
});

/** Restarts nats-server with `edit` applied to the HAVEN_ES block files in between; returns when it is back. */
async function restartAfter(r: Rig, edit: (files: string[]) => void): Promise<number> {
  await r.nats.down(); // SIGTERM: nats-server flushes and closes its files
  edit(r.blockFiles());
  await r.nats.up();
  return Date.now();
}

/** Waits (bounded) for a line of the audit service's output; returns when it was seen. */
async function waitForLog(r: Rig, pattern: RegExp): Promise<number> {
  for (let i = 0; i < 200; i++) {
    if (pattern.test(r.audit?.output() ?? '')) return Date.now();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the audit service never logged ${pattern}`);
}
