// KEK rotation of data keys, killed with SIGKILL mid-run and resumed: the CLI runs as a child process from
// dist/ (npm run build first), against a real keyring file; and the move of data keys from the keyring into a
// SoftHSM2 token (PKCS#11), killed and resumed the same way.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '@haven/errors';
import {
  FilePatientKeyStore,
  LocalKeyringKms,
  Pkcs11Kms,
  STREAM_FORMAT,
  decryptFile,
  encryptFile,
  inspectEncryptedFile,
  readRewrapJournal,
  rewrapKeys,
  type WrappedKey,
} from '@haven/crypto';
import {
  InMemoryKms,
  createSoftHsmToken,
  softHsmAvailable,
  useSoftHsmToken,
  type SoftHsmToken,
} from '@haven/crypto/testing';

const CLI = join(__dirname, '..', 'dist', 'rewrap-main.js');
let dir: string;
let keyring: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'haven-rewrap-'));
  keyring = join(dir, 'keys', 'keyring.json');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Starts the CLI (against the keyring, or `env`); `killWhen` is polled every 5 ms and, once true, the child
 * gets SIGKILL.
 */
function runCli(
  args: string[],
  killWhen?: () => Promise<boolean>,
  env: Record<string, string> = { HAVEN_KMS: 'local', HAVEN_KEYRING_FILE: keyring },
): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let poller: NodeJS.Timeout | undefined;
  if (killWhen !== undefined) {
    let busy = false;
    poller = setInterval(() => {
      if (busy) return;
      busy = true;
      void killWhen()
        .then((yes) => {
          if (yes) child.kill('SIGKILL');
        })
        .finally(() => (busy = false));
    }, 5);
  }
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearInterval(poller);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

const lines = async (path: string) =>
  (await fs.readFile(path, 'utf8').catch(() => '')).split('\n').filter((l) => l.endsWith('}')).length;

/**
 * `count` random data keys wrapped by `kms` as recordings `rec-<i>`, written as the CLI's `--keys` file
 * (`items.jsonl` in the test's folder).
 */
async function writeKeysFile(kms: Pick<LocalKeyringKms, 'wrapKey'>, count: number) {
  const keys = Array.from({ length: count }, () => randomBytes(32));
  const items = await Promise.all(
    keys.map(async (key, i) => ({
      id: `rec-${i}`,
      context: { recording: `recordings/rec-${i}` },
      wrappedKey: await kms.wrapKey(key, { recording: `recordings/rec-${i}` }),
    })),
  );
  const itemsFile = join(dir, 'items.jsonl');
  await fs.writeFile(itemsFile, items.map((i) => JSON.stringify(i)).join('\n') + '\n');
  return { keys, items, itemsFile };
}

