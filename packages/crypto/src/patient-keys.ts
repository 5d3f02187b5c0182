import { createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { NotFoundError, PreconditionError, ValidationError } from '@haven/errors';
import { GCM } from './aes-gcm';
import { PhiShreddedError } from './errors';
import { removeStaleSecretTemps, writeSecretFile } from './secret-file';
import type { Kms, KmsContext, WrappedKey } from './kms';

/** A patient's data key. `key` is a secret KeyObject: it never prints its material. */
export interface PatientKey {
  readonly keyId: string;
  readonly key: KeyObject;
}

/**
 * Per-patient data keys (DESIGN.md §5). Destroying a patient's key crypto-shreds every piece of PHI
 * sealed with it, without touching the (immutable) event log.
 */
export interface PatientKeyStore {
  /**
   * Returns the patient's key, creating it on first use. Concurrent calls return the same key.
   * Throws PhiShreddedError when the key was destroyed (a destroyed patient never gets a new key),
   * ValidationError when `patientId` is empty.
   */
  getOrCreate(patientId: string): Promise<PatientKey>;
  /**
   * Returns the patient's key. Throws NotFoundError when the patient never had one, PhiShreddedError when
   * it was destroyed.
   */
  get(patientId: string): Promise<PatientKey>;
  /**
   * Crypto-shredding: destroys the patient's key for good. Idempotent; destroying an unknown patient
   * records the tombstone too, so no key can be created for them later.
   */
  destroy(patientId: string): Promise<void>;
}

/** Throws ValidationError when `patientId` is not a non-empty string. */
export function checkPatientId(patientId: string): void {
  if (typeof patientId !== 'string' || patientId.length === 0 || patientId.length > 256) {
    throw new ValidationError([
      { field: 'patientId', description: 'must be a non-empty string of at most 256 characters' },
    ]);
  }
}

/** A fresh random key id for a patient data key. */
export function newPatientKeyId(): string {
  return `pk-${randomBytes(12).toString('base64url')}`;
}

/** Options of {@link FilePatientKeyStore}. */
export interface FilePatientKeyStoreOptions {
  /** Directory of the key files; created with mode 0700 when missing. */
  readonly dir: string;
  /** The KMS that wraps every patient key at rest. */
  readonly kms: Kms;
  /** At most this many unwrapped keys are cached in memory (least recently used evicted). Default 1000. */
  readonly cacheSize?: number;
}

interface KeyFile {
  format: 'haven.patient-key.v1';
  patientId: string;
  keyId: string;
  wrapped: WrappedKey;
  createdAt: string;
}

interface Tombstone {
  format: 'haven.patient-key-tombstone.v1';
  patientId: string;
  destroyedAt: string;
}

function wrapContext(patientId: string, keyId: string): KmsContext {
  return { purpose: 'haven.patient-key.v1', patientId, keyId };
}

const exists = (path: string): Promise<boolean> =>
  fs.access(path).then(
    () => true,
    () => false,
  );

/** The name of a subject's file (SHA-256 of its id), with `extension`: its key (`json`) or its tombstone. */
function fileNameOf(patientId: string, extension: 'json' | 'shredded'): string {
  return `${createHash('sha256').update(patientId, 'utf8').digest('hex')}.${extension}`;
}

/**
 * Reads and checks the key file `name` of `dir`: the store's format, and the subject its name is derived from.
 * Resolves undefined when there is none. `label` names it in errors. Throws PreconditionError when the file
 * is not JSON or not a valid key file of this store (another format, or moved from another subject's name).
 */
async function readKeyFile(dir: string, name: string, label: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let doc: KeyFile;
  try {
    doc = JSON.parse(text) as KeyFile;
  } catch {
    throw new PreconditionError(`key file ${label} is not valid JSON`);
  }
  if (
    doc.format !== 'haven.patient-key.v1' ||
    typeof doc.patientId !== 'string' ||
    typeof doc.keyId !== 'string' ||
    typeof doc.wrapped?.kekId !== 'string' ||
    fileNameOf(doc.patientId, 'json') !== name
  ) {
    throw new PreconditionError(`key file ${label} is not a valid key file of this store`);
  }
  return doc;
}

/**
 * A {@link PatientKeyStore} that keeps each patient key wrapped by the KMS in its own 0600 JSON file under
 * a 0700 directory (file name = SHA-256 of the patient id). `destroy` overwrites the file with random
 * bytes, fsyncs, deletes it and leaves a tombstone. Unwrapped keys are cached in a bounded LRU.
 *
 * Limitation: overwriting does not reach copies in backups or SSD remapped blocks; a KMS-side per-patient
 * KEK would make shredding reach backups too.
 */
export class FilePatientKeyStore implements PatientKeyStore {
  readonly #dir: string;
  readonly #kms: Kms;
  readonly #cacheSize: number;
  readonly #cache = new Map<string, PatientKey>();
  readonly #inflight = new Map<string, Promise<PatientKey>>();
  #dirReady: Promise<void> | undefined;

  /** Throws ValidationError when `cacheSize` is not a positive integer. */
  constructor(options: FilePatientKeyStoreOptions) {
    const cacheSize = options.cacheSize ?? 1000;
    if (!Number.isInteger(cacheSize) || cacheSize < 1) {
      throw new ValidationError([{ field: 'cacheSize', description: 'must be a positive integer' }]);
    }
    this.#dir = options.dir;
    this.#kms = options.kms;
    this.#cacheSize = cacheSize;
  }

  /** {@inheritDoc PatientKeyStore.getOrCreate} */
  async getOrCreate(patientId: string): Promise<PatientKey> {
    checkPatientId(patientId);
    return this.#once(patientId, async () => {
      const existing = await this.#load(patientId);
      if (existing !== undefined) return existing;
      return this.#create(patientId);
    });
  }

  /** {@inheritDoc PatientKeyStore.get} */
  async get(patientId: string): Promise<PatientKey> {
    checkPatientId(patientId);
    return this.#once(patientId, async () => {
      const existing = await this.#load(patientId);
      if (existing === undefined) throw new NotFoundError(`no data key for subject ${patientId}`);
      return existing;
    });
  }

  /** {@inheritDoc PatientKeyStore.destroy} */
  async destroy(patientId: string): Promise<void> {
    checkPatientId(patientId);
    await this.#ensureDir();
    await this.#inflight.get(patientId)?.catch(() => undefined);
    this.#cache.delete(patientId);
    const tombstone: Tombstone = {
      format: 'haven.patient-key-tombstone.v1',
      patientId,
      destroyedAt: new Date().toISOString(),
    };
    await writeSecretFile(this.#path(patientId, 'shredded'), `${JSON.stringify(tombstone)}\n`);
    const file = this.#path(patientId, 'key');
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, fsConstants.O_WRONLY);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const size = (await handle.stat()).size;
      await handle.write(randomBytes(Math.max(size, 1)), 0, Math.max(size, 1), 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.unlink(file);
    } catch (error) {
      // Another destroy of the same key (a replay, another replica) unlinked it first: destroyed all the same.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Redacted form (directory and cache size only). */
  toJSON(): { kind: 'FilePatientKeyStore'; dir: string; cached: number } {
    return { kind: 'FilePatientKeyStore', dir: this.#dir, cached: this.#cache.size };
  }

  /** Redacted `util.inspect` output. */
  [inspect.custom](): string {
    return `FilePatientKeyStore ${JSON.stringify(this.toJSON())}`;
  }

  #once(patientId: string, work: () => Promise<PatientKey>): Promise<PatientKey> {
    const cached = this.#cache.get(patientId);
    if (cached !== undefined) {
      this.#cache.delete(patientId);
      this.#cache.set(patientId, cached);
      return Promise.resolve(cached);
    }
    const pending = this.#inflight.get(patientId);
    if (pending !== undefined) return pending;
    const run = work()
      .then((key) => {
        this.#remember(patientId, key);
        return key;
      })
      .finally(() => this.#inflight.delete(patientId));
    this.#inflight.set(patientId, run);
    return run;
  }

  #remember(patientId: string, key: PatientKey): void {
    this.#cache.set(patientId, key);
    while (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
    }
  }

  #path(patientId: string, kind: 'key' | 'shredded'): string {
    return join(this.#dir, fileNameOf(patientId, kind === 'key' ? 'json' : 'shredded'));
  }

  async #ensureDir(): Promise<void> {
    this.#dirReady ??= (async () => {
      try {
        await fs.mkdir(this.#dir, { recursive: false, mode: 0o700 });
        await fs.chmod(this.#dir, 0o700);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    })();
    return this.#dirReady.catch((error: unknown) => {
      this.#dirReady = undefined;
      throw error;
    });
  }

  #shredded(patientId: string): Promise<boolean> {
    return exists(this.#path(patientId, 'shredded'));
  }

  async #load(patientId: string): Promise<PatientKey | undefined> {
    await this.#ensureDir();
    if (await this.#shredded(patientId)) throw new PhiShreddedError(patientId);
    const doc = await readKeyFile(this.#dir, fileNameOf(patientId, 'json'), `of subject ${patientId}`);
    if (doc === undefined) return undefined;
    const raw = await this.#kms.unwrapKey(doc.wrapped, wrapContext(patientId, doc.keyId));
    const key = createSecretKey(raw);
    raw.fill(0);
    return { keyId: doc.keyId, key };
  }

  async #create(patientId: string): Promise<PatientKey> {
    const keyId = newPatientKeyId();
    const raw = randomBytes(GCM.keyBytes);
    try {
      const wrapped = await this.#kms.wrapKey(raw, wrapContext(patientId, keyId));
      const doc: KeyFile = {
        format: 'haven.patient-key.v1',
        patientId,
        keyId,
        wrapped,
        createdAt: new Date().toISOString(),
      };
      const created = await writeSecretFile(this.#path(patientId, 'key'), `${JSON.stringify(doc)}\n`, {
        exclusive: true,
      });
      if (!created) {
        // Another process created it first: use theirs.
        const theirs = await this.#load(patientId);
        if (theirs === undefined)
          throw new PreconditionError(`key file of subject ${patientId} vanished while being created`);
        return theirs;
      }
      return { keyId, key: createSecretKey(raw) };
    } finally {
      raw.fill(0);
    }
  }
}

