import { mkdtempSync, promises as fs, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from './object-store';
import { testObjectStore } from './object-store-contract';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'haven-objects-'));
  dirs.push(dir);
  return dir;
}

describe('the filesystem object store', () => {
  testObjectStore(async () => new FsObjectStore(freshDir()));

  it('writes objects 0600 in 0700 folders', async () => {
    const dir = freshDir();
    const store = new FsObjectStore(dir);
    await store.put(
      'recordings/a.henc',
      (async function* () {
        yield Buffer.from('ciphertext');
      })(),
    );
    expect(statSync(join(dir, 'recordings/a.henc')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'recordings')).mode & 0o777).toBe(0o700);
  });

  it('lists the partial upload a crash left, and delete removes it', async () => {
    const dir = freshDir();
    const store = new FsObjectStore(dir);
    await fs.mkdir(join(dir, 'recordings'), { recursive: true });
    writeFileSync(join(dir, 'recordings/h.henc.partial'), 'half');
    expect(await store.partials()).toEqual(['recordings/h.henc']);
    expect(await store.list()).toEqual([]);
    await store.delete('recordings/h.henc');
    expect(await store.partials()).toEqual([]);
  });
});
