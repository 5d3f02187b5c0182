/**
 * An inclusion proof as a self-contained JSON file (what the web app's *Proof* link downloads), and its
 * offline check: the entry named in the file is the one the leaf hash covers (the file carries the leaf's
 * exact bytes, the entry's canonical JSON, which must hash to the leaf and name the same event and index),
 * that leaf is in the tree of `treeSize` entries whose root the head states, and the head carries a valid
 * Ed25519 signature by the pinned key. Only node:crypto and the RFC 9162 verifier.
 *
 *   {"format":"haven.audit.inclusion-proof.v2","entry":"auditEvents/…","leafIndex":5,"leafHash":"<hex>",
 *    "leafData":"<the entry's canonical JSON>","auditPath":["<hex>",…],"head":{"treeSize":12,
 *    "rootHash":"<hex>","timestampMs":…,"signature":"<base64>","keyId":"…","publicKey":"<base64 SPKI DER>"}}
 *
 * Version 1 files had no `leafData`: nothing tied their `entry` to the leaf, so they are refused.
 */
import { keyIdOf, verifyTreeHead } from './log/ledger';
import { leafHash, verifyInclusion } from './log/merkle';

export const PROOF_FORMAT = 'haven.audit.inclusion-proof.v2';
const PROOF_FORMAT_V1 = 'haven.audit.inclusion-proof.v1';

/** The result of {@link checkProofFile}: ok, or the first reason it failed. */
export type ProofCheck =
  | { readonly ok: true; readonly entry: string; readonly treeSize: number; readonly keyId: string }
  | { readonly ok: false; readonly reason: string };

const HEX = /^[0-9a-f]{64}$/;

/**
 * Checks a proof file's JSON. `pinnedPublicKey` (base64 SPKI DER, or the key id) is the key the auditor trusts;
 * without it the file's own key is used and only the proof's consistency is shown.
 */
export function checkProofFile(json: string, pinnedPublicKey?: string): ProofCheck {
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const head = p['head'] as Record<string, unknown> | undefined;
  const path = p['auditPath'];
  if (p['format'] === PROOF_FORMAT_V1) {
    return {
      ok: false,
      reason: `a ${PROOF_FORMAT_V1} file does not bind its entry to the leaf; download the proof again`,
    };
  }
  if (
    p['format'] !== PROOF_FORMAT ||
    typeof p['entry'] !== 'string' ||
    typeof p['leafIndex'] !== 'number' ||
    typeof p['leafHash'] !== 'string' ||
    !HEX.test(p['leafHash']) ||
    typeof p['leafData'] !== 'string' ||
    !Array.isArray(path) ||
    !path.every((h) => typeof h === 'string' && HEX.test(h)) ||
    !head ||
    typeof head['treeSize'] !== 'number' ||
    typeof head['rootHash'] !== 'string' ||
    !HEX.test(head['rootHash']) ||
    typeof head['timestampMs'] !== 'number' ||
    typeof head['signature'] !== 'string' ||
    typeof head['publicKey'] !== 'string' ||
    typeof head['keyId'] !== 'string'
  ) {
    return { ok: false, reason: `not a ${PROOF_FORMAT} file` };
  }
  const bound = entryBinding(p['entry'], p['leafIndex'], p['leafHash'], p['leafData']);
  if (bound !== undefined) return { ok: false, reason: bound };
  const publicKey = Buffer.from(head['publicKey'], 'base64');
  const keyId = keyIdOf(publicKey);
  if (keyId !== head['keyId']) return { ok: false, reason: 'the key id does not match the public key' };
  if (pinnedPublicKey !== undefined && pinnedPublicKey !== keyId && pinnedPublicKey !== head['publicKey']) {
    return { ok: false, reason: `signed by key ${keyId}, not the pinned key` };
  }
  const rootHash = Buffer.from(head['rootHash'], 'hex');
  const signed = verifyTreeHead(
    {
      treeSize: head['treeSize'],
      rootHash,
      timestampMs: head['timestampMs'],
      signature: Buffer.from(head['signature'], 'base64'),
    },
    publicKey,
  );
  if (!signed) return { ok: false, reason: 'the tree head signature is not valid' };
  const included = verifyInclusion(
    Buffer.from(p['leafHash'], 'hex'),
    p['leafIndex'],
    head['treeSize'],
    path.map((h: string) => Buffer.from(h, 'hex')),
    rootHash,
  );
  if (!included) return { ok: false, reason: 'the entry is not in the signed tree' };
  return { ok: true, entry: p['entry'], treeSize: head['treeSize'], keyId };
}

/**
 * Why the entry named in a proof file is not the one its leaf covers, or undefined when it is: the leaf data
 * must hash to the leaf hash and be the record of that event id at that index.
 */
function entryBinding(
  entry: string,
  leafIndex: number,
  leafHex: string,
  leafData: string,
): string | undefined {
  if (!leafHash(Buffer.from(leafData, 'utf8')).equals(Buffer.from(leafHex, 'hex'))) {
    return 'the entry data does not hash to the leaf';
  }
  let record: { eventId?: unknown; index?: unknown };
  try {
    record = JSON.parse(leafData) as { eventId?: unknown; index?: unknown };
  } catch {
    return 'the entry data is not JSON';
  }
  if (typeof record !== 'object' || record === null || `auditEvents/${String(record.eventId)}` !== entry) {
    return `the leaf is the entry auditEvents/${String(record?.eventId)}, not ${entry}`;
  }
  if (record.index !== leafIndex) return `the leaf is entry ${String(record.index)}, not ${leafIndex}`;
  return undefined;
}

/** `haven-audit-verify proof.json [--key <pinned key id or base64 SPKI>]`: exit 0 when the proof holds. */
export function runVerifyCli(
  argv: readonly string[],
  io: { readFile(path: string): string; out(text: string): void },
): number {
  const [file, flag, key] = argv;
  if (!file || (flag !== undefined && (flag !== '--key' || !key))) {
    io.out('usage: haven-audit-verify PROOF.json [--key KEY_ID_OR_BASE64_SPKI]\n');
    return 2;
  }
  const result = checkProofFile(io.readFile(file), key);
  if (!result.ok) {
    io.out(`NOT VERIFIED: ${result.reason}\n`);
    return 1;
  }
  io.out(
    `VERIFIED: ${result.entry} is in the audit ledger of ${result.treeSize} entries, head signed by key ${result.keyId}` +
      `${key === undefined ? ' (no key pinned: pass --key to check whose key it is)' : ''}\n`,
  );
  return 0;
}
