/**
 * KEK rotation for data keys that live outside encrypted files (in events, in a database): re-wraps every
 * key under the KMS's current KEK without touching the data they encrypt, and survives being killed. Progress
 * is a journal file (JSON lines, appended and fsynced per key); a run with the same journal skips what is
 * already done under the current KEK and finishes the rest. The input is never modified, so no key can be
 * lost: until the caller applied the journal, the old wrapped keys still unwrap (old KEKs stay in the KMS).
 */
import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError } from '@haven/errors';
import type { Kms, KmsContext, WrappedKey } from './kms';
import { inspectEncryptedFile, rewrapFile } from './stream';

/** One wrapped data key to re-wrap. */
export interface RewrapItem {
  /** Unique in the job (e.g. the recording id); the journal is keyed by it. */
  readonly id: string;
  readonly wrappedKey: WrappedKey;
  /** The context the key was wrapped with; it is kept. */
  readonly context?: KmsContext;
}

/** A line of the journal: the item's id and its key wrapped under `wrappedKey.kekId`. */
export interface RewrapJournalEntry {
  readonly id: string;
  readonly wrappedKey: WrappedKey;
}

/** Options of {@link rewrapKeys}. */
export interface RewrapKeysOptions {
  /** The KMS whose current KEK wraps every key at the end. */
  readonly kms: Kms;
  /**
   * The KMS the items' keys are wrapped by now, when they move to another one (a local keyring to an HSM
   * through PKCS#11); default `kms` (a KEK rotation inside one KMS).
   */
  readonly from?: Kms;
  readonly items: Iterable<RewrapItem> | AsyncIterable<RewrapItem>;
  /** Journal file (created 0600 when missing). Keep it until its entries were applied. */
  readonly journalFile: string;
  /** At most this many KMS re-wraps per second (spare a shared HSM or Vault). Default: no limit. */
  readonly ratePerSecond?: number;
  /** Called after each item. */
  readonly onProgress?: (progress: RewrapProgress) => void;
}

/** Counts of a {@link rewrapKeys} run. */
export interface RewrapProgress {
  /** The KEK every key is wrapped under at the end. */
  readonly kekId: string;
  /** Re-wrapped by this run. */
  readonly rewrapped: number;
  /** Already in the journal under `kekId` (done by an earlier, interrupted run). */
  readonly resumed: number;
  /** Already wrapped under `kekId` in the input (recorded in the journal as they are). */
  readonly alreadyCurrent: number;
}

/**
 * Reads a journal: the last entry per id wins. A torn last line (the writer was killed mid-append) is
 * ignored. Throws ValidationError when a complete line is not a journal entry.
 */
export async function readRewrapJournal(journalFile: string): Promise<Map<string, WrappedKey>> {
  let text: string;
  try {
    text = await fs.readFile(journalFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
  const entries = new Map<string, WrappedKey>();
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  complete
    .split('\n')
    .filter((line) => line !== '')
    .forEach((line, i) => {
      const e = parseEntry(line);
      if (e === undefined) {
        throw new ValidationError([
          { field: `journal line ${i + 1}`, description: 'not a { id, wrappedKey } entry' },
        ]);
      }
      entries.set(e.id, e.wrappedKey);
    });
  return entries;
}

function parseEntry(line: string): RewrapJournalEntry | undefined {
  try {
    const e = JSON.parse(line) as Partial<RewrapJournalEntry>;
    const w = e.wrappedKey;
    if (typeof e.id !== 'string' || typeof w?.kekId !== 'string' || typeof w.ciphertext !== 'string') {
      return undefined;
    }
    return { id: e.id, wrappedKey: { kekId: w.kekId, ciphertext: w.ciphertext } };
  } catch {
    return undefined;
  }
}

/**
 * Re-wraps every item's data key under the KMS's current KEK (unwrap with its context — by `from` when the
 * keys move from another KMS — and wrap again with the same context), appending `{ id, wrappedKey }` to the journal and fsyncing it after each key. Resumable:
 * items the journal already holds under the current KEK are skipped; a torn last line is cut off first.
 * Throws ValidationError on a duplicate id or a bad journal; KMS errors (IntegrityError, NotFoundError) stop
 * the run with everything before it journalled.
 */
export async function rewrapKeys(options: RewrapKeysOptions): Promise<RewrapProgress> {
  const { kms, journalFile } = options;
  const kekId = await kms.currentKekId();
  const journal = await readRewrapJournal(journalFile);
  await cutTornLine(journalFile);
  const handle = await fs.open(journalFile, 'a', 0o600);
  const seen = new Set<string>();
  const minGapMs = options.ratePerSecond === undefined ? 0 : 1000 / options.ratePerSecond;
  let last = 0;
  let rewrapped = 0;
  let resumed = 0;
  let alreadyCurrent = 0;
  const append = async (entry: RewrapJournalEntry) => {
    await handle.write(`${JSON.stringify(entry)}\n`);
    await handle.sync();
  };
  try {
    for await (const item of options.items) {
      if (seen.has(item.id)) {
        throw new ValidationError([{ field: 'items', description: `duplicate id ${item.id}` }]);
      }
      seen.add(item.id);
      if (journal.get(item.id)?.kekId === kekId) {
        resumed += 1;
      } else if (item.wrappedKey.kekId === kekId) {
        await append({ id: item.id, wrappedKey: item.wrappedKey });
        alreadyCurrent += 1;
      } else {
        const wait = last + minGapMs - Date.now();
        if (wait > 0) await sleep(wait);
        last = Date.now();
        const raw = await (options.from ?? kms).unwrapKey(item.wrappedKey, item.context);
        let wrappedKey: WrappedKey;
        try {
          wrappedKey = await kms.wrapKey(raw, item.context);
        } finally {
          raw.fill(0);
        }
        await append({ id: item.id, wrappedKey });
        rewrapped += 1;
      }
      options.onProgress?.({ kekId, rewrapped, resumed, alreadyCurrent });
    }
  } finally {
    await handle.close();
  }
  return { kekId, rewrapped, resumed, alreadyCurrent };
}

/** Cuts a journal back to its last complete line (a kill -9 can leave half a line). */
async function cutTornLine(journalFile: string): Promise<void> {
  let text: Buffer;
  try {
    text = await fs.readFile(journalFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const end = text.lastIndexOf(0x0a) + 1;
  if (end !== text.length) await fs.truncate(journalFile, end);
}

/** An encrypted file for {@link rewrapFiles}, with the context it was encrypted with. */
export interface RewrapFileItem {
  readonly path: string;
  readonly context?: KmsContext;
}

/**
 * Re-wraps the data key of each encrypted file in place ({@link rewrapFile}: only the 1 KiB key slot is
 * rewritten, the media is not touched). Idempotent per file, so a killed run is resumed by running it again.
 * Returns how many files this run switched to the current KEK. Throws like {@link rewrapFile}.
 */
export async function rewrapFiles(
  kms: Kms,
  files: Iterable<RewrapFileItem> | AsyncIterable<RewrapFileItem>,
  onProgress?: (path: string, kekId: string) => void,
): Promise<number> {
  let switched = 0;
  for await (const file of files) {
    const before = (await inspectEncryptedFile(file.path)).wrappedKey.kekId;
    const kekId = await rewrapFile(
      kms,
      file.path,
      file.context === undefined ? {} : { context: file.context },
    );
    if (kekId !== before) switched += 1;
    onProgress?.(file.path, kekId);
  }
  return switched;
}
