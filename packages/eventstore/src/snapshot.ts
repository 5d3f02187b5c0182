/**
 * Snapshots of aggregates with long streams (a clinician's schedule): the folded state at a revision, so a
 * command reads only the events after it. A snapshot is a cache, never the truth: a missing, stale, corrupt or
 * foreign one costs a full read, because the decider checks it against the stream (the id of the event it
 * ends at) and appends with the expected revision as always.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** A request whose events a snapshot folded (see `RequestRecord`): kept so a late retry is still recognised. */
export interface SnapshotRequest {
  readonly id: string;
  readonly fingerprint: string;
  /** Revisions of the request's first and last event. */
  readonly fromRevision: bigint;
  readonly toRevision: bigint;
  /** When the request's events were stored (ms since the epoch). */
  readonly at: number;
}

/** The folded state of a stream at a revision. */
export interface Snapshot {
  /** The state's schema version (the policy's); a snapshot of another version is ignored. */
  readonly version: string;
  /** Revision of the last event folded. */
  readonly revision: bigint;
  /** Global position of that event. */
  readonly position: bigint;
  /** Id of that event: checked against the stream before the snapshot is used. */
  readonly eventId: string;
  /** The state, encoded by the policy (JSON-serialisable). */
  readonly state: unknown;
  /** Recent idempotent requests folded into the state. */
  readonly requests: readonly SnapshotRequest[];
}

/** Where snapshots are kept. */
export interface SnapshotStore {
  /** The latest snapshot of `stream`, or undefined. Never throws: an unreadable snapshot is no snapshot. */
  load(stream: string): Promise<Snapshot | undefined>;
  /** Records a newer snapshot (an older one than what is kept is ignored). Never throws. */
  save(stream: string, snapshot: Snapshot): Promise<void>;
}

/** Snapshots in memory (unit tests; and the cache in front of {@link FileSnapshotStore}). */
export class InMemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<string, Snapshot>();

  constructor(private readonly capacity = 10_000) {}

  /** See the port. */
  async load(stream: string): Promise<Snapshot | undefined> {
    return this.get(stream);
  }

  /** See the port. */
  async save(stream: string, snapshot: Snapshot): Promise<void> {
    this.put(stream, snapshot);
  }

  /** The cached snapshot, synchronously. */
  get(stream: string): Snapshot | undefined {
    const s = this.snapshots.get(stream);
    if (s) {
      this.snapshots.delete(stream); // most recently used last
      this.snapshots.set(stream, s);
    }
    return s;
  }

  /** Keeps `snapshot` unless a newer one is kept; evicts the least recently used beyond the capacity. */
  put(stream: string, snapshot: Snapshot): boolean {
    const current = this.snapshots.get(stream);
    if (current && current.revision > snapshot.revision) return false;
    this.snapshots.delete(stream);
    this.snapshots.set(stream, snapshot);
    if (this.snapshots.size > this.capacity) {
      const oldest = this.snapshots.keys().next().value;
      if (oldest !== undefined) this.snapshots.delete(oldest);
    }
    return true;
  }
}

/** Options of {@link FileSnapshotStore}. */
export interface FileSnapshotStoreOptions {
  /** Directory of the snapshot files (created 0700 when missing). */
  readonly dir: string;
  /** Write a stream's file when its snapshot is at least this many revisions past the last one written. Default 50. */
  readonly writeEvery?: number;
  /** Snapshots kept in memory. Default 10 000. */
  readonly cacheSize?: number;
  /** Told about a failed write (the snapshot stays in memory). */
  readonly onError?: (error: unknown) => void;
}

interface SnapshotFile {
  readonly format: 'haven.snapshot.v1';
  readonly stream: string;
  readonly version: string;
  readonly revision: string;
  readonly position: string;
  readonly eventId: string;
  readonly state: unknown;
  readonly requests: readonly {
    id: string;
    fingerprint: string;
    fromRevision: string;
    toRevision: string;
    at: number;
  }[];
}

const DIGITS = /^\d+$/;

