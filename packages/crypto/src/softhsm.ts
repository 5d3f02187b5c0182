/**
 * Test support: a throw-away SoftHSM2 token in a temp directory (its own softhsm2.conf and token directory,
 * random PINs), for running the PKCS#11 adapter against a real PKCS#11 module. Needs Debian's `softhsm2`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, promises as fs, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeSecretFile } from './secret-file';

const execFileP = promisify(execFile);

/** Where Debian's softhsm2 package puts the PKCS#11 module. */
export const SOFTHSM2_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** A token made by {@link createSoftHsmToken}. */
export interface SoftHsmToken {
  /** Path of the PKCS#11 module. */
  readonly module: string;
  /** Label of the initialised token. */
  readonly tokenLabel: string;
  /** File (0600) holding the user PIN. */
  readonly pinFile: string;
  /** The softhsm2.conf; SOFTHSM2_CONF must name it before the module is initialised in a process. */
  readonly conf: string;
  /** A dotenv file setting SOFTHSM2_CONF (for `process.loadEnvFile` / `node --env-file`). */
  readonly envFile: string;
  /** Environment for a child process that uses this token. */
  readonly env: Readonly<Record<string, string>>;
  /** Deletes the token directory and its files. */
  remove(): Promise<void>;
}

/**
 * Points SoftHSM2 in this process at `token`'s configuration: sets SOFTHSM2_CONF in the process's real
 * environment, the one native code reads. (Jest gives each test file a copy of `process.env` that
 * `getenv()` does not see; `process.loadEnvFile` writes through to the real one.) Call it before the first
 * {@link Pkcs11Kms.open} of the module in the process, or after every instance was closed.
 */
export function useSoftHsmToken(token: SoftHsmToken): void {
  // `process.loadEnvFile` never overwrites a variable the real environment already has: after a first token in
  // this process (another suite in the same jest worker), SOFTHSM2_CONF would keep naming that token's removed
  // configuration. So the variable always names one file per process, rewritten for each token.
  const conf = join(tmpdir(), `haven-softhsm2-${process.pid}.conf`);
  copyFileSync(token.conf, conf);
  chmodSync(conf, 0o600);
  const envFile = `${conf}.env`;
  writeFileSync(envFile, `SOFTHSM2_CONF=${conf}\n`, { mode: 0o600 });
  if (!processConfs.has(conf)) {
    processConfs.add(conf);
    process.once('exit', () => {
      for (const f of [conf, envFile]) rmSync(f, { force: true });
    });
  }
  process.loadEnvFile(envFile);
  process.env.SOFTHSM2_CONF = conf;
}

const processConfs = new Set<string>();

/** True when the SoftHSM2 module and `softhsm2-util` are installed. */
export function softHsmAvailable(): boolean {
  return (
    existsSync(SOFTHSM2_MODULE) && ['/usr/bin/softhsm2-util', '/bin/softhsm2-util'].some((p) => existsSync(p))
  );
}

/**
 * Creates a temp directory with a softhsm2.conf whose token directory is inside it, initialises one token with
 * random SO and user PINs (the user PIN written to a 0600 file) and returns where everything is. Does not
 * touch the process environment: set `process.env.SOFTHSM2_CONF = token.conf` before opening the module.
 * Throws when softhsm2-util fails.
 */
export async function createSoftHsmToken(
  label = `haven-${randomBytes(3).toString('hex')}`,
): Promise<SoftHsmToken> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'haven-softhsm-'));
  await fs.chmod(dir, 0o700);
  const tokens = join(dir, 'tokens');
  await fs.mkdir(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  await fs.writeFile(
    conf,
    `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
    { mode: 0o600 },
  );
  const soPin = randomBytes(12).toString('hex');
  const userPin = randomBytes(12).toString('hex');
  const pinFile = join(dir, 'user.pin');
  await writeSecretFile(pinFile, `${userPin}\n`);
  const env = { SOFTHSM2_CONF: conf };
  const envFile = join(dir, 'softhsm2.env');
  await fs.writeFile(envFile, `SOFTHSM2_CONF=${conf}\n`, { mode: 0o600 });
  await execFileP(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--so-pin', soPin, '--pin', userPin],
    { env: { ...process.env, ...env } },
  );
  return {
    module: SOFTHSM2_MODULE,
    tokenLabel: label,
    pinFile,
    conf,
    envFile,
    env,
    remove: () => fs.rm(dir, { recursive: true, force: true }),
  };
}
