import fc from 'fast-check';
import {
  EMPTY_TREE_HASH,
  MerkleLog,
  leafHash,
  nodeHash,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from './merkle';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Buffer => Buffer.from(s, 'hex');

// The Certificate Transparency reference data (RFC 6962 test vectors): leaves, then the root of every size.
const CT_ENTRIES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(unhex);
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

function logOf(leaves: readonly Hash[]): MerkleLog {
  const log = new MerkleLog();
  for (const l of leaves) log.append(l);
  return log;
}

/** The RFC's recursive definition, written out plainly, as the reference for the cached implementation. */
function referenceRoot(leaves: readonly Hash[]): Hash {
  if (leaves.length === 0) return EMPTY_TREE_HASH;
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

const manyLeaves = (n: number): Hash[] =>
  Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry-${i}`)));

describe('the RFC 9162 Merkle tree', () => {
  const ct = logOf(CT_ENTRIES.map(leafHash));

  it('matches the Certificate Transparency reference root of every size 0..8', () => {
    for (let n = 0; n <= 8; n++) expect(hex(ct.root(n))).toBe(CT_ROOTS[n]);
  });

  it('produces the reference inclusion and consistency proofs', () => {
    expect(ct.inclusionProof(0, 8).map(hex)).toEqual([
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
    expect(ct.inclusionProof(5, 8).map(hex)).toEqual([
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]);
    expect(ct.consistencyProof(2, 5).map(hex)).toEqual([
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ]);
  });

  it('agrees with the plain recursive definition for every prefix, also past the cached subtree size', () => {
    const leaves = manyLeaves(300);
    const log = logOf(leaves);
    for (const n of [0, 1, 2, 63, 64, 65, 127, 128, 129, 200, 256, 257, 299, 300]) {
      expect(hex(log.root(n))).toBe(hex(referenceRoot(leaves.slice(0, n))));
    }
    expect(hex(treeHash(leaves))).toBe(hex(log.root()));
  });

  it('proves every leaf of every tree size up to 40, and a proof checks only for its own leaf and root', () => {
    const leaves = manyLeaves(40);
    const log = logOf(leaves);
    for (let n = 1; n <= leaves.length; n++) {
      const root = log.root(n);
      for (let i = 0; i < n; i++) {
        const proof = log.inclusionProof(i, n);
        expect(verifyInclusion(leaves[i]!, i, n, proof, root)).toBe(true);
        expect(verifyInclusion(leaves[(i + 1) % n]!, i, n, proof, root)).toBe(n === 1);
        if (n > 1) expect(verifyInclusion(leaves[i]!, (i + 1) % n, n, proof, root)).toBe(false);
      }
    }
  });

  it('proves every earlier tree is a prefix of every later one, up to 40 leaves', () => {
    const log = logOf(manyLeaves(40));
    for (let m = 1; m <= 40; m++) {
      for (let n = m; n <= 40; n++) {
        const proof = log.consistencyProof(m, n);
        expect(verifyConsistency(m, n, proof, log.root(m), log.root(n))).toBe(true);
      }
    }
  });

  it('refuses altered proofs, roots and sizes (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 150 }), fc.nat(), fc.nat(), fc.nat(), (size, a, b, flip) => {
        const log = logOf(manyLeaves(size));
        const index = a % size;
        const proof = log.inclusionProof(index, size);
        const root = log.root(size);
        const leaf = log.leaf(index);
        expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);
        if (proof.length > 0) {
          const bad = proof.map((p) => Buffer.from(p));
          const at = bad[flip % bad.length]!;
          at[flip % 32] = at[flip % 32]! ^ 1;
          expect(verifyInclusion(leaf, index, size, bad, root)).toBe(false);
          expect(verifyInclusion(leaf, index, size, proof.slice(1), root)).toBe(false);
        }
        // (The tree size is bound by the signed head, not by the proof: some shapes share a path.)
        expect(verifyInclusion(leaf, index, index, proof, root)).toBe(false);

        const first = 1 + (b % (size - 1));
        const cp = log.consistencyProof(first, size);
        expect(verifyConsistency(first, size, cp, log.root(first), root)).toBe(true);
        const otherRoot = leafHash(Buffer.from('not the root'));
        expect(verifyConsistency(first, size, cp, otherRoot, root)).toBe(false);
        expect(verifyConsistency(first, size, cp, log.root(first), otherRoot)).toBe(false);
        if (cp.length > 0) {
          const bad = cp.map((p) => Buffer.from(p));
          const at = bad[flip % bad.length]!;
          at[0] = at[0]! ^ 0x80;
          expect(verifyConsistency(first, size, bad, log.root(first), root)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('refuses impossible sizes and indexes', () => {
    const log = logOf(manyLeaves(5));
    expect(() => log.root(6)).toThrow(RangeError);
    expect(() => log.inclusionProof(5, 5)).toThrow(RangeError);
    expect(() => log.inclusionProof(0, 0)).toThrow(RangeError);
    expect(() => log.consistencyProof(0, 5)).toThrow(RangeError);
    expect(() => log.consistencyProof(4, 3)).toThrow(RangeError);
    expect(() => log.append(Buffer.alloc(31))).toThrow(TypeError);
    expect(verifyInclusion(log.leaf(0), 5, 5, [], log.root())).toBe(false);
    expect(verifyConsistency(3, 3, [log.root(3)], log.root(3), log.root(3))).toBe(false);
    expect(verifyConsistency(3, 3, [], log.root(3), log.root(3))).toBe(true);
  });
});
