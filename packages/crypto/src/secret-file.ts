/**
 * The one way Haven writes a secret to disk (a key, a keyring, a tombstone): readable by its owner only, whole or
 * not at all, and durable once the call returns.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NotFoundError, PreconditionError } from '@haven/errors';

/** Options of {@link writeSecretFile}. */
export interface WriteSecretFileOptions {
  /**
   * Only create: when `path` already exists, leave it as it is and return false (another process won a race to
   * create it). Default: replace it.
   */
  readonly exclusive?: boolean;
}

/**
 * Writes `data` to `path` atomically with mode 0600: a temporary file in the same directory (created 0600,
 * chmod'ed past the umask, written, fsynced), then renamed over `path` (or hard-linked to it when `exclusive`,
 * so an existing file is never touched), then the directory fsynced so the new name survives a crash. A reader
 * sees the old file or the whole new one, never a part. Returns true when written, false when `exclusive` and
 * the file existed. Throws the file system's error otherwise (the temporary file is removed).
 */
export async function writeSecretFile(
  path: string,
  data: string | Uint8Array,
  options: WriteSecretFileOptions = {},
): Promise<boolean> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    try {
      await handle.chmod(0o600);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive) {
      try {
        await fs.link(tmp, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      }
    } else {
      await fs.rename(tmp, path);
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
  await syncDirectory(dir);
  return true;
}

/**
 * Removes the temporary files that killed {@link writeSecretFile} calls left in `dir` for the files whose names
 * match `names`, once they are older than `olderThanMs` (a younger one may belong to a write still running).
 */
export async function removeStaleSecretTemps(dir: string, names: RegExp, olderThanMs: number): Promise<void> {
  for (const entry of await fs.readdir(dir)) {
    const temp = /^\.(.+)\.[0-9a-f]{12}\.tmp$/.exec(entry);
    if (!temp || !names.test(temp[1]!)) continue;
    const stat = await fs.stat(join(dir, entry)).catch(() => undefined);
    if (stat && Date.now() - stat.mtimeMs > olderThanMs) await fs.rm(join(dir, entry), { force: true });
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads a secret (a PIN, a token) from a file written for Haven: a regular file not accessible by group or others
 * (mode 0600 or stricter). One trailing newline is dropped. `what` names the secret in errors, which never
 * quote the file's content. Throws NotFoundError when the file does not exist, PreconditionError when it is
 * not a regular file, its mode is too loose, or it is empty.
 */
export async function readSecretFile(path: string, what: string): Promise<string> {
  let stat;
  try {
    stat = await fs.stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`${what} file ${path} does not exist`);
    }
    throw error;
  }
  assertOwnerOnlyFile(stat, path, what);
  const text = (await fs.readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (text === '') throw new PreconditionError(`${what} file ${path} is empty`);
  return text;
}

/**
 * Throws PreconditionError unless `stat` (of `path`) is a regular file that neither group nor others may read or
 * write (mode 0600 or stricter). `what` names the file in the message.
 */
export function assertOwnerOnlyFile(stat: Stats, path: string, what: string): void {
  if (!stat.isFile()) throw new PreconditionError(`${what} file ${path} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new PreconditionError(
      `${what} file ${path} has mode ${mode}; it must not be accessible by group or others (chmod 600 ${path})`,
    );
  }
}
