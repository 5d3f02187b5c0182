/**
 * The tamper-evident ledger over the audit log: every record is a Merkle leaf (RFC 9162, SHA-256 of 0x00 ‖
 * the record's canonical JSON, RFC 8785, see {@link recordLeafHash}), and the service signs tree heads with its own Ed25519 key. Signed
 * heads are kept in `tree-heads.ndjson` next to the log. On open the whole log is re-hashed and checked
 * against every signed head: a record changed, removed or reordered after a head was signed changes that
 * head's root, and the ledger reports it (the service then appends `LedgerIntegrityViolated` and alerts).
 *
 * Anyone holding a signed head and the public key can check, without trusting the service, that an entry
 * is in the log (inclusion proof) and that a later head extends an earlier one (consistency proof): see
 * {@link verifyTreeHead}, and `verifyInclusion` / `verifyConsistency` in ./merkle.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeSecretFile } from '@haven/crypto';
import { canonicalJson } from './canonical-json';
import type { AuditRecord } from './audit-record';
import { MerkleLog, leafHash, type Hash } from './merkle';

/** A signed tree head, as stored and served. */
export interface TreeHead {
  readonly treeSize: number;
  /** SHA-256 Merkle root of the first `treeSize` records. */
  readonly rootHash: Buffer;
  /** When it was signed, ms since the epoch. */
  readonly timestampMs: number;
  /** Ed25519 signature over {@link treeHeadSigningInput}. */
  readonly signature: Buffer;
  readonly keyId: string;
}

/**
 * Why the log failed a check: `ROOT_MISMATCH` (a record changed or was reordered under a signed head or
 * anchor), `TRUNCATED` (records missing), `BAD_SIGNATURE` (a stored head not signed by the key),
 * `INDEX_MISMATCH` (a record out of place), `ENTRY_CHANGED` (a record on disk differs from the one ingested,
 * seen while running), `UNREADABLE_ENTRY` (a line that is not a record).
 */
export type IntegrityReason =
  'ROOT_MISMATCH' | 'TRUNCATED' | 'BAD_SIGNATURE' | 'INDEX_MISMATCH' | 'ENTRY_CHANGED' | 'UNREADABLE_ENTRY';

/** A problem found when checking the log against its signed heads, its anchors or what it ingested. */
export interface IntegrityViolation {
  /** The tree size at which the check failed. */
  readonly treeSize: number;
  readonly reason: IntegrityReason;
  /** The first entry found wrong (0-based leaf index), when known. */
  readonly firstBadIndex?: number;
  /** The event id of that entry, when known. */
  readonly firstBadEventId?: string;
  /** How many entries are wrong, when known. */
  readonly count?: number;
  /** More about it (non-PHI), e.g. the range the first bad entry lies in. */
  readonly detail?: string;
}

/** The signature algorithm of tree heads. */
export const TREE_HEAD_ALGORITHM = 'Ed25519';

/**
 * The exact bytes a tree head signature covers: the UTF-8 of
 * `haven-audit-tree-head/v1\n<tree_size>\n<root hash, lowercase hex>\n<timestamp, ms since the epoch>`.
 */
export function treeHeadSigningInput(treeSize: number, rootHash: Uint8Array, timestampMs: number): Buffer {
  return Buffer.from(
    `haven-audit-tree-head/v1\n${treeSize}\n${Buffer.from(rootHash).toString('hex')}\n${timestampMs}`,
    'utf8',
  );
}

/** The id of a signing key: the first 16 hex digits of SHA-256 of its SubjectPublicKeyInfo DER. */
export function keyIdOf(publicKeyDer: Uint8Array): string {
  return createHash('sha256').update(publicKeyDer).digest('hex').slice(0, 16);
}

/** True when `head` carries a valid signature by `publicKey` (a KeyObject or SubjectPublicKeyInfo DER). */
export function verifyTreeHead(
  head: Pick<TreeHead, 'treeSize' | 'rootHash' | 'timestampMs' | 'signature'>,
  publicKey: KeyObject | Uint8Array,
): boolean {
  const key =
    publicKey instanceof Uint8Array
      ? createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' })
      : publicKey;
  try {
    return verify(
      null,
      treeHeadSigningInput(head.treeSize, head.rootHash, head.timestampMs),
      key,
      head.signature,
    );
  } catch {
    return false;
  }
}

