/**
 * The audit ledger's cost as it grows: appending N entries (canonical JSON, RFC 8785, then the RFC 9162 leaf
 * hash) against the baseline of hashing the same entries' plain JSON with SHA-256 in the same process; then, at
 * that size, the signed tree head, inclusion and consistency proofs (generation and verification) and the
 * memory the ledger holds per entry. Prints numbers; passes or fails on nothing.
 * Stand-alone: `TS_NODE_PROJECT=tests/bench/tsconfig.json node --expose-gc -r ts-node/register/transpile-only
 * tests/bench/audit.bench.ts [entries]`.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AuditRecord } from '../../services/audit/src/log/audit-record';
import { Ledger, verifyTreeHead } from '../../services/audit/src/log/ledger';
import { verifyConsistency, verifyInclusion } from '../../services/audit/src/log/merkle';
import { ascending, percentile, round3 } from './stats';
import { runWhenMain } from './main';

function record(index: number): AuditRecord {
  return {
    index,
    eventId: `0193a1c2-7b3d-7e4f-8a9b-${String(index).padStart(12, '0')}`,
    type: 'haven.events.v1.PhiAccessed',
    stream: `scheduling.patient_access-pat-${index % 5000}`,
    context: 'scheduling',
    revision: String(index % 17),
    occurredAt: new Date(1_790_000_000_000 + index * 1000).toISOString(),
    actorKind: 'user',
    actorId: `u-${index % 40}`,
    actorRole: 'clinician',
    patientId: `pat-${index % 5000}`,
    correlationId: `c-${index}`,
    causationId: `c-${index}`,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    sourcePosition: String(index + 1),
    recordedAt: new Date(1_790_000_000_500 + index * 1000).toISOString(),
    access: {
      what: `patients/pat-${index % 5000}`,
      fields: ['given_name', 'family_name'],
      why: 'PHI_ACCESS_PURPOSE_TREATMENT',
      outcome: 'granted',
      breakGlass: false,
    },
  };
}

/** Microseconds per call of `fn` over `n` calls, as p50/p99 of individual timings. */
function timed(n: number, fn: (i: number) => void): { p50Us: number; p99Us: number } {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn(i);
    samples.push((performance.now() - t) * 1000);
  }
  const sorted = ascending(samples);
  return { p50Us: round3(percentile(sorted, 50)), p99Us: round3(percentile(sorted, 99)) };
}

const gc = (): void => {
  // Several passes: one full GC may leave garbage that a second one collects.
  for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
};
/** JS heap plus ArrayBuffer memory (leaf hashes are Buffers, which live outside the JS heap). */
const held = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** Runs the benchmark over `entries` ledger entries (default 100 000). */
export async function run(opts: { entries?: number } = {}): Promise<Record<string, unknown>> {
  const n = Math.max(1000, Math.min(opts.entries ?? 100_000, 2_000_000));
  const dir = mkdtempSync(join(tmpdir(), 'haven-audit-bench-'));
  try {
    // Entries are made on the fly on both sides (so memory measures what the ledger keeps, not the input), in
    // alternating blocks of 1000 so both sides see the machine at the same moments.
    // Baseline: SHA-256 of each entry's plain JSON (no canonical form, no tree).
    gc();
    const heapBefore = held();
    const ledger = await Ledger.open({
      records: [],
      keyPath: join(dir, 'key.pem'),
      headsPath: join(dir, 'heads.ndjson'),
    });
    let baselineMs = 0;
    let appendMs = 0;
    for (let from = 0; from < n; from += 1000) {
      const to = Math.min(n, from + 1000);
      let t0 = performance.now();
      for (let i = from; i < to; i++)
        createHash('sha256')
          .update(JSON.stringify(record(i)))
          .digest();
      baselineMs += performance.now() - t0;
      t0 = performance.now();
      for (let i = from; i < to; i++) ledger.append(record(i));
      appendMs += performance.now() - t0;
    }
    const t = performance.now();
    const head = await ledger.head(n);
    const firstHeadMs = performance.now() - t;
    gc();
    const heapAfter = held();

    const some = (i: number): number => (i * 7919) % n;
    const inclusion = timed(2000, (i) => ledger.inclusionProof(some(i), n));
    const proofs = Array.from({ length: 2000 }, (_, i) => ledger.inclusionProof(some(i), n));
    const verifyInc = timed(2000, (i) => {
      if (!verifyInclusion(ledger.leafHash(some(i)), some(i), n, proofs[i]!, head.rootHash)) {
        throw new Error('an inclusion proof did not verify');
      }
    });
    const firsts = Array.from({ length: 500 }, (_, i) => 1 + ((i * 104_729) % (n - 1)));
    const consistency = timed(500, (i) => ledger.consistencyProof(firsts[i]!, n));
    const verifyCon = timed(500, (i) => {
      const m = firsts[i]!;
      if (!verifyConsistency(m, n, ledger.consistencyProof(m, n), ledger.root(m), head.rootHash)) {
        throw new Error('a consistency proof did not verify');
      }
    });
    const verifyHead = timed(500, () => {
      if (!verifyTreeHead(head, ledger.publicKeyDer)) throw new Error('the head did not verify');
    });
    const appendPerS = Math.round((n / appendMs) * 1000);
    const baselinePerS = Math.round((n / baselineMs) * 1000);
    return {
      name: 'audit-ledger',
      entries: n,
      append: {
        entriesPerS: appendPerS,
        baselineSha256JsonPerS: baselinePerS,
        ratio: Math.round((appendMs / baselineMs) * 100) / 100,
      },
      firstSignedHeadMs: round3(firstHeadMs),
      inclusionProof: { ...inclusion, hashes: proofs[0]!.length },
      verifyInclusion: verifyInc,
      consistencyProof: consistency,
      consistencyProofAndVerify: verifyCon,
      verifyTreeHeadSignature: verifyHead,
      bytesPerEntry: Math.round((heapAfter - heapBefore) / n),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(module, () => run({ entries: Number(process.argv[2] ?? 100_000) }));
