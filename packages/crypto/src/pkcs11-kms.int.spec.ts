import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import * as pkcs11js from 'pkcs11js';
import { NotFoundError, PermissionError, PreconditionError } from '@haven/errors';
import { Pkcs11Kms, decryptEnvelope, encryptEnvelope } from '@haven/crypto';
import { createSoftHsmToken, testKms, useSoftHsmToken, type SoftHsmToken } from '@haven/crypto/testing';

// A real PKCS#11 module (SoftHSM2) with a token made for this file in a temp directory.
let token: SoftHsmToken;
let n = 0;
const open: Pkcs11Kms[] = [];

async function kms(
  options: { prefix?: string; create?: boolean; pinFile?: string } = {},
): Promise<Pkcs11Kms> {
  const k = await Pkcs11Kms.open({
    module: token.module,
    tokenLabel: token.tokenLabel,
    pinFile: options.pinFile ?? token.pinFile,
    keyPrefix: options.prefix ?? `t${++n}`,
    create: options.create ?? true,
  });
  open.push(k);
  return k;
}

beforeAll(async () => {
  token = await createSoftHsmToken();
  useSoftHsmToken(token);
});
afterEach(async () => {
  // Every session closed: the module is finalised and the token's login state starts afresh.
  for (const k of open.splice(0)) await k.close();
});
afterAll(async () => {
  await token.remove();
});

testKms('Pkcs11Kms on SoftHSM2', () => kms());

describe('Pkcs11Kms on SoftHSM2', () => {
  it('generates KEKs inside the token: AES-256, sensitive, non-extractable, not readable by another session', async () => {
    const k = await kms({ prefix: 'inside' });
    await k.rotate();
    const lib = new pkcs11js.PKCS11();
    lib.load(token.module);
    try {
      lib.C_Initialize();
    } catch (error) {
      if ((error as pkcs11js.Pkcs11Error).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw error;
    }
    const slot = lib
      .C_GetSlotList(true)
      .find((s) => lib.C_GetTokenInfo(s).label.trim() === token.tokenLabel)!;
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]);
      const handles = lib.C_FindObjects(session, 100);
      lib.C_FindObjectsFinal(session);
      const labels: string[] = [];
      for (const h of handles) {
        const [label, sensitive, extractable, len] = lib.C_GetAttributeValue(session, h, [
          { type: pkcs11js.CKA_LABEL },
          { type: pkcs11js.CKA_SENSITIVE },
          { type: pkcs11js.CKA_EXTRACTABLE },
          { type: pkcs11js.CKA_VALUE_LEN },
        ]);
        const text = label!.value.toString();
        if (!text.startsWith('inside.')) continue;
        labels.push(text);
        expect(sensitive!.value[0]).toBe(1);
        expect(extractable!.value[0]).toBe(0);
        expect(Number(len!.value.readBigUInt64LE())).toBe(32);
        expect(() => lib.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
          /CKR_ATTRIBUTE_SENSITIVE/,
        );
      }
      expect(labels.sort()).toEqual(k.kekIds().sort());
      expect(labels).toHaveLength(2);
    } finally {
      lib.C_CloseSession(session);
      lib.close();
    }
  });

  it('keeps KEKs in the token: after every session closed and the module finalised, old data still opens', async () => {
    const first = await kms({ prefix: 'persist' });
    const oldEnv = await encryptEnvelope(first, Buffer.from('before rotation'));
    const next = await first.rotate();
    const newEnv = await encryptEnvelope(first, Buffer.from('after rotation'));
    for (const k of open.splice(0)) await k.close();
    const reopened = await kms({ prefix: 'persist', create: false });
    expect(await reopened.currentKekId()).toBe(next);
    expect(reopened.kekIds()).toHaveLength(2);
    expect((await decryptEnvelope(reopened, oldEnv)).toString()).toBe('before rotation');
    expect((await decryptEnvelope(reopened, newEnv)).toString()).toBe('after rotation');
  });

  it('sees a rotation made by another instance on the same token', async () => {
    const a = await kms({ prefix: 'shared' });
    const b = await kms({ prefix: 'shared', create: false });
    const rotated = await a.rotate();
    expect(await b.currentKekId()).toBe(rotated);
    const wrapped = await b.wrapKey(Buffer.alloc(32, 9), { who: 'b' });
    expect(wrapped.kekId).toBe(rotated);
    expect(await a.unwrapKey(wrapped, { who: 'b' })).toEqual(Buffer.alloc(32, 9));
  });

  it('keeps prefixes apart: one install cannot use another prefix’s KEKs', async () => {
    const a = await kms({ prefix: 'install-a' });
    const b = await kms({ prefix: 'install-b' });
    const wrapped = await a.wrapKey(Buffer.alloc(32, 1));
    await expect(b.unwrapKey(wrapped)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a wrong PIN, a loose PIN file, an unknown token and a token without KEKs', async () => {
    const wrongPin = `${token.pinFile}.wrong`;
    await fs.writeFile(wrongPin, 'not-the-pin\n', { mode: 0o600 });
    const wrong = await kms({ pinFile: wrongPin }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(PermissionError);
    expect((wrong as Error).message).not.toContain('not-the-pin');

    const loose = `${token.pinFile}.loose`;
    await fs.copyFile(token.pinFile, loose);
    await fs.chmod(loose, 0o644);
    await expect(kms({ pinFile: loose })).rejects.toBeInstanceOf(PreconditionError);

    await expect(
      Pkcs11Kms.open({ module: token.module, tokenLabel: 'no-such-token', pinFile: token.pinFile }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(kms({ prefix: 'empty', create: false })).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      Pkcs11Kms.open({ module: '/nonexistent/libpkcs11.so', tokenLabel: 'x', pinFile: token.pinFile }),
    ).rejects.toBeInstanceOf(PreconditionError);
  });

  it('loads the native addon only when a PKCS#11 KMS is opened (services on the keyring never load it)', () => {
    const script =
      "require(process.argv[1]); process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes('pkcs11js'))))";
    const out = execFileSync(process.execPath, ['-e', script, join(__dirname, '..', 'dist', 'index.js')], {
      encoding: 'utf8',
    });
    expect(out).toBe('false');
  });

  it('prints no PIN', async () => {
    const k = await kms({ prefix: 'print' });
    const pin = (await fs.readFile(token.pinFile, 'utf8')).trim();
    for (const text of [JSON.stringify(k), inspect(k, { showHidden: true, depth: 5 })])
      expect(text).not.toContain(pin);
    expect(JSON.parse(JSON.stringify(k))).toEqual({
      kind: 'Pkcs11Kms',
      module: token.module,
      tokenLabel: token.tokenLabel,
      keyPrefix: 'print',
    });
  });

  it('opens a second token made later in the same process (another suite in this jest worker)', async () => {
    for (const k of open.splice(0)) await k.close();
    const later = await createSoftHsmToken();
    try {
      useSoftHsmToken(later);
      const k = await Pkcs11Kms.open({
        module: later.module,
        tokenLabel: later.tokenLabel,
        pinFile: later.pinFile,
        keyPrefix: 'later',
        create: true,
      });
      try {
        const key = Buffer.alloc(32, 7);
        expect(await k.unwrapKey(await k.wrapKey(key))).toEqual(key);
      } finally {
        await k.close();
      }
    } finally {
      await later.remove();
      useSoftHsmToken(token);
    }
  });
});
