import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, PreconditionError } from '@haven/errors';
import { readSecretFile, writeSecretFile } from './secret-file';

describe('writeSecretFile', () => {
  let dir: string;
  let umask: number;

  beforeEach(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'haven-secret-file-'));
    umask = process.umask(0); // the file must be 0600 whatever the umask
  });
  afterEach(async () => {
    process.umask(umask);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes a 0600 file and leaves no temporary file behind', async () => {
    const path = join(dir, 'key');
    expect(await writeSecretFile(path, 'secret')).toBe(true);
    expect(await fs.readFile(path, 'utf8')).toBe('secret');
    expect((await fs.stat(path)).mode & 0o777).toBe(0o600);
    expect(await fs.readdir(dir)).toEqual(['key']);
  });

  it('replaces an existing file whole, including a looser one, with a new 0600 inode', async () => {
    const path = join(dir, 'keyring');
    await fs.writeFile(path, 'old and longer', { mode: 0o644 });
    const before = (await fs.stat(path)).ino;
    expect(await writeSecretFile(path, Buffer.from('new'))).toBe(true);
    expect(await fs.readFile(path, 'utf8')).toBe('new');
    const after = await fs.stat(path);
    expect(after.mode & 0o777).toBe(0o600);
    expect(after.ino).not.toBe(before);
  });

  it('with exclusive, creates a missing file but leaves an existing one untouched and says so', async () => {
    const path = join(dir, 'patient.key');
    expect(await writeSecretFile(path, 'first', { exclusive: true })).toBe(true);
    expect(await writeSecretFile(path, 'second', { exclusive: true })).toBe(false);
    expect(await fs.readFile(path, 'utf8')).toBe('first');
    expect(await fs.readdir(dir)).toEqual(['patient.key']);
  });

  it('of many racing exclusive writers, exactly one wins and the file is whole', async () => {
    const path = join(dir, 'raced');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => writeSecretFile(path, `writer ${i}`, { exclusive: true })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await fs.readFile(path, 'utf8')).toBe(`writer ${results.indexOf(true)}`);
    expect(await fs.readdir(dir)).toEqual(['raced']);
  });

  it('throws when the directory does not exist and creates nothing', async () => {
    await expect(writeSecretFile(join(dir, 'missing', 'key'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await fs.readdir(dir)).toEqual([]);
  });
});

describe('readSecretFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'haven-secret-read-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reads a 0600 file, dropping one trailing newline', async () => {
    const path = join(dir, 'pin');
    await writeSecretFile(path, 's3cret\n');
    expect(await readSecretFile(path, 'PIN')).toBe('s3cret');
    await writeSecretFile(path, 'two\n\n');
    expect(await readSecretFile(path, 'PIN')).toBe('two\n');
  });

  it('refuses a missing, loose, empty or non-regular file without quoting it', async () => {
    const path = join(dir, 'pin');
    await expect(readSecretFile(path, 'PIN')).rejects.toBeInstanceOf(NotFoundError);
    await fs.writeFile(path, 'visible-secret\n', { mode: 0o644 });
    await fs.chmod(path, 0o644);
    const loose = (await readSecretFile(path, 'PIN').catch((e: unknown) => e)) as Error;
    expect(loose).toBeInstanceOf(PreconditionError);
    expect(loose.message).toMatch(/PIN file .* mode 0644/);
    expect(loose.message).not.toContain('visible-secret');
    await fs.chmod(path, 0o600);
    await fs.writeFile(path, '\n');
    await expect(readSecretFile(path, 'PIN')).rejects.toThrow(/is empty/);
    await expect(readSecretFile(dir, 'PIN')).rejects.toThrow(/not a regular file/);
  });
});
