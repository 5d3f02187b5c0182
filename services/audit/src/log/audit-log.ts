/**
 * The audit log file: one JSON record per line, append-only, in ingestion order.
 * On open it is read back to rebuild the dedup set and the checkpoint (the last record's source position),
 * so ingestion resumes after a restart without re-ingesting and never records an event twice.
 *
 * A last line cut short by a crash (no newline, or not JSON) is a torn write, not tampering: `open` cuts it
 * off and reports it in {@link AuditLog.repaired}; ingestion then records that event again from the store
 * (its record is the same but for `recordedAt`, which no leaf covers). An unreadable line anywhere else is
 * not a torn write: `open` throws {@link UnreadableAuditLogError} naming it.
 *
 * The log remembers the file's size, change time and inode after each of its own writes, so a change made by
 * anyone else is seen at once ({@link AuditLog.changedOnDisk}) rather than at the next periodic verification.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { PreconditionError } from '@haven/errors';
import {
  matches,
  streamPatientOf,
  toAuditRecord,
  type AuditQuery,
  type AuditRecord,
  type IngestibleEvent,
} from './audit-record';

/** A line of the log file that is not a record. */
export interface UnreadableLine {
  readonly unreadable: true;
  /** The index the record on that line would have. */
  readonly index: number;
  /** Byte offset of the line's start. */
  readonly offset: number;
}

/** A line of the log file as read back: a record, or a line that does not parse. */
export type LogLine = AuditRecord | UnreadableLine;

/** What {@link AuditLog.open} cut off: a torn last line. */
export interface LogRepair {
  /** The index of the record the torn line would have held (the next record ingested). */
  readonly atIndex: number;
  /** How many bytes were cut off. */
  readonly droppedBytes: number;
}

/** The audit log has an unreadable line before its last one (tampering or disk damage, not a torn write). */
export class UnreadableAuditLogError extends PreconditionError {
  constructor(
    readonly path: string,
    /** The index of the first unreadable record. */
    readonly index: number,
  ) {
    super(`the audit log ${path} has an unreadable entry at index ${index} (not its last line)`);
  }
}

interface DiskState {
  readonly size: number;
  readonly ctimeMs: number;
  readonly ino: number;
}

function isUnreadable(line: LogLine): line is UnreadableLine {
  return 'unreadable' in line;
}

export class AuditLog {
  private readonly records: AuditRecord[] = [];
  /** Every record by event id: dedup on ingest and GetAuditEvent's lookup. */
  private readonly byId = new Map<string, AuditRecord>();
  /** The patient of each visit and appointment stream (from the record that names it): filter by patient. */
  private readonly streamPatients = new Map<string, string>();
  /** The file as this log last left it; undefined while one of its own writes is under way. */
  private disk: DiskState | undefined;
  private writing = 0;
  /** Someone else changed the file just before one of this log's own writes (which moved the reference on). */
  private changedBeforeWrite = false;
  /** The torn last line cut off when the log was opened, if any. */
  repaired: LogRepair | undefined;

  private constructor(
    private readonly file: FileHandle,
    /** Where the log lives on disk. */
    readonly path: string,
  ) {}

