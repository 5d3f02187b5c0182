import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { NotFoundError, PreconditionError } from '@haven/errors';
import { LocalKeyringKms, encryptEnvelope, decryptEnvelope } from '@haven/crypto';
import { testKms } from '@haven/crypto/testing';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'haven-keyring-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
const freshFile = () => join(root, `case-${++n}`, 'keys', 'keyring.json');
const mode = async (p: string) => (await fs.stat(p)).mode & 0o777;

testKms('LocalKeyringKms', () => LocalKeyringKms.open({ file: freshFile(), create: true }));

describe('LocalKeyringKms', () => {
  it('creates the keyring with mode 0600 in a 0700 directory', async () => {
    const file = freshFile();
    const kms = await LocalKeyringKms.open({ file, create: true });
    expect(await mode(file)).toBe(0o600);
    expect(await mode(join(file, '..'))).toBe(0o700);
    const doc = JSON.parse(await fs.readFile(file, 'utf8')) as { current: string; keys: { id: string }[] };
    expect(doc.current).toBe(await kms.currentKekId());
    expect(doc.keys).toHaveLength(1);
  });

  it('refuses to create when create is not set', async () => {
    await expect(LocalKeyringKms.open({ file: freshFile() })).rejects.toBeInstanceOf(NotFoundError);
  });

  it.each([0o644, 0o640, 0o604, 0o660])(
    'refuses a keyring file with mode %o, naming the problem but not the key',
    async (loose) => {
      const file = freshFile();
      await LocalKeyringKms.open({ file, create: true });
      const text = await fs.readFile(file, 'utf8');
      const keyText = (JSON.parse(text) as { keys: { key: string }[] }).keys[0]!.key;
      await fs.chmod(file, loose);
      const error = await LocalKeyringKms.open({ file }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PreconditionError);
      const message = (error as Error).message;
      expect(message).toContain(file);
      expect(message).toContain(`0${loose.toString(8)}`);
      expect(message).toContain('chmod 600');
      expect(message).not.toContain(keyText);
    },
  );

  it('accepts a stricter mode (0400)', async () => {
    const file = freshFile();
    await LocalKeyringKms.open({ file, create: true });
    await fs.chmod(file, 0o400);
    await expect(LocalKeyringKms.open({ file })).resolves.toBeInstanceOf(LocalKeyringKms);
  });

  it('persists rotation: a fresh instance unwraps old and new data, file stays 0600', async () => {
    const file = freshFile();
    const kms = await LocalKeyringKms.open({ file, create: true });
    const first = await kms.currentKekId();
    const oldEnv = await encryptEnvelope(kms, Buffer.from('old'));
    const next = await kms.rotate();
    const newEnv = await encryptEnvelope(kms, Buffer.from('new'));
    expect(await mode(file)).toBe(0o600);
    const reopened = await LocalKeyringKms.open({ file });
    expect(await reopened.currentKekId()).toBe(next);
    expect(reopened.kekIds()).toEqual([first, next]);
    expect((await decryptEnvelope(reopened, oldEnv)).toString()).toBe('old');
    expect((await decryptEnvelope(reopened, newEnv)).toString()).toBe('new');
    expect((await fs.readdir(join(file, '..'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('serialises concurrent rotations without losing a KEK', async () => {
    const file = freshFile();
    const kms = await LocalKeyringKms.open({ file, create: true });
    const ids = await Promise.all([kms.rotate(), kms.rotate(), kms.rotate()]);
    const reopened = await LocalKeyringKms.open({ file });
    expect(reopened.kekIds()).toEqual(expect.arrayContaining(ids));
    expect(reopened.kekIds()).toHaveLength(4);
    expect(await reopened.currentKekId()).toBe(ids[2]);
  });

  it('never shows key material in JSON, inspect or errors', async () => {
    const file = freshFile();
    const kms = await LocalKeyringKms.open({ file, create: true });
    await kms.rotate();
    const keys = (JSON.parse(await fs.readFile(file, 'utf8')) as { keys: { key: string }[] }).keys.map(
      (k) => k.key,
    );
    const shown = [
      JSON.stringify(kms),
      inspect(kms, { showHidden: true, depth: 10 }),
      inspect({ nested: [kms] }),
    ];
    for (const text of shown) for (const key of keys) expect(text).not.toContain(key);
    expect(JSON.parse(JSON.stringify(kms))).toEqual({
      kind: 'LocalKeyringKms',
      file,
      currentKekId: await kms.currentKekId(),
      kekIds: kms.kekIds(),
    });
  });

  it('rejects a corrupt keyring without quoting its content', async () => {
    const file = freshFile();
    await LocalKeyringKms.open({ file, create: true });
    const text = await fs.readFile(file, 'utf8');
    const keyText = (JSON.parse(text) as { keys: { key: string }[] }).keys[0]!.key;
    await fs.writeFile(file, text.slice(0, text.indexOf(keyText) + 10));
    const error = (await LocalKeyringKms.open({ file }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(PreconditionError);
    expect(error.message).toContain('not a valid Haven keyring');
    expect(error.message).not.toContain(keyText.slice(0, 10));
    expect(error.cause).toBeUndefined();
  });

  it('rejects a keyring whose key has the wrong length', async () => {
    const file = freshFile();
    await LocalKeyringKms.open({ file, create: true });
    const doc = JSON.parse(await fs.readFile(file, 'utf8')) as { keys: { key: string }[] };
    doc.keys[0]!.key = Buffer.alloc(16).toString('base64url');
    await fs.writeFile(file, JSON.stringify(doc));
    await expect(LocalKeyringKms.open({ file })).rejects.toThrow(/not 32 bytes/);
  });
});
