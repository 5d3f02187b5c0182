/**
 * The audit ledger over real servers: events appended to a real nats-server reach the audit service, which
 * hashes them into its Merkle ledger and anchors signed heads in the event store. An auditor checks, with
 * nothing but the public key, that an entry is in the log and that a later head extends an earlier one; a log
 * rewritten on disk is caught at the next start (`LedgerIntegrityViolated`).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { JetStreamEventStore, newEvent } from '@haven/eventstore';
import { audit, phiEvents } from '@haven/proto';
import {
  callUnary,
  clientCallMetadata,
  loadConfig,
  parseStatusDetails,
  type RequestOf,
  type RunningGrpcService,
} from '@haven/service';
import { captureLogs, createTestIssuer } from '@haven/service/testing';
import {
  eventually,
  failureOf,
  type JwksServer,
  localClient,
  type NatsServerHandle,
  serveJwks,
  startNatsServer,
} from '@haven/testing';
import { verifyTreeHead } from './log/ledger';
import { LEDGER_INTEGRITY_VIOLATED, LEDGER_STREAM, TREE_HEAD_SIGNED } from './log/ledger-keeper';
import { treeHash, verifyConsistency, verifyInclusion } from './log/merkle';
import { auditConfigSchema, startAudit } from './server';

jest.setTimeout(60_000);

const issuer = createTestIssuer();
let nats: NatsServerHandle;
let jwks: JwksServer;
let dataDir: string;
let store: JetStreamEventStore;
let service: RunningGrpcService | undefined;
let client: audit.AuditServiceClient | undefined;
let auditor = '';
const logs = captureLogs('audit', 'info');

async function start(): Promise<void> {
  const config = loadConfig(auditConfigSchema, {
    ...nats.env('audit'),
    HAVEN_GRPC_PORT: '0',
    HAVEN_JWKS_URL: jwks.url,
    HAVEN_DATA_DIR: join(dataDir, 'audit'),
  });
  service = await startAudit(config, logs.logger, {
    host: '127.0.0.1',
    ledger: { anchorIntervalMs: 100 },
  });
  client = localClient(audit.AuditServiceClient, service.port);
}

async function stop(): Promise<void> {
  client?.close();
  await service?.stop();
  service = undefined;
}

const as = (token = auditor): grpc.Metadata => clientCallMetadata({ token });
/** The first field a refusal's BadRequest names. */
const violatedField = (e: grpc.ServiceError) => parseStatusDetails(e).fieldViolations?.[0]?.field;
/** The error a call answers with, made as the auditor unless another token is given. */
const refusalOf = <M extends keyof audit.AuditServiceClient>(
  method: M,
  request: RequestOf<audit.AuditServiceClient, M>,
  token?: string,
) => failureOf(callUnary(client!, method, request, as(token)));

async function appendVisits(from: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + count; i++) {
    const e = newEvent({
      type: 'haven.session.v1.VisitOpened',
      data: { visitId: `v-${i}` },
      actor: { kind: 'user', id: 'u-clin', role: 'clinician' },
    });
    ids.push(e.id);
    await store.append(`session.visit-v${i}`, 'no_stream', [e]);
  }
  return ids;
}

const ledgerSize = async (): Promise<number> =>
  Number(
    (await callUnary(client!, 'getTreeHead', audit.GetTreeHeadRequest.fromPartial({ treeSize: '0' }), as()))
      .treeHead!.treeSize,
  );

beforeAll(async () => {
  nats = await startNatsServer();
  jwks = await serveJwks(issuer.jwks);
  dataDir = mkdtempSync(join(tmpdir(), 'haven-audit-ledger-'));
  store = await JetStreamEventStore.connect({ ...nats.operator, name: 'audit-ledger-test' });
  auditor = await issuer.sign({ sub: 'u-auditor', role: 'auditor' });
  await start();
});

