/**
 * The audit log file: one JSON record per line, append-only, in ingestion order.
 * On open it is read back to rebuild the dedup set and the checkpoint (the last record's source position),
 * so ingestion resumes after a restart without re-ingesting and never records an event twice.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import {
  matches,
  toAuditRecord,
  type AuditQuery,
  type AuditRecord,
  type IngestibleEvent,
} from './audit-record';

export class AuditLog {
  private readonly records: AuditRecord[] = [];
  /** Every record by event id: dedup on ingest and GetAuditEvent's lookup. */
  private readonly byId = new Map<string, AuditRecord>();
  private constructor(
    private readonly file: FileHandle,
    /** Where the log lives on disk. */
    readonly path: string,
  ) {}

  /** Opens (creating if needed) the log at `path` and loads it. */
  static async open(path: string): Promise<AuditLog> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const file = await open(path, 'a+', 0o600);
    const log = new AuditLog(file, path);
    for await (const record of AuditLog.readRecords(path)) {
      log.records.push(record);
      log.byId.set(record.eventId, record);
    }
    return log;
  }

  /** The records of the log file at `path`, as they are on disk now (for re-verification). */
  static async *readRecords(path: string): AsyncGenerator<AuditRecord> {
    const input = createReadStream(path, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        yield JSON.parse(line) as AuditRecord;
      }
    } finally {
      // A reader that stops early (break) must not leave the file open.
      lines.close();
      input.destroy();
    }
  }

  /** Every record, oldest first (the ledger's leaves). */
  all(): readonly AuditRecord[] {
    return this.records;
  }

  /** Store position of the last ingested event: where ingestion resumes. */
  get checkpoint(): bigint | 'start' {
    const last = this.records.at(-1);
    return last ? BigInt(last.sourcePosition) : 'start';
  }

  get size(): number {
    return this.records.length;
  }

  /** Appends the event's record and syncs it to disk; a second delivery of the same event id is ignored. */
  async ingest(event: IngestibleEvent, now: Date = new Date()): Promise<AuditRecord | undefined> {
    if (this.byId.has(event.id)) return undefined;
    const record = toAuditRecord(event, this.records.length, now);
    await this.file.appendFile(JSON.stringify(record) + '\n');
    await this.file.datasync();
    this.records.push(record);
    this.byId.set(event.id, record);
    return record;
  }

  /** Records matching the query, oldest first, at most `limit`. */
  query(q: AuditQuery): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (const r of this.records) {
      if (!matches(r, q)) continue;
      out.push(r);
      if (out.length >= q.limit) break;
    }
    return out;
  }

  /** Up to `limit` records matching `keep`, newest first. */
  newestFirst(keep: (record: AuditRecord) => boolean, limit: number): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.records[i]!;
      if (keep(r)) out.push(r);
    }
    return out;
  }

  /** The record of one event, if ingested. */
  get(eventId: string): AuditRecord | undefined {
    return this.byId.get(eventId);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