function parseFile(stream: string, text: string): Snapshot | undefined {
  const raw = JSON.parse(text) as Partial<SnapshotFile>;
  if (
    raw.format !== 'haven.snapshot.v1' ||
    raw.stream !== stream ||
    typeof raw.version !== 'string' ||
    typeof raw.revision !== 'string' ||
    !DIGITS.test(raw.revision) ||
    typeof raw.position !== 'string' ||
    !DIGITS.test(raw.position) ||
    typeof raw.eventId !== 'string' ||
    !Array.isArray(raw.requests)
  ) {
    return undefined;
  }
  return {
    version: raw.version,
    revision: BigInt(raw.revision),
    position: BigInt(raw.position),
    eventId: raw.eventId,
    state: raw.state,
    requests: (raw.requests as readonly unknown[]).filter(isStoredRequest).map((r) => ({
      id: r.id,
      fingerprint: String(r.fingerprint),
      fromRevision: BigInt(String(r.fromRevision)),
      toRevision: BigInt(String(r.toRevision)),
      at: Number(r.at),
    })),
  };
}

/** A stored request record as read back: an id, and revisions made of digits; the rest is coerced. */
function isStoredRequest(
  r: unknown,
): r is { id: string; fingerprint: unknown; fromRevision: unknown; toRevision: unknown; at: unknown } {
  if (typeof r !== 'object' || r === null) return false;
  const { id, fromRevision, toRevision } = r as Record<string, unknown>;
  return typeof id === 'string' && DIGITS.test(String(fromRevision)) && DIGITS.test(String(toRevision));
}

/**
 * Snapshots in files (`<dir>/<sha256 of the stream>.json`), with the newest of each stream cached in memory.
 * A stream's file is rewritten (write to a temporary file, then rename) once its snapshot has moved
 * `writeEvery` revisions past the last one written, so a restarted service (or another replica sharing the
 * directory) starts from a recent state. Holds no PHI as long as the states do not (Haven's never do).
 */
export class FileSnapshotStore implements SnapshotStore {
  private readonly cache: InMemorySnapshotStore;
  private readonly writeEvery: number;
  private readonly written = new Map<string, bigint>();
  private readonly writing = new Map<string, Promise<void>>();
  private ready: Promise<void> | undefined;

  constructor(private readonly options: FileSnapshotStoreOptions) {
    this.cache = new InMemorySnapshotStore(options.cacheSize ?? 10_000);
    this.writeEvery = Math.max(1, options.writeEvery ?? 50);
  }

  private fileOf(stream: string): string {
    return join(this.options.dir, `${createHash('sha256').update(stream).digest('hex')}.json`);
  }

  /** See the port: the cached snapshot, else the file's. */
  async load(stream: string): Promise<Snapshot | undefined> {
    const cached = this.cache.get(stream);
    if (cached) return cached;
    try {
      const snapshot = parseFile(stream, await readFile(this.fileOf(stream), 'utf8'));
      if (snapshot) {
        this.cache.put(stream, snapshot);
        this.written.set(stream, snapshot.revision);
      }
      return snapshot;
    } catch {
      return undefined; // none yet, or unreadable: a full read instead
    }
  }

  /** See the port: cached at once; written to its file when far enough past the last written. */
  async save(stream: string, snapshot: Snapshot): Promise<void> {
    if (!this.cache.put(stream, snapshot)) return;
    const last = this.written.get(stream);
    if (last !== undefined && snapshot.revision - last < BigInt(this.writeEvery)) return;
    if (this.writing.has(stream)) return; // the next save after this write finishes writes the newer one
    this.written.set(stream, snapshot.revision);
    const write = this.write(stream, snapshot)
      .catch((error: unknown) => {
        this.written.delete(stream);
        this.options.onError?.(error);
      })
      .finally(() => this.writing.delete(stream));
    this.writing.set(stream, write);
    await write;
  }

  /** Waits for the writes in progress (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.writing.values()]);
  }

  private async write(stream: string, snapshot: Snapshot): Promise<void> {
    this.ready ??= mkdir(this.options.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
    await this.ready;
    const file: SnapshotFile = {
      format: 'haven.snapshot.v1',
      stream,
      version: snapshot.version,
      revision: snapshot.revision.toString(),
      position: snapshot.position.toString(),
      eventId: snapshot.eventId,
      state: snapshot.state,
      requests: snapshot.requests.map((r) => ({
        id: r.id,
        fingerprint: r.fingerprint,
        fromRevision: r.fromRevision.toString(),
        toRevision: r.toRevision.toString(),
        at: r.at,
      })),
    };
    const target = this.fileOf(stream);
    // A name of its own per write: replicas sharing the directory may run under the same pid (1 in a pod).
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(file), { mode: 0o600 });
    await rename(temp, target);
  }
}
