/**
 * The Merkle tree of RFC 9162 (Certificate Transparency 2.0, §2.1) over SHA-256, as pure functions:
 * leaf and node hashes with domain separation (0x00 leaf, 0x01 node), the tree hash of any prefix, inclusion
 * and consistency proofs, and their verification (the algorithms of §2.1.3.2 and §2.1.4.2, written
 * independently of the proof generation so each checks the other). No I/O.
 */
import { createHash } from 'node:crypto';

/** A SHA-256 digest (32 bytes). */
export type Hash = Buffer;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** SHA-256(0x00 ‖ entry): the hash of one leaf. */
export function leafHash(entry: Uint8Array): Hash {
  return createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

/** SHA-256(0x01 ‖ left ‖ right): the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Hash {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** SHA-256 of nothing: the hash of the empty tree. */
export const EMPTY_TREE_HASH: Hash = createHash('sha256').digest();

/** The largest power of two strictly smaller than `n` (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Complete subtrees of at least 16 leaves are remembered once computed (they never change in an append-only log). */
const CACHED_SUBTREE_MIN = 16;

/**
 * An append-only list of leaf hashes with the RFC 9162 tree operations over any prefix of it. Complete,
 * aligned subtrees of 16 leaves or more are cached (about one entry per 8 leaves), so a proof or root over a
 * large log costs O(log n) hashes plus the leaves below one 16-leaf block (measured in tests/bench/audit.bench.ts).
 */
export class MerkleLog {
  private readonly leaves: Hash[] = [];
  private readonly subtrees = new Map<number, Map<number, Hash>>();

  /** Number of leaves. */
  get size(): number {
    return this.leaves.length;
  }

  /** Appends a leaf hash (see {@link leafHash}); returns its index. */
  append(hash: Hash): number {
    if (hash.length !== 32) throw new TypeError('MerkleLog.append: a leaf hash is 32 bytes');
    this.leaves.push(hash);
    return this.leaves.length - 1;
  }

  /** The leaf hash at `index`. Throws RangeError when out of range. */
  leaf(index: number): Hash {
    const h = this.leaves[index];
    if (h === undefined) throw new RangeError(`no leaf ${index} (size ${this.leaves.length})`);
    return h;
  }

  /** MTH(D[0:size]): the root of the first `size` leaves. Throws RangeError when `size` exceeds the log. */
  root(size: number = this.size): Hash {
    this.checkSize(size, 0);
    return size === 0 ? EMPTY_TREE_HASH : this.hash(0, size);
  }

  /** PATH(index, D[0:size]): the audit path of leaf `index` in the tree of `size` leaves. */
  inclusionProof(index: number, size: number = this.size): Hash[] {
    this.checkSize(size, 1);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
    }
    const path: Hash[] = [];
    this.path(index, 0, size, path);
    return path;
  }

  /** PROOF(first, D[0:second]): proves the tree of `first` leaves is a prefix of the tree of `second`. */
  consistencyProof(first: number, second: number = this.size): Hash[] {
    this.checkSize(second, 1);
    if (!Number.isSafeInteger(first) || first < 1 || first > second) {
      throw new RangeError(`first size ${first} must be between 1 and ${second}`);
    }
    const proof: Hash[] = [];
    this.subproof(first, 0, second, true, proof);
    return proof;
  }

  private checkSize(size: number, min: number): void {
    if (!Number.isSafeInteger(size) || size < min || size > this.leaves.length) {
      throw new RangeError(`tree size ${size} is not between ${min} and ${this.leaves.length}`);
    }
  }

  /** MTH(D[start:start+n]). */
  private hash(start: number, n: number): Hash {
    if (n === 1) return this.leaves[start]!;
    const complete = (n & (n - 1)) === 0 && start % n === 0;
    if (complete && n >= CACHED_SUBTREE_MIN) {
      const cached = this.subtrees.get(n)?.get(start);
      if (cached) return cached;
    }
    const k = splitPoint(n);
    const h = nodeHash(this.hash(start, k), this.hash(start + k, n - k));
    if (complete && n >= CACHED_SUBTREE_MIN) {
      let level = this.subtrees.get(n);
      if (!level) this.subtrees.set(n, (level = new Map<number, Hash>()));
      level.set(start, h);
    }
    return h;
  }

  private path(m: number, start: number, n: number, out: Hash[]): void {
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.path(m, start, k, out);
      out.push(this.hash(start + k, n - k));
    } else {
      this.path(m - k, start + k, n - k, out);
      out.push(this.hash(start, k));
    }
  }

  private subproof(m: number, start: number, n: number, complete: boolean, out: Hash[]): void {
    if (m === n) {
      if (!complete) out.push(this.hash(start, n));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.subproof(m, start, k, complete, out);
      out.push(this.hash(start + k, n - k));
    } else {
      this.subproof(m - k, start + k, n - k, false, out);
      out.push(this.hash(start, k));
    }
  }
}

/** MTH over a whole list of leaf hashes (for one-off checks and tests). */
export function treeHash(leaves: readonly Hash[]): Hash {
  const log = new MerkleLog();
  for (const l of leaves) log.append(l);
  return log.root();
}

/** The (fn, sn) node pair the RFC 9162 verification algorithms walk up the tree with. */
class PathPosition {
  constructor(
    public fn: number,
    public sn: number,
  ) {}

  /** LSB(fn) set, or fn = sn: the proof hash goes on the left. */
  isRightOrLast(): boolean {
    return this.fn % 2 === 1 || this.fn === this.sn;
  }

  /** "If LSB(fn) is not set, right-shift fn and sn equally until either LSB(fn) is set or fn is 0." */
  skipLeftEdges(): void {
    while (this.fn % 2 === 0 && this.fn !== 0) this.up();
  }

  up(): void {
    this.fn = Math.floor(this.fn / 2);
    this.sn = Math.floor(this.sn / 2);
  }
}

/**
 * RFC 9162 §2.1.3.2: true when `proof` shows the leaf with hash `leaf` at `index` is in the tree of `size`
 * leaves whose root is `root`.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  const pos = new PathPosition(index, size - 1);
  let r: Uint8Array = leaf;
  for (const p of proof) {
    if (pos.sn === 0) return false;
    if (pos.isRightOrLast()) {
      r = nodeHash(p, r);
      pos.skipLeftEdges();
    } else {
      r = nodeHash(r, p);
    }
    pos.up();
  }
  return pos.sn === 0 && Buffer.from(r).equals(Buffer.from(root));
}

/**
 * RFC 9162 §2.1.4.2: true when `proof` shows the tree of `first` leaves (root `firstRoot`) is a prefix of the
 * tree of `second` leaves (root `secondRoot`). Equal sizes need an empty proof and equal roots.
 */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 1 || first > second) {
    return false;
  }
  const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
  if (first === second) return proof.length === 0 && eq(firstRoot, secondRoot);
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  if (path.length === 0) return false;
  const pos = new PathPosition(first - 1, second - 1);
  while (pos.fn % 2 === 1) pos.up();
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = path[0]!;
  for (const c of path.slice(1)) {
    if (pos.sn === 0) return false;
    if (pos.isRightOrLast()) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      pos.skipLeftEdges();
    } else {
      sr = nodeHash(sr, c);
    }
    pos.up();
  }
  return eq(fr, firstRoot) && eq(sr, secondRoot) && pos.sn === 0;
}