/** Options of {@link rewrapKeyStore}. */
export interface RewrapKeyStoreOptions {
  /** The directory of a {@link FilePatientKeyStore} (per-patient or per-recording keys). */
  readonly dir: string;
  /** The KMS whose current KEK wraps every key afterwards. */
  readonly kms: Kms;
  /** The KMS that wraps the keys now, when they move from another one (default: `kms`, a rotation). */
  readonly from?: Kms;
  /** Called after each key file. */
  readonly onProgress?: (progress: RewrapKeyStoreProgress) => void;
}

/** What {@link rewrapKeyStore} did. */
export interface RewrapKeyStoreProgress {
  readonly kekId: string;
  /** Key files re-wrapped by this run. */
  readonly rewrapped: number;
  /** Key files already under the current KEK (a resumed run skips them). */
  readonly alreadyCurrent: number;
  /** Keys being destroyed when this run reached them (a tombstone beside the file): left destroyed. */
  readonly shredded: number;
}

const KEY_FILE = /^[0-9a-f]{64}\.json$/;
/** How old a temporary key file a killed writer left must be before it is removed (a wrapped key). */
const STALE_TEMP_MS = 60_000;

/**
 * Re-wraps every key file of a {@link FilePatientKeyStore} directory under `kms`'s current KEK (after a
 * rotation, or from `from` into `kms` when moving to another KMS), with the same context; the keys themselves,
 * and so everything sealed or encrypted with them, do not change. Each file is replaced whole
 * ({@link writeSecretFile}), so a run killed at any point leaves every file either old or new: running it again
 * finishes the work (files already under the current KEK are skipped), and removes a stale temporary file the
 * killed run left. A key destroyed before or during the run stays destroyed: a file whose tombstone appears
 * while it is re-wrapped is shredded again. Safe while the services run.
 * Throws the KMS's errors (IntegrityError, NotFoundError) with the files before it done, PreconditionError on a
 * file that is not a key file.
 */
