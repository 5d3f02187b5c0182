import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kms } from '@haven/crypto';
import { FilePatientKeyStore, rewrapKeyStore, sealPhi, openPhi, PhiShreddedError } from '@haven/crypto';
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

  it('refuses a key file that is not JSON, or is another subject’s file under this one’s name', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    await new FilePatientKeyStore({ dir, kms }).getOrCreate('a');
    await fs.copyFile(join(dir, `${hashed('a')}.json`), join(dir, `${hashed('b')}.json`));
    await fs.writeFile(join(dir, `${hashed('c')}.json`), '{not json', { mode: 0o600 });
    const store = new FilePatientKeyStore({ dir, kms });
    await expect(store.get('b')).rejects.toThrow(
      'key file of subject b is not a valid key file of this store',
    );
    await expect(store.get('c')).rejects.toThrow('key file of subject c is not valid JSON');
    expect((await store.get('a')).keyId).toMatch(/^pk-/);
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

describe('rewrapKeyStore', () => {
  const kekOf = async (dir: string, id: string) =>
    (JSON.parse(await fs.readFile(join(dir, `${hashed(id)}.json`), 'utf8')) as { wrapped: { kekId: string } })
      .wrapped.kekId;

  it('re-wraps every key under the new KEK; the keys, and what they sealed, do not change', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    const store = new FilePatientKeyStore({ dir, kms });
    const sealed = await sealPhi(store, 'recordings/r1', { note: 'kept' });
    const before = (await store.getOrCreate('recordings/r2')).key.export();
    const kek = await kms.rotate();
    expect(await rewrapKeyStore({ dir, kms })).toEqual({
      kekId: kek,
      rewrapped: 2,
      alreadyCurrent: 0,
      shredded: 0,
    });
    expect(await kekOf(dir, 'recordings/r1')).toBe(kek);
    const fresh = new FilePatientKeyStore({ dir, kms });
    expect((await fresh.get('recordings/r2')).key.export()).toEqual(before);
    expect(await openPhi(fresh, sealed)).toEqual({ note: 'kept' });
    expect(await rewrapKeyStore({ dir, kms })).toMatchObject({ rewrapped: 0, alreadyCurrent: 2 });
  });

  it('leaves a destroyed key destroyed, even when it is destroyed while being re-wrapped', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    const store = new FilePatientKeyStore({ dir, kms });
    await store.getOrCreate('recordings/gone');
    await store.getOrCreate('recordings/racing');
    await store.getOrCreate('recordings/kept');
    await store.destroy('recordings/gone');
    await kms.rotate();
    // A service destroys 'racing' after this run read its file, before the new file is written.
    const racing: Kms = {
      currentKekId: () => kms.currentKekId(),
      unwrapKey: (w, c) => kms.unwrapKey(w, c),
      rotate: () => kms.rotate(),
      wrapKey: async (raw, context) => {
        const wrapped = await kms.wrapKey(raw, context);
        if (context?.['patientId'] === 'recordings/racing') await store.destroy('recordings/racing');
        return wrapped;
      },
    };
    expect(await rewrapKeyStore({ dir, kms: racing })).toMatchObject({ rewrapped: 1, shredded: 1 });
    const files = await fs.readdir(dir);
    expect(files).not.toContain(`${hashed('recordings/racing')}.json`);
    expect(files).not.toContain(`${hashed('recordings/gone')}.json`);
    expect(files).toContain(`${hashed('recordings/kept')}.json`);
    await expect(store.get('recordings/racing')).rejects.toThrow(PhiShreddedError);
  });

  it('moves the keys from one KMS into another (`from`): the new KMS alone opens them', async () => {
    const dir = freshDir();
    const before = new InMemoryKms();
    const after = new InMemoryKms();
    const sealed = await sealPhi(new FilePatientKeyStore({ dir, kms: before }), 'recordings/m', { n: 1 });
    expect(await rewrapKeyStore({ dir, kms: after, from: before })).toMatchObject({ rewrapped: 1 });
    expect(await openPhi(new FilePatientKeyStore({ dir, kms: after }), sealed)).toEqual({ n: 1 });
    await expect(new FilePatientKeyStore({ dir, kms: before }).get('recordings/m')).rejects.toThrow();
  });

  it('refuses a file that is not this store’s key file (moved, or not a key)', async () => {
    const dir = freshDir();
    const kms = new InMemoryKms();
    const store = new FilePatientKeyStore({ dir, kms });
    await store.getOrCreate('recordings/a');
    await fs.rename(join(dir, `${hashed('recordings/a')}.json`), join(dir, `${hashed('recordings/b')}.json`));
    await expect(rewrapKeyStore({ dir, kms })).rejects.toThrow(/not a valid key file of this store/);
  });
});
