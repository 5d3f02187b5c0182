/**
 * A local certificate authority for the dev stack and the test stacks: one CA, and a certificate per workload
 * (each Haven service, the gateway, `integration` for hospital systems and tests, `operator` for the NATS
 * provisioning, `nats` for nats-server) naming it in a `spiffe://<trust domain>/<name>` URI SAN, valid for
 * 127.0.0.1 and localhost, usable as server and client certificate. Made with the `openssl` CLI (no hand-written
 * ASN.1); every file is written 0600 with @haven/crypto's writeSecretFile. Files that exist are kept, so the dev
 * stack's certificates survive restarts.
 *
 *   const pki = await ensureDevPki({ dir: join(stateDir, 'pki') });
 *   pki.env('scheduling')                      // HAVEN_TLS_* and NATS_TLS_* of the scheduling service
 *   pki.grpcCredentials('integration')         // grpc-js channel credentials of a test client
 *   await pki.issue('gateway', { dir, expired: true })   // an expired (or a fresh, rotated) certificate
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { writeSecretFile } from '@haven/crypto';
import { HAVEN_SERVICE_USERS } from '@haven/eventstore';

const run = promisify(execFile);

/** The workloads a dev PKI issues certificates to by default. */
export const DEV_PKI_WORKLOADS = [...HAVEN_SERVICE_USERS, 'integration', 'operator', 'nats'] as const;

/** The trust domain of the dev PKI's workload names (the services' default too). */
export const DEV_TRUST_DOMAIN = 'haven.internal';

/** A workload's certificate and key. */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** Options of {@link DevPki.issue}. */
export interface IssueOptions {
  /** Where to write `<name>.pem` and `<name>.key` (default the PKI's directory, replacing the current pair). */
  readonly dir?: string;
  /** A certificate whose validity ended before now. */
  readonly expired?: boolean;
  /** Validity in days (default 825). */
  readonly days?: number;
}

/** A local CA and its workloads' certificates. */
export interface DevPki {
  readonly dir: string;
  /** The CA certificate every workload trusts. */
  readonly caFile: string;
  readonly trustDomain: string;
  /** The certificate and key of `workload` in the PKI's directory (issued by {@link ensureDevPki}). */
  files(workload: string): CertificateFiles;
  /**
   * The variables that give `workload` its certificate: HAVEN_TLS_CA_FILE, HAVEN_TLS_CERT_FILE,
   * HAVEN_TLS_KEY_FILE (gRPC) and NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE.
   */
  env(workload: string): Record<string, string>;
  /** grpc-js channel credentials presenting `workload`'s certificate (read now: files replaced later are not seen). */
  grpcCredentials(workload: string): grpc.ChannelCredentials;
  /** Issues a new certificate and key to `workload` (see {@link IssueOptions}). Rejects when openssl fails. */
  issue(workload: string, options?: IssueOptions): Promise<CertificateFiles>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function openssl(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run('openssl', [...args], { maxBuffer: 1 << 20 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`, { cause: error });
  }
}

const newKey = (): Promise<string> =>
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);

/**
 * Creates the CA in `dir` when it has none, and a certificate for each of `workloads` (default
 * {@link DEV_PKI_WORKLOADS}) that has none; keeps what exists. Rejects when openssl is missing or fails.
 */
export async function ensureDevPki(options: {
  readonly dir: string;
  readonly workloads?: readonly string[];
  readonly trustDomain?: string;
}): Promise<DevPki> {
  const { dir } = options;
  const trustDomain = options.trustDomain ?? DEV_TRUST_DOMAIN;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca.key');
  if (!(await exists(caFile)) || !(await exists(caKeyFile))) {
    await writeSecretFile(caKeyFile, await newKey());
    const ca = await openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      caKeyFile,
      '-subj',
      '/O=Haven/CN=Haven local CA',
      '-days',
      '3650',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await writeSecretFile(caFile, ca);
  }
  const files = (workload: string, at: string = dir): CertificateFiles => ({
    certFile: join(at, `${workload}.pem`),
    keyFile: join(at, `${workload}.key`),
  });

  const issue = async (workload: string, issueOptions: IssueOptions = {}): Promise<CertificateFiles> => {
    if (!/^[a-z][a-z0-9-]*$/.test(workload)) throw new TypeError(`not a workload name: ${workload}`);
    const target = files(workload, issueOptions.dir ?? dir);
    if (issueOptions.dir) await mkdir(issueOptions.dir, { recursive: true, mode: 0o700 });
    const key = await newKey();
    const work = mkdtempSync(join(tmpdir(), 'haven-pki-issue-'));
    try {
      const keyFile = join(work, 'key.pem');
      const csrFile = join(work, 'request.csr');
      const extFile = join(work, 'extensions.cnf');
      await writeSecretFile(keyFile, key);
      await openssl(['req', '-new', '-key', keyFile, '-subj', `/O=Haven/CN=${workload}`, '-out', csrFile]);
      await writeSecretFile(
        extFile,
        [
          `subjectAltName=URI:spiffe://${trustDomain}/${workload},DNS:localhost,IP:127.0.0.1`,
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth,clientAuth',
          '',
        ].join('\n'),
      );
      // An expired certificate: openssl 3.0 has no -not_after, but `x509 -days -1` ends the validity a day ago.
      const certificate = await openssl([
        'x509',
        '-req',
        '-in',
        csrFile,
        '-CA',
        caFile,
        '-CAkey',
        caKeyFile,
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        issueOptions.expired ? '-1' : String(issueOptions.days ?? 825),
        '-extfile',
        extFile,
      ]);
      // Key first, then certificate: a reader between the two writes sees a mismatched pair and keeps the old one.
      await writeSecretFile(target.keyFile, key);
      await writeSecretFile(target.certFile, certificate);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return target;
  };

  for (const workload of options.workloads ?? DEV_PKI_WORKLOADS) {
    const f = files(workload);
    if (!(await exists(f.certFile)) || !(await exists(f.keyFile))) await issue(workload);
  }

  return {
    dir,
    caFile,
    trustDomain,
    files: (workload) => files(workload),
    env: (workload) => {
      const f = files(workload);
      return {
        HAVEN_TLS_CA_FILE: caFile,
        HAVEN_TLS_CERT_FILE: f.certFile,
        HAVEN_TLS_KEY_FILE: f.keyFile,
        NATS_TLS_CA_FILE: caFile,
        NATS_TLS_CERT_FILE: f.certFile,
        NATS_TLS_KEY_FILE: f.keyFile,
      };
    },
    grpcCredentials: (workload) => {
      const f = files(workload);
      return grpc.credentials.createSsl(
        readFileSync(caFile),
        readFileSync(f.keyFile),
        readFileSync(f.certFile),
      );
    },
    issue,
  };
}

let shared: Promise<DevPki> | undefined;

/**
 * One PKI for the whole test process (a temp dir removed at exit), so that each nats-server and stack a suite
 * starts does not pay for new keys. Tests that replace a certificate (rotation, expiry) make their own with
 * {@link ensureDevPki}. Rejects when openssl fails.
 */
export function sharedTestPki(): Promise<DevPki> {
  shared ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-pki-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return ensureDevPki({ dir });
  })();
  return shared;
}
