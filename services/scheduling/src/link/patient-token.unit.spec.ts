/**
 * The patient-token signing key on disk: generated once (0600), the same key on every later start, refused when
 * group or others may read it, and never left half-written by a first start that failed mid-write.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promises as fsp, type PathLike } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PreconditionError } from '@haven/errors';
import { openPatientTokenSigner } from './patient-token';

const KEY_FILE = 'patient-token-key.json';

describe('the patient-token signing key file', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'haven-patient-token-'));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is generated owner-only on the first start and the same key on the next', async () => {
    const first = await openPatientTokenSigner({ dataDir });
    expect(statSync(join(dataDir, KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = await openPatientTokenSigner({ dataDir });
    expect(again.jwks).toEqual(first.jwks);
  });

  it('is refused when group or others may read it', async () => {
    await openPatientTokenSigner({ dataDir });
    chmodSync(join(dataDir, KEY_FILE), 0o640);
    await expect(openPatientTokenSigner({ dataDir })).rejects.toThrow(PreconditionError);
    await expect(openPatientTokenSigner({ dataDir })).rejects.toThrow(/chmod 600/);
  });

  it('is refused when it is not a key file', async () => {
    writeFileSync(join(dataDir, KEY_FILE), '{"format":"something else"}\n', { mode: 0o600 });
    await expect(openPatientTokenSigner({ dataDir })).rejects.toThrow(/not a valid patient token key file/);
  });

  it('is not left half-written by a first start whose write failed: the next start generates it', async () => {
    // The disk fills up while the first start writes the key (what a kill -9 at that moment also leaves).
    const open = fsp.open.bind(fsp);
    jest.spyOn(fsp, 'open').mockImplementation(async (path: PathLike, ...rest: unknown[]) => {
      const handle = await (open as (p: PathLike, ...r: unknown[]) => Promise<FileHandle>)(path, ...rest);
      if (String(path).includes(KEY_FILE)) {
        handle.writeFile = () =>
          Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      }
      return handle;
    });
    await expect(openPatientTokenSigner({ dataDir })).rejects.toThrow(/ENOSPC/);
    jest.restoreAllMocks();
    expect(existsSync(join(dataDir, KEY_FILE))).toBe(false);
    const signer = await openPatientTokenSigner({ dataDir });
    expect(signer.jwks.keys).toHaveLength(1);
  });
});
