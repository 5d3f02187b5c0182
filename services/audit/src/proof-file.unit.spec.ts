import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, recordLeafData } from './log/ledger';
import { auditRecord } from './log/testing';
import { leafHash } from './log/merkle';
import { PROOF_FORMAT, checkProofFile, runVerifyCli } from './proof-file';

const ledgerLeafOf = (data: string): string => leafHash(Buffer.from(data, 'utf8')).toString('hex');

describe('an inclusion proof file', () => {
  let dir: string;
  let ledger: Ledger;
  let file: string;
  const records = Array.from({ length: 11 }, (_, i) => auditRecord(i));
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haven-proof-'));
    ledger = await Ledger.open({
      records,
      keyPath: join(dir, 'key.pem'),
      headsPath: join(dir, 'heads.ndjson'),
    });
    const head = await ledger.head(11);
    // The shape the gateway's /api/audit/events/:id/proof answers with.
    file = JSON.stringify({
      format: PROOF_FORMAT,
      entry: 'auditEvents/evt-6',
      leafIndex: 6,
      leafHash: ledger.leafHash(6).toString('hex'),
      leafData: recordLeafData(records[6]!).toString('utf8'),
      auditPath: ledger.inclusionProof(6, 11).map((h) => h.toString('hex')),
      head: {
        treeSize: 11,
        rootHash: head.rootHash.toString('hex'),
        timestampMs: head.timestampMs,
        signature: head.signature.toString('base64'),
        keyId: head.keyId,
        publicKey: ledger.publicKeyDer.toString('base64'),
      },
    });
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('verifies offline against the pinned key, by id or by the key itself', () => {
    expect(checkProofFile(file, ledger.keyId)).toEqual({
      ok: true,
      entry: 'auditEvents/evt-6',
      treeSize: 11,
      keyId: ledger.keyId,
    });
    expect(checkProofFile(file, ledger.publicKeyDer.toString('base64')).ok).toBe(true);
    expect(checkProofFile(file).ok).toBe(true);
  });

  it('refuses another key, a changed leaf, path, root or signature, and garbage', () => {
    interface ProofJson {
      leafHash: string;
      auditPath: string[];
      head: { rootHash: string; treeSize: number };
    }
    const edit = (f: (p: ProofJson) => void): string => {
      const p = JSON.parse(file) as ProofJson;
      f(p);
      return JSON.stringify(p);
    };
    const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
    expect(checkProofFile(file, '0123456789abcdef')).toMatchObject({
      ok: false,
      reason: /not the pinned key/,
    });
    expect(
      checkProofFile(
        edit((p) => (p.leafHash = flip(p.leafHash))),
        ledger.keyId,
      ),
    ).toMatchObject({
      ok: false,
      reason: 'the entry data does not hash to the leaf',
    });
    expect(
      checkProofFile(
        edit((p) => (p.auditPath[0] = flip(p.auditPath[0]!))),
        ledger.keyId,
      ).ok,
    ).toBe(false);
    expect(
      checkProofFile(
        edit((p) => (p.head.rootHash = flip(p.head.rootHash))),
        ledger.keyId,
      ),
    ).toMatchObject({ ok: false, reason: 'the tree head signature is not valid' });
    expect(
      checkProofFile(
        edit((p) => (p.head.treeSize = 12)),
        ledger.keyId,
      ).ok,
    ).toBe(false);
    expect(checkProofFile('{', ledger.keyId)).toMatchObject({ ok: false, reason: 'not JSON' });
    expect(checkProofFile('{}', ledger.keyId).ok).toBe(false);
  });

  it('refuses a file whose entry was changed to another event: the entry is bound to its leaf', () => {
    const edited = (f: (p: Record<string, unknown>) => void): string => {
      const p = JSON.parse(file) as Record<string, unknown>;
      f(p);
      return JSON.stringify(p);
    };
    expect(
      checkProofFile(
        edited((p) => (p['entry'] = 'auditEvents/evt-7')),
        ledger.keyId,
      ),
    ).toEqual({
      ok: false,
      reason: 'the leaf is the entry auditEvents/evt-6, not auditEvents/evt-7',
    });
    // The entry data rewritten to name the other event no longer hashes to the leaf.
    const forged = (p: Record<string, unknown>): void => {
      p['entry'] = 'auditEvents/evt-7';
      p['leafData'] = String(p['leafData']).replace('"evt-6"', '"evt-7"');
    };
    expect(checkProofFile(edited(forged), ledger.keyId)).toEqual({
      ok: false,
      reason: 'the entry data does not hash to the leaf',
    });
    // …and with a leaf hash to match, the leaf is not in the signed tree.
    const rehashed = (p: Record<string, unknown>): void => {
      forged(p);
      p['leafHash'] = ledgerLeafOf(String(p['leafData']));
    };
    expect(checkProofFile(edited(rehashed), ledger.keyId)).toEqual({
      ok: false,
      reason: 'the entry is not in the signed tree',
    });
    expect(
      checkProofFile(
        edited((p) => delete p['leafData']),
        ledger.keyId,
      ).ok,
    ).toBe(false);
    expect(
      checkProofFile(
        edited((p) => (p['format'] = 'haven.audit.inclusion-proof.v1')),
        ledger.keyId,
      ),
    ).toMatchObject({ ok: false, reason: /does not bind its entry to the leaf/ });
  });

  it('answers from the command line with an exit code', () => {
    const out: string[] = [];
    const io = { readFile: () => file, out: (t: string) => void out.push(t) };
    expect(runVerifyCli(['proof.json', '--key', ledger.keyId], io)).toBe(0);
    expect(out.join('')).toContain('VERIFIED: auditEvents/evt-6 is in the audit ledger of 11 entries');
    expect(runVerifyCli(['proof.json', '--key', '0123456789abcdef'], io)).toBe(1);
    expect(runVerifyCli([], io)).toBe(2);
  });
});