afterAll(async () => {
  await stop();
  await store?.close();
  await jwks?.close();
  await nats?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the audit ledger', () => {
  let firstHead: audit.SignedTreeHead;
  let ids: string[] = [];

  it('proves an entry is in the log with a head signed by the pinned key', async () => {
    ids = await appendVisits(0, 12);
    await eventually('ingestion', async () => ((await ledgerSize().catch(() => 0)) >= 12 ? true : undefined));
    const target = ids[5]!;
    const res = await callUnary(
      client!,
      'getInclusionProof',
      audit.GetInclusionProofRequest.fromPartial({
        leaf: { $case: 'auditEvent', auditEvent: `auditEvents/${target}` },
        treeSize: '0',
      }),
      as(),
    );
    const head = res.treeHead!;
    firstHead = head;
    expect(head.signatureAlgorithm).toBe('Ed25519');
    const headForCheck = {
      treeSize: Number(head.treeSize),
      rootHash: head.rootHash,
      timestampMs: head.timestamp!.getTime(),
      signature: head.signature,
    };
    expect(verifyTreeHead(headForCheck, head.publicKey)).toBe(true);
    expect(verifyTreeHead({ ...headForCheck, treeSize: headForCheck.treeSize + 1 }, head.publicKey)).toBe(
      false,
    );
    // The leaf hash the proof starts from is the one ListAuditEvents/GetAuditEvent show for that entry.
    const entry = await callUnary(
      client!,
      'getAuditEvent',
      audit.GetAuditEventRequest.fromPartial({ name: `auditEvents/${target}` }),
      as(),
    );
    expect(Buffer.from(entry.auditEvent!.leafHash).equals(Buffer.from(res.leafHash))).toBe(true);
    expect(
      verifyInclusion(
        res.leafHash,
        Number(res.leafIndex),
        Number(res.treeSize),
        res.auditPath,
        head.rootHash,
      ),
    ).toBe(true);
    const other = await callUnary(
      client!,
      'getAuditEvent',
      audit.GetAuditEventRequest.fromPartial({ name: `auditEvents/${ids[6]}` }),
      as(),
    );
    expect(
      verifyInclusion(
        other.auditEvent!.leafHash,
        Number(res.leafIndex),
        Number(res.treeSize),
        res.auditPath,
        head.rootHash,
      ),
    ).toBe(false);
  });

  it('proves a later head extends the earlier one, and anchors heads in the event store', async () => {
    await appendVisits(100, 7);
    const firstSize = Number(firstHead.treeSize);
    await eventually('more ingestion', async () =>
      (await ledgerSize()) >= firstSize + 7 ? true : undefined,
    );
    const res = await callUnary(
      client!,
      'getConsistencyProof',
      audit.GetConsistencyProofRequest.fromPartial({ firstTreeSize: String(firstSize), secondTreeSize: '0' }),
      as(),
    );
    const second = res.treeHead!;
    expect(Number(second.treeSize)).toBeGreaterThan(firstSize);
    expect(
      verifyConsistency(firstSize, Number(second.treeSize), res.proof, firstHead.rootHash, second.rootHash),
    ).toBe(true);
    expect(
      verifyConsistency(firstSize, Number(second.treeSize), res.proof, second.rootHash, second.rootHash),
    ).toBe(false);
    // Anchors: TreeHeadSigned events in the store, each naming a root the ledger really had at that size.
    const anchors = await eventually('an anchored head', async () => {
      const events = (await store.read(LEDGER_STREAM)).filter((e) => e.type === TREE_HEAD_SIGNED);
      return events.length > 0 ? events : undefined;
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${logs.text().slice(-4000)}`);
    });
    for (const a of anchors) {
      const { treeSize, rootHash } = a.data as { treeSize: number; rootHash: string };
      const head = await callUnary(
        client!,
        'getTreeHead',
        audit.GetTreeHeadRequest.fromPartial({ treeSize: String(treeSize) }),
        as(),
      );
      expect(Buffer.from(head.treeHead!.rootHash).toString('hex')).toBe(rootHash);
    }
    expect(statSync(join(dataDir, 'audit', 'ledger-signing-key.pem')).mode & 0o777).toBe(0o600);
  });

  it('answers bad sizes with field violations and keeps the ledger from other roles', async () => {
    const beyond = await refusalOf(
      'getTreeHead',
      audit.GetTreeHeadRequest.fromPartial({ treeSize: '999999' }),
    );
    expect(beyond.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedField(beyond)).toBe('tree_size');
    const zeroFirst = await refusalOf(
      'getConsistencyProof',
      audit.GetConsistencyProofRequest.fromPartial({ firstTreeSize: '0', secondTreeSize: '0' }),
    );
    expect(violatedField(zeroFirst)).toBe('first_tree_size');
    const noLeaf = await refusalOf(
      'getInclusionProof',
      audit.GetInclusionProofRequest.fromPartial({ treeSize: '0' }),
    );
    expect(violatedField(noLeaf)).toBe('leaf');
    const tooMany = await refusalOf(
      'listAuditEvents',
      audit.ListAuditEventsRequest.fromPartial({ pageSize: 501 }),
    );
    expect(violatedField(tooMany)).toBe('page_size');
    const clinician = await issuer.sign({ sub: 'u-clin', role: 'clinician' });
    const refused = await refusalOf(
      'getTreeHead',
      audit.GetTreeHeadRequest.fromPartial({ treeSize: '0' }),
      clinician,
    );
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("tells a patient who accessed their record, and nobody else's", async () => {
    const access = (patientId: string, role: string, outcome: string, extra: Record<string, unknown> = {}) =>
      newEvent({
        type: 'haven.events.v1.PhiAccessed',
        data: {
          who: { kind: 'user', id: `u-${role}`, role },
          patientId,
          whose: `patients/${patientId}`,
          what: `patients/${patientId}`,
          fields: ['given_name', 'family_name'],
          why: 'PHI_ACCESS_PURPOSE_TREATMENT',
          outcome,
          method: '/haven.scheduling.v1.SchedulingService/GetPatient',
          ...extra,
        },
        actor: { kind: 'user', id: `u-${role}`, role },
      });
    const mine = [
      access('pat-a', 'clinician', 'granted'),
      access('pat-a', 'front_desk', 'denied'),
      access('pat-a', 'admin', 'granted', { breakGlassGrant: 'bg-1' }),
    ];
    // The clinician's name comes from identity's own record of them.
    await store.append('identity.user-u-clinician', 'any', [
      newEvent({
        type: 'haven.identity.v1.UserInvited',
        data: {
          userId: 'u-clinician',
          username: 'ada@x.test',
          role: 'clinician',
          displayName: 'Dr Ada Lovelace',
        },
        actor: { kind: 'service', id: 'identity' },
      }),
    ]);
    for (const e of mine) await store.append(`scheduling.patient_access-pat-a`, 'any', [e]);
    await store.append('scheduling.patient_access-pat-b', 'any', [access('pat-b', 'clinician', 'granted')]);
    const patientA = await issuer.sign({ sub: 'pat-a', kind: 'patient' });
    const list = async (pageSize: number, pageToken = '') =>
      callUnary(
        client!,
        'listMyAccessLog',
        audit.ListMyAccessLogRequest.fromPartial({ pageSize, pageToken }),
        as(patientA),
      );
    const all = await eventually('the accesses', async () => {
      const r = await list(10);
      return r.entries.length >= 3 ? r : undefined;
    });
    expect(all.entries.map((e) => e.auditEvent)).toEqual(mine.map((e) => `auditEvents/${e.id}`).reverse());
    expect(all.entries.map((e) => [e.accessorRole, e.outcome, e.breakGlass])).toEqual([
      ['admin', phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_GRANTED, true],
      ['front_desk', phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_DENIED, false],
      ['clinician', phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_GRANTED, false],
    ]);
    expect(all.entries.map((e) => e.accessorDisplayName)).toEqual(['', '', 'Dr Ada Lovelace']);
    expect(all.entries[0]).toMatchObject({
      resource: 'patients/pat-a',
      fields: ['given_name', 'family_name'],
      purpose: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT,
    });
    // Pages, newest first.
    const first = await list(2);
    expect(first.entries).toHaveLength(2);
    const second = await list(2, first.nextPageToken);
    expect(second.entries.map((e) => e.auditEvent)).toEqual([`auditEvents/${mine[0]!.id}`]);
    expect(second.nextPageToken).toBe('');
    // Staff cannot call it (the policy allows patients only).
    const refused = await refusalOf('listMyAccessLog', audit.ListMyAccessLogRequest.fromPartial({}));
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('exports the log with leaf hashes and a signed head the recipient can check on its own', async () => {
    const exported = (request: Partial<audit.ExportAuditLogRequest>) =>
      new Promise<audit.ExportAuditLogResponse[]>((resolve, reject) => {
        const out: audit.ExportAuditLogResponse[] = [];
        const stream = client!.exportAuditLog(audit.ExportAuditLogRequest.fromPartial(request), as());
        stream.on('data', (m: audit.ExportAuditLogResponse) => out.push(m));
        stream.on('error', reject);
        stream.on('end', () => resolve(out));
      });
    const all = await exported({});
    const last = all.at(-1)!.item;
    expect(last?.$case).toBe('treeHead');
    const head = (last as { treeHead: audit.SignedTreeHead }).treeHead;
    const entries = all
      .slice(0, -1)
      .map((m) => (m.item as { $case: 'auditEvent'; auditEvent: audit.AuditEvent }).auditEvent);
    expect(entries).toHaveLength(Number(head.treeSize));
    expect(entries.map((e) => Number(e.leafIndex))).toEqual(entries.map((_, i) => i));
    // The recipient recomputes the root from the leaf hashes and checks the signature: no trust needed.
    expect(treeHash(entries.map((e) => Buffer.from(e.leafHash))).equals(Buffer.from(head.rootHash))).toBe(
      true,
    );
    expect(
      verifyTreeHead(
        {
          treeSize: Number(head.treeSize),
          rootHash: head.rootHash,
          timestampMs: head.timestamp!.getTime(),
          signature: head.signature,
        },
        head.publicKey,
      ),
    ).toBe(true);
    // Recorded before the first entry left.
    const exports = await eventually('the AuditLogExported entry', async () => {
      const page = await callUnary(
        client!,
        'listAuditEvents',
        audit.ListAuditEventsRequest.fromPartial({
          pageSize: 500,
          types: ['haven.audit.v1.AuditLogExported'],
        }),
        as(),
      );
      return page.auditEvents.length > 0 ? page.auditEvents : undefined;
    });
    expect(exports[0]?.actor?.id).toBe('u-auditor');
    // A patient's slice: only their entries, still ending with the head.
    const slice = await exported({ patient: 'patients/pat-a' });
    expect(slice.length).toBeGreaterThan(1);
    expect(
      slice
        .slice(0, -1)
        .every((m) => (m.item as { auditEvent: audit.AuditEvent }).auditEvent.patient === 'patients/pat-a'),
    ).toBe(true);
    const bad = await failureOf(exported({ patient: 'people/x' }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('lists entries newest first on request, paging backwards', async () => {
    const list = (pageToken = '') =>
      callUnary(
        client!,
        'listAuditEvents',
        audit.ListAuditEventsRequest.fromPartial({ pageSize: 5, orderBy: 'leaf_index desc', pageToken }),
        as(),
      );
    const first = await list();
    const second = await list(first.nextPageToken);
    const indexes = [...first.auditEvents, ...second.auditEvents].map((e) => Number(e.leafIndex));
    expect(indexes).toHaveLength(10);
    expect(indexes).toEqual([...indexes].sort((x, y) => y - x));
    expect(new Set(indexes).size).toBe(10);
    const bad = await refusalOf(
      'listAuditEvents',
      audit.ListAuditEventsRequest.fromPartial({ orderBy: 'occur_time' }),
    );
    expect(violatedField(bad)).toBe('order_by');
  });

  it('catches a log rewritten on disk at the next start', async () => {
    await stop();
    const path = join(dataDir, 'audit', 'audit-log.ndjson');
    const lines = readFileSync(path, 'utf8').split('\n');
    const victim = JSON.parse(lines[3]!) as { actorId: string };
    victim.actorId = 'u-someone-else';
    lines[3] = JSON.stringify(victim);
    writeFileSync(path, lines.join('\n'));
    logs.clear();
    await start();
    const alarms = (await store.read(LEDGER_STREAM)).filter((e) => e.type === LEDGER_INTEGRITY_VIOLATED);
    expect(alarms.length).toBeGreaterThan(0);
    expect(alarms.map((a) => (a.data as { reason: string }).reason)).toContain('ROOT_MISMATCH');
    expect(logs.text()).toContain('audit ledger integrity violated');
  });
});
