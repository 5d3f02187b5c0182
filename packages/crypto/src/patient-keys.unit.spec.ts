import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilePatientKeyStore, sealPhi, openPhi, PhiShreddedError } from '@haven/crypto';
import { InMemoryKms, testPatientKeyStore } from '@haven/crypto/testing';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'haven-pks-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
const freshDir = () => join(root, `store-${++n}`);
const hashed = (id: string) => createHash('sha256').update(id).digest('hex');

testPatientKeyStore(
  'FilePatientKeyStore',
  () => new FilePatientKeyStore({ dir: freshDir(), kms: new InMemoryKms() }),
);

describe('FilePatientKeyStore', () => {
  it('stores each key wrapped, in a 0600 file under a 0700 directory named by a hash of the id', async () => {
    const dir = freshDir();
    const store = new FilePatientKeyStore({ dir, kms: new InMemoryKms() });
    const { key, keyId } = await store.getOrCreate('patient-42');
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    const file = join(dir, `${hashed('patient-42')}.json`);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const text = await fs.readFile(file, 'utf8');
    const raw = key.export();
    for (const enc of ['base64', 'base64url', 'hex'] as const) expect(text).not.toContain(raw.toString(enc));
    expect(JSON.parse(text)).toMatchObject({
      format: 'haven.patient-key.v1',
      patientId: 'patient-42',
      keyId,
    });
  });

  it('persists keys across instances sharing the KMS', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    const sealed = await sealPhi(new FilePatientKeyStore({ dir, kms }), 'p', { name: 'Jane' });
    expect(await openPhi(new FilePatientKeyStore({ dir, kms }), sealed)).toEqual({ name: 'Jane' });
  });

  it('cannot unwrap a key file moved to another patient', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    const store = new FilePatientKeyStore({ dir, kms });
    await store.getOrCreate('a');
    const doc = JSON.parse(await fs.readFile(join(dir, `${hashed('a')}.json`), 'utf8')) as Record<
      string,
      unknown
    >;
    await fs.writeFile(join(dir, `${hashed('b')}.json`), JSON.stringify({ ...doc, patientId: 'b' }), {
      mode: 0o600,
    });
    await expect(new FilePatientKeyStore({ dir, kms }).get('b')).rejects.toThrow(/authentication failed/);
  });

  it('destroy deletes the key file, leaves a tombstone, and other instances see the shredding', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    const store = new FilePatientKeyStore({ dir, kms });
    const sealed = await sealPhi(store, 'p-shred', { name: 'Gone' });
    await store.destroy('p-shred');
    const files = await fs.readdir(dir);
    expect(files).toEqual([`${hashed('p-shred')}.shredded`]);
    await expect(openPhi(new FilePatientKeyStore({ dir, kms }), sealed)).rejects.toBeInstanceOf(
      PhiShreddedError,
    );
  });

  it('destroys once when two callers (a handler and a replay) destroy the same key at the same time', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    const store = new FilePatientKeyStore({ dir, kms });
    const other = new FilePatientKeyStore({ dir, kms });
    await store.getOrCreate('p-twice');
    await Promise.all([store.destroy('p-twice'), other.destroy('p-twice'), store.destroy('p-twice')]);
    expect(await fs.readdir(dir)).toEqual([`${hashed('p-twice')}.shredded`]);
  });

  it('bounds its cache of unwrapped keys', async () => {
    const store = new FilePatientKeyStore({ dir: freshDir(), kms: new InMemoryKms(), cacheSize: 2 });
    const first = await store.getOrCreate('c1');
    await store.getOrCreate('c2');
    await store.getOrCreate('c3');
    expect(store.toJSON().cached).toBe(2);
    expect((await store.get('c1')).keyId).toBe(first.keyId); // reloaded from disk
  });
});