/**
 * The leaf hash of a record: SHA-256(0x00 ‖ RFC 8785 canonical JSON of the record without `recordedAt`).
 * `recordedAt` is when this replica ingested the event; leaving it out makes the tree a function of the event
 * store alone, so every replica, and a log rebuilt from the store, computes the same roots as the anchors.
 */
export function recordLeafHash(record: AuditRecord): Hash {
  return leafHash(recordLeafData(record));
}

/** The bytes a record's leaf hash covers: the UTF-8 of its RFC 8785 canonical JSON without `recordedAt`. */
export function recordLeafData(record: AuditRecord): Buffer {
  const { recordedAt: _ingestedAt, ...entry } = record;
  const json = canonicalJson(entry);
  if (json === undefined) throw new TypeError('an audit record must serialise to JSON');
  return Buffer.from(json, 'utf8');
}

interface StoredHead {
  readonly treeSize: number;
  readonly rootHash: string;
  readonly timestampMs: number;
  readonly signature: string;
  readonly keyId: string;
}

/**
 * Loads the Ed25519 signing key at `path`. With `create`, makes it (0600, in a 0700 directory) on first use;
 * without, the file is managed elsewhere (a Kubernetes secret shared by every replica) and must exist.
 */
async function loadOrCreateKey(path: string, create: boolean): Promise<KeyObject> {
  if (!create) {
    const key = createPrivateKey(await readFile(path, 'utf8'));
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new TypeError(`the audit signing key ${path} is ${String(key.asymmetricKeyType)}, not Ed25519`);
    }
    return key;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    const pem = await readFile(path, 'utf8');
    if ((await stat(path)).mode & 0o077) await chmod(path, 0o600);
    return createPrivateKey(pem);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  await writeSecretFile(path, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  return privateKey;
}

/** The Merkle ledger of one audit log (see the module comment). */
export class Ledger {
  private readonly tree = new MerkleLog();
  private readonly heads = new Map<number, TreeHead>();
  private latest: TreeHead | undefined;
  private readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER of the signing key: pin it out of band to check heads. */
  readonly publicKeyDer: Buffer;
  /** First 16 hex digits of SHA-256 of the public key DER. */
  readonly keyId: string;
  /** Problems found when the ledger was opened (empty when the log matches every signed head). */
  readonly violations: IntegrityViolation[] = [];

  private constructor(
    private readonly privateKey: KeyObject,
    private readonly headsPath: string,
    private readonly now: () => number,
  ) {
    this.publicKey = createPublicKey(privateKey);
    this.publicKeyDer = this.publicKey.export({ format: 'der', type: 'spki' });
    this.keyId = keyIdOf(this.publicKeyDer);
  }

  /**
   * Opens the ledger over `records` (the audit log, oldest first): loads (or, with `createKey`, creates) the
   * signing key at `keyPath`, re-hashes every record, and checks every head in `headsPath` (signature and root).
   * Violations are collected in {@link violations}, not thrown.
   */
  static async open(options: {
    records: Iterable<AuditRecord>;
    keyPath: string;
    /** False when `keyPath` is provided (shared by replicas) and must not be created; default true. */
    createKey?: boolean;
    headsPath: string;
    now?: () => number;
  }): Promise<Ledger> {
    const key = await loadOrCreateKey(options.keyPath, options.createKey ?? true);
    const ledger = new Ledger(key, options.headsPath, options.now ?? Date.now);
    let expected = 0;
    for (const record of options.records) {
      if (record.index !== expected && ledger.violations.length === 0) {
        ledger.violations.push({
          treeSize: expected,
          reason: 'INDEX_MISMATCH',
          firstBadIndex: expected,
          firstBadEventId: record.eventId,
          detail: `the record at position ${expected} says index ${record.index}`,
        });
      }
      ledger.tree.append(recordLeafHash(record));
      expected += 1;
    }
    await ledger.loadHeads();
    return ledger;
  }

  private async loadHeads(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.headsPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const s = JSON.parse(line) as StoredHead;
      const head: TreeHead = {
        treeSize: s.treeSize,
        rootHash: Buffer.from(s.rootHash, 'hex'),
        timestampMs: s.timestampMs,
        signature: Buffer.from(s.signature, 'base64'),
        keyId: s.keyId,
      };
      if (!verifyTreeHead(head, this.publicKey)) {
        this.violations.push({ treeSize: head.treeSize, reason: 'BAD_SIGNATURE' });
        continue;
      }
      if (head.treeSize > this.tree.size) {
        this.violations.push({
          treeSize: head.treeSize,
          reason: 'TRUNCATED',
          firstBadIndex: this.tree.size,
          count: head.treeSize - this.tree.size,
        });
        continue;
      }
      if (!this.tree.root(head.treeSize).equals(head.rootHash)) {
        this.violations.push({ treeSize: head.treeSize, reason: 'ROOT_MISMATCH' });
        continue;
      }
      this.remember(head);
    }
  }

  /** The sizes of the stored heads that matched the log when it was opened (and every head signed since). */
  get verifiedHeadSizes(): number[] {
    return [...this.heads.keys()];
  }

  private remember(head: TreeHead): void {
    this.heads.set(head.treeSize, head);
    if (!this.latest || head.treeSize >= this.latest.treeSize) this.latest = head;
  }

  /** Number of leaves (records). */
  get size(): number {
    return this.tree.size;
  }

  /** Adds the next record; its `index` must be the current size. Returns its leaf hash. */
  append(record: AuditRecord): Hash {
    if (record.index !== this.tree.size) {
      throw new RangeError(`ledger: record ${record.index} appended at ${this.tree.size}`);
    }
    const hash = recordLeafHash(record);
    this.tree.append(hash);
    return hash;
  }

  /** The leaf hash of record `index`. Throws RangeError when out of range. */
  leafHash(index: number): Hash {
    return this.tree.leaf(index);
  }

  /** The most recent signed head, if any. */
  get latestHead(): TreeHead | undefined {
    return this.latest;
  }

  /**
   * The signed head for `treeSize` (default: the whole log): the one signed before, or a new one signed and
   * stored now. Throws RangeError when `treeSize` exceeds the log.
   */
  async head(treeSize: number = this.tree.size): Promise<TreeHead> {
    const existing = this.heads.get(treeSize);
    if (existing) return existing;
    const rootHash = this.tree.root(treeSize);
    const timestampMs = this.now();
    const head: TreeHead = {
      treeSize,
      rootHash,
      timestampMs,
      signature: sign(null, treeHeadSigningInput(treeSize, rootHash, timestampMs), this.privateKey),
      keyId: this.keyId,
    };
    const stored: StoredHead = {
      treeSize,
      rootHash: rootHash.toString('hex'),
      timestampMs,
      signature: head.signature.toString('base64'),
      keyId: this.keyId,
    };
    const file = await open(this.headsPath, 'a', 0o600);
    try {
      await file.appendFile(`${JSON.stringify(stored)}\n`);
      await file.datasync();
    } finally {
      await file.close();
    }
    this.remember(head);
    return head;
  }

  /** Audit path of leaf `index` in the tree of `treeSize` leaves. Throws RangeError when out of range. */
  inclusionProof(index: number, treeSize: number): Hash[] {
    return this.tree.inclusionProof(index, treeSize);
  }

  /** Consistency proof from the tree of `first` leaves to the tree of `second`. Throws RangeError when out of range. */
  consistencyProof(first: number, second: number): Hash[] {
    return this.tree.consistencyProof(first, second);
  }

  /** The Merkle root of the first `treeSize` leaves (no signature). */
  root(treeSize: number = this.tree.size): Hash {
    return this.tree.root(treeSize);
  }
}
