/**
 * The audit service's own files tampered with or damaged (the audit log, a fresh volume, a proof file), the
 * service running as a built process over a real nats-server: a torn last line is repaired from the store with
 * an event saying so; a rewritten entry is named within seconds while running, and at the next start; a log
 * rebuilt into an empty volume raises no false alarm; a proof file whose entry was changed does not verify.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { audit } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import {
  AUDIT_LOG_REPAIRED,
  EVENTS,
  LEDGER_INTEGRITY_VIOLATED,
  LEDGER_STREAM,
  entriesOnDisk,
  latencyOf,
  measured,
  rigPerTest,
  type Rig,
} from './rig';
import { eventually, localClient } from '@haven/testing';

jest.setTimeout(90_000);

const ROOT = join(__dirname, '..', '..');
/** Anchors every 200 ms, so a head covers the log before a case tampers with it. */
const FAST_ANCHORS = { HAVEN_AUDIT_ANCHOR_INTERVAL_MS: '200' };

const startCaseRig = rigPerTest();

/** The audit log's lines (the last one empty). */
const linesOf = (path: string): string[] => readFileSync(path, 'utf8').split('\n');

/** Waits until an anchor covers at least `size` entries. */
async function anchored(r: Rig, size: number): Promise<void> {
  await eventually(
    `an anchor of ${size} entries`,
    async () => {
      const anchors = (await r.store.read(LEDGER_STREAM)).filter(
        (e) => e.type === 'haven.audit.v1.TreeHeadSigned' && Number(e.data['treeSize']) >= size,
      );
      return anchors.length > 0 ? true : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
}

/** Rewrites entry `index` of the log on disk with another actor, keeping its length. */
function rewriteActor(path: string, index: number): void {
  const lines = linesOf(path);
  const entry = JSON.parse(lines[index]!) as { actorId: string };
  expect(entry.actorId).toBe('u-clin');
  entry.actorId = 'u-evil';
  lines[index] = JSON.stringify(entry);
  writeFileSync(path, lines.join('\n'));
}

describe('the audit log on disk', () => {
  it('repairs a torn last line from the store at start, and says so', async () => {
    const rig = await startCaseRig();
    await rig.stopAudit();
    const lines = linesOf(rig.logPath);
    const last = lines.length - 2;
    const torn = lines.slice(0, last).join('\n') + '\n' + lines[last]!.slice(0, 50);
    writeFileSync(rig.logPath, torn);

    await rig.startAudit(); // the old service stopped here: a JSON parse error, exit 1, no event
    const repaired = await rig.alarm(AUDIT_LOG_REPAIRED, (d) => d.reason === 'TORN_LAST_LINE');
    expect(repaired.data).toMatchObject({ atIndex: last, droppedBytes: 50 });
    await rig.ingested(lines.length - 1);
    const entry = JSON.parse(linesOf(rig.logPath)[last]!) as { index: number; eventId: string };
    expect(entry).toMatchObject({ index: last, eventId: rig.ids[last] });
    expect(await rig.alarms(LEDGER_INTEGRITY_VIOLATED)).toEqual([]);
  });

  it('names an entry rewritten while the service runs, within seconds', async () => {
    const rig = await startCaseRig();
    const victim = Math.floor(EVENTS / 2);
    rewriteActor(rig.logPath, victim);
    const t0 = Date.now();
    const alarm = await rig.alarm(LEDGER_INTEGRITY_VIOLATED, (d) => d.reason === 'ENTRY_CHANGED');
    expect(alarm.data).toMatchObject({ firstBadIndex: victim, firstBadEventId: rig.ids[victim], count: 1 });
    expect(rig.audit?.output()).toMatch(/"violation":"ENTRY_CHANGED","treeSize":\d+,"firstBadIndex":\d+/);
    measured.push(`audit log entry rewritten while running: named after ${latencyOf(alarm, t0)} ms`);
  });

  it('names an entry rewritten while the service was stopped, at the next start', async () => {
    const rig = await startCaseRig({ auditEnv: FAST_ANCHORS });
    await anchored(rig, EVENTS);
    await rig.stopAudit();
    const victim = Math.floor(EVENTS / 3);
    rewriteActor(rig.logPath, victim);
    await rig.startAudit();
    const alarm = await rig.alarm(LEDGER_INTEGRITY_VIOLATED, (d) => d.reason === 'ROOT_MISMATCH');
    // Found by comparing the entries under the first failing anchor with the events the store holds.
    expect(alarm.data).toMatchObject({ firstBadIndex: victim, firstBadEventId: rig.ids[victim] });
    // The reason is in the error log, not redacted.
    expect(rig.audit?.output()).toContain('"violation":"ROOT_MISMATCH"');
  });

  it('raises no alarm when a fresh volume is rebuilt from the store (no false TRUNCATED)', async () => {
    const rig = await startCaseRig({ auditEnv: FAST_ANCHORS });
    await anchored(rig, EVENTS);
    await rig.stopAudit();
    const stored = (await rig.store.read(LEDGER_STREAM)).length;
    const fresh = mkdtempSync(join(tmpdir(), 'haven-tamper-fresh-'));
    try {
      await rig.startAudit({ HAVEN_DATA_DIR: fresh });
      await eventually(
        'the rebuilt log',
        async () => (entriesOnDisk(join(fresh, 'audit-log.ndjson')) >= EVENTS + stored ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      // A few more seconds of watching: the anchors are checked once the log has caught up with them.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await rig.alarms(LEDGER_INTEGRITY_VIOLATED)).toEqual([]);
      expect(rig.audit?.output()).toMatch(
        /"pendingAnchors":0,"msg":"audit ledger verified"|"msg":"audit ledger verified"/,
      );
    } finally {
      await rig.stopAudit();
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

describe('a proof file', () => {
  it('does not verify when its entry was changed to another event', async () => {
    const rig = await startCaseRig({ events: 12 });
    const client = localClient(audit.AuditServiceClient, rig.audit!.port);
    const dir = mkdtempSync(join(tmpdir(), 'haven-tamper-proof-'));
    try {
      const token = await rig.issuer.sign({ sub: 'u-auditor', role: 'auditor' });
      const id = rig.ids[5]!;
      const r = await callUnary(
        client,
        'getInclusionProof',
        audit.GetInclusionProofRequest.fromPartial({
          leaf: { $case: 'auditEvent', auditEvent: `auditEvents/${id}` },
          treeSize: '0',
        }),
        clientCallMetadata({ token }),
      );
      const head = r.treeHead!;
      // The file exactly as the gateway's Proof link writes it.
      const proof = {
        format: 'haven.audit.inclusion-proof.v2',
        entry: `auditEvents/${id}`,
        leafIndex: Number(r.leafIndex),
        leafHash: Buffer.from(r.leafHash).toString('hex'),
        leafData: Buffer.from(r.leafData).toString('utf8'),
        auditPath: r.auditPath.map((h) => Buffer.from(h).toString('hex')),
        head: {
          treeSize: Number(head.treeSize),
          rootHash: Buffer.from(head.rootHash).toString('hex'),
          timestampMs: head.timestamp!.getTime(),
          signature: Buffer.from(head.signature).toString('base64'),
          keyId: head.keyId,
          publicKey: Buffer.from(head.publicKey).toString('base64'),
        },
      };
      const verify = (file: object) => {
        writeFileSync(join(dir, 'proof.json'), JSON.stringify(file));
        return spawnSync(
          process.execPath,
          [join(ROOT, 'bin', 'haven-audit-verify'), join(dir, 'proof.json'), '--key', head.keyId],
          { encoding: 'utf8' },
        );
      };
      const honest = verify(proof);
      expect(honest.stdout).toMatch(new RegExp(`^VERIFIED: auditEvents/${id} is in the audit ledger`));
      expect(honest.status).toBe(0);
      const other = rig.ids[7]!;
      const changed = verify({ ...proof, entry: `auditEvents/${other}` });
      expect(changed.stdout).toBe(
        `NOT VERIFIED: the leaf is the entry auditEvents/${id}, not auditEvents/${other}\n`,
      );
      expect(changed.status).toBe(1);
    } finally {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
