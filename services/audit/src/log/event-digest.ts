/**
 * The digest the audit service keeps of every event it records: SHA-256 (hex) of the RFC 8785 canonical JSON of
 * the event's envelope as the store returns it (revision as a decimal string, no store position). Every adapter
 * rebuilds the same envelope, so the digest means the same on JetStream and KurrentDB; the store watch reads
 * the event back later and compares.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import type { EventEnvelope } from '@haven/eventstore';

/** SHA-256 hex of the canonical JSON of `event` (any `position` field left out). */
export function eventDigest(event: EventEnvelope & { readonly position?: bigint }): string {
  const { position: _position, revision, ...rest } = event;
  const json = canonicalJson({ ...rest, revision: revision.toString() });
  if (json === undefined) throw new TypeError('an event envelope must serialise to JSON');
  return createHash('sha256').update(json, 'utf8').digest('hex');
}