describe('rewrapKeys / haven-kms-rewrap', () => {
  it('killed with SIGKILL mid-run, resumes and ends with every key unwrappable under the new KEK, none lost', async () => {
    const kms = await LocalKeyringKms.open({ file: keyring, create: true });
    const oldKek = await kms.currentKekId();
    const count = 600;
    const { keys, items, itemsFile } = await writeKeysFile(kms, count);
    const newKek = await kms.rotate();
    const journal = join(dir, 'journal.jsonl');

    const killed = await runCli(['--keys', itemsFile, '--journal', journal, '--rate', '200'], async () => {
      return (await lines(journal)) >= 120;
    });
    expect(killed.signal).toBe('SIGKILL');
    const before = await lines(journal);
    expect(before).toBeGreaterThanOrEqual(120);
    expect(before).toBeLessThan(count);
    // What a kill during an append leaves behind: half a line.
    await fs.appendFile(journal, '{"id":"rec-999","wrappedKey":{"kekId":"kek-');

    const resumed = await runCli(['--keys', itemsFile, '--journal', journal]);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout) as Record<string, unknown>;
    expect(summary).toEqual({ kekId: newKek, rewrapped: count - before, resumed: before, alreadyCurrent: 0 });

    const done = await readRewrapJournal(journal);
    expect(done.size).toBe(count);
    const fresh = await LocalKeyringKms.open({ file: keyring });
    for (const [i, item] of items.entries()) {
      const wrapped = done.get(item.id)!;
      expect(wrapped.kekId).toBe(newKek);
      expect(await fresh.unwrapKey(wrapped, item.context)).toEqual(keys[i]);
      // Until the caller applied the journal, the old wrapped key still opens: nothing depends on the run.
      expect(item.wrappedKey.kekId).toBe(oldKek);
      expect(await fresh.unwrapKey(item.wrappedKey, item.context)).toEqual(keys[i]);
    }
    // A third run has nothing left to do.
    const again = await runCli(['--keys', itemsFile, '--journal', journal]);
    expect(JSON.parse(again.stdout)).toEqual({
      kekId: newKek,
      rewrapped: 0,
      resumed: count,
      alreadyCurrent: 0,
    });
  }, 60_000);

  (softHsmAvailable() ? describe : describe.skip)('moving the keys from the keyring into an HSM', () => {
    let token: SoftHsmToken;
    beforeAll(async () => {
      token = await createSoftHsmToken();
      useSoftHsmToken(token);
    });
    afterAll(async () => token?.remove());

    it('killed with SIGKILL mid-move, resumes; every key then opens in the token, with its context', async () => {
      const local = await LocalKeyringKms.open({ file: keyring, create: true });
      const count = 400;
      const { keys, items, itemsFile } = await writeKeysFile(local, count);
      const journal = join(dir, 'journal.jsonl');
      const env = {
        ...token.env,
        HAVEN_KMS: 'pkcs11',
        HAVEN_PKCS11_MODULE: token.module,
        HAVEN_PKCS11_TOKEN_LABEL: token.tokenLabel,
        HAVEN_PKCS11_PIN_FILE: token.pinFile,
        HAVEN_PKCS11_KEY_PREFIX: 'moved',
        HAVEN_FROM_KMS: 'local',
        HAVEN_FROM_KEYRING_FILE: keyring,
      };
      // The token's first KEK, as the service creates it at its first start.
      const hsm = await Pkcs11Kms.open({
        module: token.module,
        tokenLabel: token.tokenLabel,
        pinFile: token.pinFile,
        keyPrefix: 'moved',
        create: true,
      });
      const kek = await hsm.currentKekId();
      await hsm.close();

      const args = ['--keys', itemsFile, '--journal', journal, '--rate', '200'];
      const killed = await runCli(args, async () => (await lines(journal)) >= 80, env);
      expect(killed.signal).toBe('SIGKILL');
      const before = await lines(journal);
      expect(before).toBeGreaterThanOrEqual(80);
      expect(before).toBeLessThan(count);

      const resumed = await runCli(['--keys', itemsFile, '--journal', journal], undefined, env);
      expect(resumed.stderr).toBe('');
      expect(JSON.parse(resumed.stdout)).toEqual({
        kekId: kek,
        rewrapped: count - before,
        resumed: before,
        alreadyCurrent: 0,
      });
      const done = await readRewrapJournal(journal);
      expect(done.size).toBe(count);
      const check = await Pkcs11Kms.open({
        module: token.module,
        tokenLabel: token.tokenLabel,
        pinFile: token.pinFile,
        keyPrefix: 'moved',
      });
      try {
        for (const [i, item] of items.entries()) {
          const moved = done.get(item.id)!;
          expect(moved.kekId).toBe(kek);
          expect(await check.unwrapKey(moved, item.context)).toEqual(keys[i]);
          // The context is kept: under another recording's name the key does not open.
          if (i < 3)
            await expect(check.unwrapKey(moved, { recording: 'recordings/other' })).rejects.toThrow();
        }
      } finally {
        await check.close();
      }
      // The keyring cannot open what the token wrapped.
      await expect(local.unwrapKey(done.get('rec-0')!, items[0]!.context)).rejects.toThrow();
    }, 90_000);

    it('refuses HAVEN_FROM_KMS with --files (a file key slot moves by rotation inside one KMS)', async () => {
      const run = await runCli(['--files', join(dir, 'none.jsonl')], undefined, {
        HAVEN_KMS: 'local',
        HAVEN_KEYRING_FILE: keyring,
        HAVEN_FROM_KMS: 'local',
        HAVEN_FROM_KEYRING_FILE: keyring,
      });
      expect(run.code).toBe(2);
    });
  });

  it('re-wraps encrypted files in place: the key slot changes, the media bytes do not', async () => {
    const kms = await LocalKeyringKms.open({ file: keyring, create: true });
    const files: { path: string; context: Record<string, string>; plain: Buffer }[] = [];
    for (let i = 0; i < 3; i++) {
      const plain = randomBytes(100_000 + i);
      const src = join(dir, `plain-${i}`);
      await fs.writeFile(src, plain);
      const context = { recording: `recordings/r${i}` };
      await encryptFile(kms, src, join(dir, `r${i}.enc`), { chunkSize: 4096, context });
      files.push({ path: join(dir, `r${i}.enc`), context, plain });
    }
    const body = async (p: string) =>
      createHash('sha256')
        .update((await fs.readFile(p)).subarray(STREAM_FORMAT.headerBytes))
        .digest('hex');
    const bodies = await Promise.all(files.map((f) => body(f.path)));
    const newKek = await kms.rotate();
    const list = join(dir, 'files.jsonl');
    await fs.writeFile(
      list,
      files.map((f) => JSON.stringify({ path: f.path, context: f.context })).join('\n'),
    );
    const run = await runCli(['--files', list]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ kekId: newKek, switched: 3 });
    const fresh = await LocalKeyringKms.open({ file: keyring });
    for (const [i, f] of files.entries()) {
      expect((await inspectEncryptedFile(f.path)).wrappedKey.kekId).toBe(newKek);
      expect(await body(f.path)).toBe(bodies[i]);
      const out = join(dir, `back-${i}`);
      await decryptFile(fresh, f.path, out, { context: f.context });
      expect((await fs.readFile(out)).equals(f.plain)).toBe(true);
    }
    expect(JSON.parse((await runCli(['--files', list])).stdout)).toEqual({ kekId: newKek, switched: 0 });
  }, 60_000);

  it('re-wraps a key store (recording keys) in place, killed with SIGKILL mid-run and resumed', async () => {
    const kms = await LocalKeyringKms.open({ file: keyring, create: true });
    const storeDir = join(dir, 'recording-keys');
    const store = new FilePatientKeyStore({ dir: storeDir, kms });
    const ids = Array.from({ length: 300 }, (_, i) => `recordings/r${i}`);
    const keys = new Map<string, Buffer>();
    for (const id of ids) keys.set(id, (await store.getOrCreate(id)).key.export());
    await store.destroy('recordings/r7');
    const newKek = await kms.rotate();
    const fileOf = (id: string) => join(storeDir, `${createHash('sha256').update(id).digest('hex')}.json`);
    const kekOf = async (id: string) =>
      (JSON.parse(await fs.readFile(fileOf(id), 'utf8')) as { wrapped: WrappedKey }).wrapped.kekId;
    // Files are done in name order: kill once the 30th is.
    const order = ids.filter((id) => id !== 'recordings/r7').sort((a, b) => (fileOf(a) < fileOf(b) ? -1 : 1));
    const killed = await runCli(['--key-store', storeDir], async () => (await kekOf(order[29]!)) === newKek);
    expect(killed.signal).toBe('SIGKILL');
    const done = (await Promise.all(order.map(kekOf))).filter((k) => k === newKek).length;
    expect(done).toBeGreaterThanOrEqual(30);
    expect(done).toBeLessThan(order.length);
    // What a kill inside writeSecretFile leaves: a temporary copy of a wrapped key, gone once stale.
    const temp = join(storeDir, `.${createHash('sha256').update('x').digest('hex')}.json.0123456789ab.tmp`);
    await fs.writeFile(temp, '{}');
    await fs.utimes(temp, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));

    const resumed = await runCli(['--key-store', storeDir]);
    expect(resumed.stderr).toBe('');
    expect(JSON.parse(resumed.stdout)).toEqual({
      kekId: newKek,
      rewrapped: order.length - done,
      alreadyCurrent: done,
      shredded: 0, // r7's file is gone: only its tombstone is left
    });
    expect(await fs.stat(temp).catch(() => undefined)).toBeUndefined();
    const fresh = new FilePatientKeyStore({
      dir: storeDir,
      kms: await LocalKeyringKms.open({ file: keyring }),
    });
    for (const id of order) {
      expect(await kekOf(id)).toBe(newKek);
      expect((await fresh.get(id)).key.export()).toEqual(keys.get(id));
    }
    await expect(fresh.get('recordings/r7')).rejects.toThrow(/shredded/i);
  }, 120_000);

  it('refuses bad usage and names a missing variable', async () => {
    expect((await runCli(['--keys', 'x'])).code).toBe(2);
    const child = spawn(process.execPath, [CLI, '--files', 'x'], { env: { HAVEN_KMS: 'pkcs11' } });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('HAVEN_PKCS11_MODULE');
  });

  it('re-does keys journalled under an older KEK after another rotation, and refuses duplicate ids', async () => {
    const kms = new InMemoryKms();
    const key = randomBytes(32);
    const item = { id: 'a', wrappedKey: await kms.wrapKey(key) };
    const journal = join(dir, 'journal.jsonl');
    await kms.rotate();
    expect(await rewrapKeys({ kms, items: [item], journalFile: journal })).toMatchObject({ rewrapped: 1 });
    const second = await kms.rotate();
    expect(await rewrapKeys({ kms, items: [item], journalFile: journal })).toMatchObject({
      rewrapped: 1,
      resumed: 0,
    });
    const w: WrappedKey = (await readRewrapJournal(journal)).get('a')!;
    expect(w.kekId).toBe(second);
    expect(await kms.unwrapKey(w)).toEqual(key);
    expect((await fs.stat(journal)).mode & 0o777).toBe(0o600);
    await expect(
      rewrapKeys({ kms, items: [item, item], journalFile: join(dir, 'j2') }),
    ).rejects.toBeInstanceOf(ValidationError);
  });
});
