// No Vault or OpenBao server runs here (no binary in Debian or on npm): the adapter is tested against
// startFakeVaultTransit, an in-repo FAKE that implements the Transit endpoints it uses, over real HTTP on
// 127.0.0.1. It is not Vault; the request shapes follow Vault's Transit API documentation.
import { promises as fs } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { NotFoundError, PermissionError, PreconditionError, UnavailableError } from '@haven/errors';
import {
  IntegrityError,
  VaultTransitKms,
  canonicalContext,
  encryptEnvelope,
  decryptEnvelope,
} from '@haven/crypto';
import { startFakeVaultTransit, testKms, type FakeVaultTransit } from '@haven/crypto/testing';

let fake: FakeVaultTransit;
let dir: string;
let tokenFile: string;
let n = 0;

beforeAll(async () => {
  fake = await startFakeVaultTransit();
  dir = await fs.mkdtemp(join(tmpdir(), 'haven-vault-'));
  tokenFile = join(dir, 'token');
  await fs.writeFile(tokenFile, `${fake.token}\n`, { mode: 0o600 });
});
afterAll(async () => {
  await fake.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const open = (keyName = `haven-kek-${++n}`, extra: { tokenFile?: string; create?: boolean } = {}) =>
  VaultTransitKms.open({
    address: fake.address,
    tokenFile: extra.tokenFile ?? tokenFile,
    keyName,
    create: extra.create ?? true,
  });

/** A raw Transit call with another client than the adapter's. */
function rawTransit(
  path: string,
  body: unknown,
): Promise<{ status: number; doc: { data?: Record<string, unknown> } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${fake.address}${path}`,
      { method: 'POST', headers: { 'X-Vault-Token': fake.token, 'Content-Type': 'application/json' } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            doc: JSON.parse(Buffer.concat(parts).toString() || '{}') as never,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

testKms('VaultTransitKms (against the in-repo fake Transit server)', () => open());

describe('VaultTransitKms (against the in-repo fake Transit server)', () => {
  it('stores Transit ciphertext: another client decrypts it with the canonical context', async () => {
    const kms = await open('interop');
    const key = Buffer.alloc(32, 5);
    const wrapped = await kms.wrapKey(key, { b: '2', a: '1' });
    expect(wrapped.kekId).toBe('transit/interop:v1');
    const context = Buffer.from(`haven.kms.wrap.v1\u0000${canonicalContext({ a: '1', b: '2' })}`).toString(
      'base64',
    );
    const ciphertext = `vault:v1:${Buffer.from(wrapped.ciphertext, 'base64url').toString('base64')}`;
    const ok = await rawTransit('/v1/transit/decrypt/interop', { ciphertext, context });
    expect(Buffer.from(String(ok.doc.data?.['plaintext']), 'base64')).toEqual(key);
    const other = Buffer.from('haven.kms.wrap.v1\u0000[]').toString('base64');
    expect((await rawTransit('/v1/transit/decrypt/interop', { ciphertext, context: other })).status).toBe(
      400,
    );
  });

  it('has Vault generate a data key (datakey/plaintext) whose wrapped form unwraps only with its context', async () => {
    const kms = await open('datakey');
    const { plaintextKey, wrappedKey } = await kms.generateDataKey({ recording: 'recordings/r1' });
    expect(plaintextKey).toHaveLength(32);
    expect(fake.calls).toContain('POST /v1/transit/datakey/plaintext/datakey');
    expect(wrappedKey.kekId).toBe(await kms.currentKekId());
    expect(await kms.unwrapKey(wrappedKey, { recording: 'recordings/r1' })).toEqual(plaintextKey);
    await expect(kms.unwrapKey(wrappedKey, { recording: 'recordings/r2' })).rejects.toBeInstanceOf(
      IntegrityError,
    );
    const other = await kms.generateDataKey({ recording: 'recordings/r1' });
    expect(other.plaintextKey).not.toEqual(plaintextKey);
  });

  it('retires old KEKs with min_decryption_version once everything was re-wrapped', async () => {
    const kms = await open('retire');
    const key = Buffer.alloc(32, 7);
    const old = await kms.wrapKey(key, { r: '1' });
    const next = await kms.rotate();
    expect(next).toBe('transit/retire:v2');
    const rewrapped = await kms.wrapKey(await kms.unwrapKey(old, { r: '1' }), { r: '1' });
    await kms.retireKeksBefore(next);
    expect(fake.calls).toContain('POST /v1/transit/keys/retire/config');
    await expect(kms.unwrapKey(old, { r: '1' })).rejects.toBeInstanceOf(NotFoundError);
    expect(await kms.unwrapKey(rewrapped, { r: '1' })).toEqual(key);
    await expect(
      kms.unwrapKey({ ...rewrapped, kekId: 'transit/retire:v3' }, { r: '1' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a key that is not derived (the context would not be bound)', async () => {
    fake.createKey('transit', 'not-derived', { derived: false });
    await expect(open('not-derived')).rejects.toBeInstanceOf(PreconditionError);
    await expect(open('missing', { create: false })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('maps a refused token to PermissionError and an unreachable server to UnavailableError, never printing the token', async () => {
    const wrong = join(dir, 'wrong-token');
    await fs.writeFile(wrong, 'hvs.wrong\n', { mode: 0o600 });
    const refused = await open('perm', { tokenFile: wrong }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PermissionError);
    const down = await VaultTransitKms.open({
      address: 'http://127.0.0.1:1',
      tokenFile,
      keyName: 'x',
      timeoutMs: 2_000,
    }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(UnavailableError);
    const kms = await open('print');
    for (const text of [
      JSON.stringify(kms),
      inspect(kms, { showHidden: true, depth: 5 }),
      String((refused as Error).message),
      String((down as Error).message),
    ])
      expect(text).not.toContain(fake.token);
  });

  it('envelope data survives a rotation and a fresh adapter instance', async () => {
    const a = await open('fresh');
    const env = await encryptEnvelope(a, Buffer.from('recording key material'), { aad: Buffer.from('r1') });
    await a.rotate();
    const b = await open('fresh', { create: false });
    expect((await decryptEnvelope(b, env, { aad: Buffer.from('r1') })).toString()).toBe(
      'recording key material',
    );
    await expect(decryptEnvelope(b, env, { aad: Buffer.from('r2') })).rejects.toBeInstanceOf(IntegrityError);
  });
});