export async function rewrapKeyStore(options: RewrapKeyStoreOptions): Promise<RewrapKeyStoreProgress> {
  const { dir, kms } = options;
  const kekId = await kms.currentKekId();
  await removeStaleSecretTemps(dir, KEY_FILE, STALE_TEMP_MS);
  const names = (await fs.readdir(dir)).sort();
  const store = new FilePatientKeyStore({ dir, kms });
  let rewrapped = 0;
  let alreadyCurrent = 0;
  let shredded = 0;
  for (const name of names.filter((n) => KEY_FILE.test(n))) {
    const tombstone = join(dir, name.replace(/\.json$/, '.shredded'));
    const doc = await readKeyFile(dir, name, name);
    if (doc === undefined || (await exists(tombstone))) {
      shredded += 1;
    } else if (doc.wrapped.kekId === kekId) {
      alreadyCurrent += 1;
    } else {
      const context = wrapContext(doc.patientId, doc.keyId);
      const raw = await (options.from ?? kms).unwrapKey(doc.wrapped, context);
      let wrapped: WrappedKey;
      try {
        wrapped = await kms.wrapKey(raw, context);
      } finally {
        raw.fill(0);
      }
      await writeSecretFile(join(dir, name), `${JSON.stringify({ ...doc, wrapped } satisfies KeyFile)}\n`);
      if (await exists(tombstone)) {
        // Destroyed meanwhile: destroy() writes the tombstone before it removes the file, so the file just
        // written may have outlived it. Shred it again.
        await store.destroy(doc.patientId);
        shredded += 1;
      } else {
        rewrapped += 1;
      }
    }
    options.onProgress?.({ kekId, rewrapped, alreadyCurrent, shredded });
  }
  return { kekId, rewrapped, alreadyCurrent, shredded };
}
