import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from './audit-record';
import { Ledger, verifyTreeHead } from './ledger';
import { verifyInclusion } from './merkle';
import { auditRecord } from './testing';

const record = (index: number, actorId = 'u-clin'): AuditRecord => auditRecord(index, { actorId });

describe('the audit ledger', () => {
  let dir: string;
  const paths = () => ({ keyPath: join(dir, 'key.pem'), headsPath: join(dir, 'heads.ndjson') });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haven-ledger-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('signs heads that verify with the public key, keeps them, and reopens clean', async () => {
    const records = [0, 1, 2, 3, 4].map((i) => record(i));
    const ledger = await Ledger.open({ records: records.slice(0, 3), ...paths(), now: () => 1_000 });
    expect(ledger.violations).toEqual([]);
    ledger.append(records[3]!);
    ledger.append(records[4]!);
    const head = await ledger.head(5);
    expect(await ledger.head(5)).toBe(head); // the same head, not a new signature
    expect(verifyTreeHead(head, ledger.publicKeyDer)).toBe(true);
    expect(verifyTreeHead({ ...head, timestampMs: head.timestampMs + 1 }, ledger.publicKeyDer)).toBe(false);
    const proof = ledger.inclusionProof(2, 5);
    expect(verifyInclusion(ledger.leafHash(2), 2, 5, proof, head.rootHash)).toBe(true);
    expect(() => ledger.append(record(9))).toThrow(RangeError);
    expect((await stat(paths().keyPath)).mode & 0o777).toBe(0o600);

    const reopened = await Ledger.open({ records, ...paths() });
    expect(reopened.violations).toEqual([]);
    expect(reopened.keyId).toBe(ledger.keyId);
    expect(reopened.latestHead?.rootHash.equals(head.rootHash)).toBe(true);
    // A log rebuilt from the event store later (new ingestion times) has the same tree.
    const rebuilt = records.map((r) => ({ ...r, recordedAt: '2027-01-01T00:00:00.000Z' }));
    expect((await Ledger.open({ records: rebuilt, ...paths() })).root().equals(head.rootHash)).toBe(true);
  });

  it('signs with a provided key (shared by replicas) and never creates one in its place', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const keyPath = join(dir, 'provided.pem');
    await writeFile(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o400 });
    const a = await Ledger.open({
      records: [record(0)],
      keyPath,
      createKey: false,
      headsPath: paths().headsPath,
    });
    const b = await Ledger.open({
      records: [record(0)],
      keyPath,
      createKey: false,
      headsPath: join(dir, 'b.ndjson'),
    });
    expect(a.keyId).toBe(b.keyId);
    expect(verifyTreeHead(await a.head(1), b.publicKeyDer)).toBe(true);
    await expect(
      Ledger.open({
        records: [],
        keyPath: join(dir, 'missing.pem'),
        createKey: false,
        headsPath: paths().headsPath,
      }),
    ).rejects.toThrow(/ENOENT/);
    const rsa = join(dir, 'rsa.pem');
    await writeFile(
      rsa,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    await expect(
      Ledger.open({ records: [], keyPath: rsa, createKey: false, headsPath: paths().headsPath }),
    ).rejects.toThrow(/not Ed25519/);
  });

  it('reports a changed record, a removed record, a forged head and a reordered log', async () => {
    const records = [0, 1, 2, 3].map((i) => record(i));
    const ledger = await Ledger.open({ records, ...paths() });
    await ledger.head(2);
    await ledger.head(4);

    const changed = records.map((r, i) => (i === 1 ? record(1, 'u-someone-else') : r));
    expect((await Ledger.open({ records: changed, ...paths() })).violations).toEqual([
      { treeSize: 2, reason: 'ROOT_MISMATCH' },
      { treeSize: 4, reason: 'ROOT_MISMATCH' },
    ]);
    expect((await Ledger.open({ records: records.slice(0, 3), ...paths() })).violations).toEqual([
      { treeSize: 4, reason: 'TRUNCATED', firstBadIndex: 3, count: 1 },
    ]);
    const swapped = [records[0]!, records[2]!, records[1]!, records[3]!];
    expect((await Ledger.open({ records: swapped, ...paths() })).violations[0]).toEqual({
      treeSize: 1,
      reason: 'INDEX_MISMATCH',
      firstBadIndex: 1,
      firstBadEventId: 'evt-2',
      detail: 'the record at position 1 says index 2',
    });

    const lines = (await readFile(paths().headsPath, 'utf8')).trim().split('\n');
    const forged = JSON.parse(lines[1]!) as { rootHash: string };
    forged.rootHash = '00'.repeat(32);
    await writeFile(paths().headsPath, `${lines[0]}\n${JSON.stringify(forged)}\n`);
    expect((await Ledger.open({ records, ...paths() })).violations).toEqual([
      { treeSize: 4, reason: 'BAD_SIGNATURE' },
    ]);
  });
});
