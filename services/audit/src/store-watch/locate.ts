/**
 * Names the first changed entry of a range of the audit log by comparing each record with the one the event
 * store's event at its position gives (the same derivation that rebuilds a log from the store, so an intact
 * entry always compares equal). Used when a signed head or anchor no longer matches and the log was already
 * changed before the service started, so there is no ingested copy to compare with.
 */
import type { StoreInspection, StoredEvent } from '@haven/eventstore';
import type { AuditLog } from '../log/audit-log';
import { toAuditRecord } from '../log/audit-record';
import { eventDigest } from '../log/event-digest';
import type { LocateChangedEntry } from '../log/ledger-keeper';
import { recordLeafHash } from '../log/ledger';

const CHUNK = 1_000;

/** A {@link LocateChangedEntry} over `log`, reading the store through `inspection`. */
export function locateChangedEntry(log: AuditLog, inspection: StoreInspection): LocateChangedEntry {
  return async (from, to) => {
    const records = log.all();
    const end = Math.min(to, records.length);
    let i = from;
    // Each read covers at least one entry, so at most `end - from` reads.
    for (let reads = 0; i < end && reads <= end - from; reads += 1) {
      const start = BigInt(records[i]!.sourcePosition);
      const range = await inspection.readFrom(start, Math.min(CHUNK, end - i) + 16);
      const byPosition = new Map<bigint, StoredEvent>(range.items.map((x) => [x.position, x]));
      const lastRead = range.items.at(-1)?.position ?? start - 1n;
      for (; i < end; i += 1) {
        const record = records[i]!;
        const position = BigInt(record.sourcePosition);
        if (position > lastRead && !range.end) break; // in the next read
        const stored = byPosition.get(position)?.event;
        if (!stored) return { index: i, eventId: record.eventId };
        const rebuilt = toAuditRecord(
          { ...stored, position },
          i,
          new Date(record.recordedAt),
          record.sourceDigest !== undefined ? eventDigest(stored) : undefined,
        );
        if (!recordLeafHash(rebuilt).equals(recordLeafHash(record))) {
          return { index: i, eventId: record.eventId };
        }
      }
    }
    return undefined;
  };
}
