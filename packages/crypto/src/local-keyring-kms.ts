import { promises as fs, type Stats } from 'node:fs';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import { NotFoundError, PreconditionError } from '@haven/errors';
import { GCM } from './aes-gcm';
import { assertOwnerOnlyFile, writeSecretFile } from './secret-file';
import {
  generateKek,
  newKekId,
  unwrapWithKeks,
  wrapWithKek,
  type Kms,
  type KmsContext,
  type WrappedKey,
} from './kms';

const FORMAT = 'haven.keyring.v1';

/** Options of {@link LocalKeyringKms.open}. */
export interface LocalKeyringOptions {
  /** Path of the keyring JSON file (HAVEN_KEYRING_FILE). */
  readonly file: string;
  /** Create the file (mode 0600, directory 0700) with a first KEK when it does not exist. Default false. */
  readonly create?: boolean;
}

interface KeyringFile {
  format: typeof FORMAT;
  current: string;
  keys: { id: string; key: string; createdAt: string }[];
}

/**
 * A {@link Kms} backed by a keyring JSON file holding the KEKs (256-bit, by id) and the current KEK id.
 * For development and single-node installs. The file must be mode 0600 or stricter; key material never
 * appears in errors, `JSON.stringify` or `util.inspect` output.
 */
export class LocalKeyringKms implements Kms {
  readonly #file: string;
  readonly #keys: Map<string, { key: KeyObject; createdAt: string }>;
  #current: string;
  #writing: Promise<unknown> = Promise.resolve();

  private constructor(
    file: string,
    keys: Map<string, { key: KeyObject; createdAt: string }>,
    current: string,
  ) {
    this.#file = file;
    this.#keys = keys;
    this.#current = current;
  }

  /**
   * Opens (or, with `create: true`, creates) a keyring file.
   * Throws NotFoundError when the file is missing and `create` is not set; PreconditionError when the file
   * is not a regular file, is readable or writable by group/others (mode looser than 0600), or is not a
   * valid keyring (the message names the problem, never a key).
   */
  static async open(options: LocalKeyringOptions): Promise<LocalKeyringKms> {
    const file = options.file;
    let stat = await statOrUndefined(file);
    if (stat === undefined) {
      if (options.create !== true) {
        throw new NotFoundError(`keyring file ${file} does not exist (set create to make one)`);
      }
      await createKeyringFile(file);
      stat = await fs.stat(file);
    }
    assertOwnerOnlyFile(stat, file, 'keyring');
    const text = await fs.readFile(file, 'utf8');
    const { keys, current } = parseKeyring(file, text);
    return new LocalKeyringKms(file, keys, current);
  }

  /** {@inheritDoc Kms.wrapKey} */
  async wrapKey(plaintextKey: Buffer, context?: KmsContext): Promise<WrappedKey> {
    const entry = this.#keys.get(this.#current);
    if (entry === undefined) throw new PreconditionError('keyring has no current KEK');
    return wrapWithKek(this.#current, entry.key, plaintextKey, context);
  }

  /** {@inheritDoc Kms.unwrapKey} */
  async unwrapKey(wrapped: WrappedKey, context?: KmsContext): Promise<Buffer> {
    return unwrapWithKeks((id) => this.#keys.get(id)?.key, wrapped, context);
  }

  /**
   * Adds a new KEK, makes it current and persists the keyring atomically (temp file 0600 + fsync + rename).
   * Old KEKs keep unwrapping. Throws when the file cannot be written (the keyring in memory is unchanged).
   */
  async rotate(): Promise<string> {
    const run = this.#writing.then(async () => {
      const id = newKekId();
      const next = new Map(this.#keys);
      next.set(id, { key: generateKek(), createdAt: new Date().toISOString() });
      await writeSecretFile(this.#file, serialise(next, id));
      this.#keys.set(id, next.get(id)!);
      this.#current = id;
      return id;
    });
    this.#writing = run.catch(() => undefined);
    return run;
  }

  /** {@inheritDoc Kms.currentKekId} */
  async currentKekId(): Promise<string> {
    return this.#current;
  }

  /** Ids of all KEKs in the keyring (oldest first). No key material. */
  kekIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** Redacted form: file, current KEK id and KEK ids; never key material. */
  toJSON(): { kind: 'LocalKeyringKms'; file: string; currentKekId: string; kekIds: string[] } {
    return { kind: 'LocalKeyringKms', file: this.#file, currentKekId: this.#current, kekIds: this.kekIds() };
  }

  /** Redacted `util.inspect` output (same as {@link LocalKeyringKms.toJSON}). */
  [inspect.custom](): string {
    return `LocalKeyringKms ${JSON.stringify(this.toJSON())}`;
  }
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function createKeyringFile(file: string): Promise<void> {
  const dir = dirname(file);
  if ((await statOrUndefined(dir)) === undefined) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o700); // mkdir's mode is subject to the umask
  }
  const keys = new Map([[newKekId(), { key: generateKek(), createdAt: new Date().toISOString() }]]);
  const [current] = keys.keys();
  // Created concurrently (false): the caller opens that one instead.
  await writeSecretFile(file, serialise(keys, current!), { exclusive: true });
}

function serialise(keys: Map<string, { key: KeyObject; createdAt: string }>, current: string): string {
  const body: KeyringFile = {
    format: FORMAT,
    current,
    keys: [...keys].map(([id, { key, createdAt }]) => ({
      id,
      key: key.export().toString('base64url'),
      createdAt,
    })),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

function parseKeyring(
  file: string,
  text: string,
): { keys: Map<string, { key: KeyObject; createdAt: string }>; current: string } {
  const invalid = (what: string) =>
    new PreconditionError(`keyring file ${file} is not a valid Haven keyring: ${what}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // JSON.parse messages quote the input, which may hold key material: no message, no cause.
    throw invalid('not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw invalid('not an object');
  const { format, current, keys } = doc as Partial<KeyringFile>;
  if (format !== FORMAT) throw invalid(`format must be "${FORMAT}"`);
  if (!Array.isArray(keys) || keys.length === 0) throw invalid('keys must be a non-empty array');
  const map = new Map<string, { key: KeyObject; createdAt: string }>();
  keys.forEach((entry: unknown, i) => {
    const e = entry as Partial<KeyringFile['keys'][number]> | null;
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || e.id === '')
      throw invalid(`keys[${i}].id missing`);
    if (map.has(e.id)) throw invalid(`duplicate KEK id ${e.id}`);
    const raw =
      typeof e.key === 'string' && /^[A-Za-z0-9_-]+$/.test(e.key)
        ? Buffer.from(e.key, 'base64url')
        : undefined;
    if (raw === undefined || raw.length !== GCM.keyBytes)
      throw invalid(`key of KEK ${e.id} is not 32 bytes of base64url`);
    map.set(e.id, {
      key: createSecretKey(raw),
      createdAt: typeof e.createdAt === 'string' ? e.createdAt : '',
    });
    raw.fill(0);
  });
  if (typeof current !== 'string' || !map.has(current)) throw invalid('current must name one of the keys');
  return { keys: map, current };
}