  /**
   * Opens (creating if needed) the log at `path` and loads it, cutting off a torn last line.
   * Throws UnreadableAuditLogError when a line other than the last does not parse.
   */
  static async open(path: string): Promise<AuditLog> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const file = await open(path, 'a+', 0o600);
    const log = new AuditLog(file, path);
    try {
      await log.load();
    } catch (error) {
      await file.close();
      throw error;
    }
    return log;
  }

  private async load(): Promise<void> {
    let offset = 0;
    let lastOffset = 0;
    let pending: UnreadableLine | undefined;
    for await (const { line, bytes } of AuditLog.rawLines(this.path)) {
      if (pending) throw new UnreadableAuditLogError(this.path, pending.index);
      const parsed = parseLine(line, this.records.length, offset);
      if (parsed !== undefined) {
        lastOffset = offset;
        if (isUnreadable(parsed)) pending = parsed;
        else this.remember(parsed);
      }
      offset += bytes;
    }
    const { size } = await this.file.stat();
    let cut: number | undefined;
    if (pending) cut = pending.offset;
    else if (size > 0 && !(await this.endsWithNewline(size))) {
      // The last line parsed but its newline never reached the disk: record that event again from the store.
      const last = this.records.pop();
      if (last) this.byId.delete(last.eventId);
      cut = lastOffset;
    }
    if (cut !== undefined) {
      await this.file.truncate(cut);
      await this.file.datasync();
      this.repaired = { atIndex: this.records.length, droppedBytes: size - cut };
    }
    this.disk = await this.diskState();
  }

  private async endsWithNewline(size: number): Promise<boolean> {
    const last = Buffer.alloc(1);
    await this.file.read(last, 0, 1, size - 1);
    return last[0] === 0x0a;
  }

  /** The lines of the file at `path` with their length in bytes (newline included). */
  private static async *rawLines(path: string): AsyncGenerator<{ line: string; bytes: number }> {
    const input = createReadStream(path, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    try {
      for await (const line of lines) yield { line, bytes: Buffer.byteLength(line, 'utf8') + 1 };
    } finally {
      // A reader that stops early (break) must not leave the file open.
      lines.close();
      input.destroy();
    }
  }

  /**
   * The lines of the log file at `path`, as they are on disk now (for re-verification): records, and
   * {@link UnreadableLine}s where a line does not parse.
   */
  static async *readLines(path: string): AsyncGenerator<LogLine> {
    let index = 0;
    let offset = 0;
    for await (const { line, bytes } of AuditLog.rawLines(path)) {
      const parsed = parseLine(line, index, offset);
      offset += bytes;
      if (parsed === undefined) continue;
      index += 1;
      yield parsed;
    }
  }

  private async diskState(): Promise<DiskState> {
    const s = await this.file.stat();
    return { size: s.size, ctimeMs: s.ctimeMs, ino: s.ino };
  }

  /**
   * True when the file on disk is not as this log last left it (written, truncated, replaced or its metadata
   * changed by someone else). Cheap (one stat); false while one of its own writes is under way.
   */
  async changedOnDisk(): Promise<boolean> {
    if (this.writing > 0) return false;
    if (this.changedBeforeWrite) {
      this.changedBeforeWrite = false;
      return true;
    }
    if (!this.disk) return false;
    const before = this.disk;
    let now: DiskState;
    try {
      const s = await stat(this.path);
      now = { size: s.size, ctimeMs: s.ctimeMs, ino: s.ino };
    } catch {
      return true; // removed
    }
    if (this.writing > 0 || this.disk !== before) return false;
    return now.size !== before.size || now.ctimeMs !== before.ctimeMs || now.ino !== before.ino;
  }

  /** Takes the file as it is now as the reference for {@link changedOnDisk} (after a verification looked at it). */
  async acceptDiskState(): Promise<void> {
    if (this.writing > 0) return;
    try {
      const s = await stat(this.path);
      this.disk = { size: s.size, ctimeMs: s.ctimeMs, ino: s.ino };
    } catch {
      this.disk = undefined;
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

  /**
   * Appends the event's record and syncs it to disk; a second delivery of the same event id is ignored.
   * `sourceDigest` is the digest of the event as stored (see event-digest.ts).
   */
  async ingest(
    event: IngestibleEvent,
    options: { now?: Date; sourceDigest?: string } = {},
  ): Promise<AuditRecord | undefined> {
    if (this.byId.has(event.id)) return undefined;
    const record = toAuditRecord(event, this.records.length, options.now ?? new Date(), options.sourceDigest);
    this.writing += 1;
    try {
      // A change by someone else since this log's last write must not be hidden by the new reference below.
      const before = await this.diskState();
      if (this.disk && (before.size !== this.disk.size || before.ctimeMs !== this.disk.ctimeMs)) {
        this.changedBeforeWrite = true;
      }
      await this.file.appendFile(JSON.stringify(record) + '\n');
      await this.file.datasync();
      this.disk = await this.diskState();
    } finally {
      this.writing -= 1;
    }
    this.remember(record);
    return record;
  }

  private remember(record: AuditRecord): void {
    this.records.push(record);
    this.byId.set(record.eventId, record);
    const patient = streamPatientOf(record);
    if (patient !== undefined && !this.streamPatients.has(record.stream)) {
      this.streamPatients.set(record.stream, patient);
    }
  }

  /**
   * The patient a record is about: the id it carries, or the patient of its visit's or appointment's stream
   * (events such as an admission, a lock or a cancellation carry none).
   */
  patientOf(record: AuditRecord): string | undefined {
    return record.patientId ?? this.streamPatients.get(record.stream);
  }

  /** True when a record matches every filter of the query, its patient resolved by {@link patientOf}. */
  matches(record: AuditRecord, q: AuditQuery): boolean {
    return matches(record, q, (r) => this.patientOf(r));
  }

  /** Records matching the query, oldest first, at most `limit`. */
  query(q: AuditQuery): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (const r of this.records) {
      if (!this.matches(r, q)) continue;
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

/** A line as a record, an unreadable line, or undefined for a blank line. */
function parseLine(line: string, index: number, offset: number): LogLine | undefined {
  if (line.trim() === '') return undefined;
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as AuditRecord;
  } catch {
    // fall through
  }
  return { unreadable: true, index, offset };
}
