/**
 * Mutual TLS for gRPC: every server asks for a client certificate signed by the deployment's CA (TLS 1.3 only),
 * every client presents its own, and both re-read their files while they run, so a rotated certificate is used
 * by the next connection without a restart. The caller's workload name comes from the `spiffe://<trust
 * domain>/<name>` URI SAN of its certificate; @haven/auth's peer policy says which workload may call what.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, DEFAULT_TLS_REFRESH_MS, DEFAULT_TRUST_DOMAIN, type TlsConfig } from './config';
import type { Logger } from './logger';

/** Where a workload's certificate, key and CA are, and how to read them. */
export interface MutualTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Default {@link DEFAULT_TRUST_DOMAIN}. */
  readonly trustDomain?: string;
  /** Default {@link DEFAULT_TLS_REFRESH_MS}. */
  readonly refreshIntervalMs?: number;
  /** Told when a read of the files is unusable (the last good certificate stays in use). */
  readonly logger?: Logger;
}

/** A workload's mutual TLS: credentials for its gRPC server and clients, and who a peer certificate names. */
export interface MutualTls {
  readonly trustDomain: string;
  /** The files, for messages (`ca …, certificate …, key …`). */
  readonly description: string;
  /** Server credentials: TLS 1.3, a client certificate of the CA required, files re-read while serving. */
  serverCredentials(): MutualTlsServerCredentials;
  /**
   * Channel credentials presenting this workload's certificate. With `server`, the server's certificate must
   * also name that workload (a stolen certificate of another service cannot pose as it).
   */
  channelCredentials(options?: { readonly server?: string }): grpc.ChannelCredentials;
  /** The workload a peer certificate names, or undefined when it names none in this trust domain. */
  workloadOf(certificate: PeerCertificate | undefined): string | undefined;
}

type SecureContextWatcher = Parameters<grpc.ServerCredentials['_addWatcher']>[0];

const WORKLOAD_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * The workload a certificate's `spiffe://<trustDomain>/<name>` URI SAN names (Node's `subjectaltname` string),
 * or undefined when it has none, or more than one. Throws nothing.
 */
export function workloadOfCertificate(
  certificate: Pick<PeerCertificate, 'subjectaltname'> | undefined,
  trustDomain: string = DEFAULT_TRUST_DOMAIN,
): string | undefined {
  const sans = certificate?.subjectaltname;
  if (typeof sans !== 'string') return undefined;
  const prefix = `URI:spiffe://${trustDomain}/`;
  const names = sans
    .split(/,\s*/)
    .filter((san) => san.startsWith(prefix))
    .map((san) => san.slice(prefix.length));
  const [name] = names;
  return names.length === 1 && name !== undefined && WORKLOAD_NAME.test(name) ? name : undefined;
}

/** What a {@link CheckedRelay} checks and where it listens. */
interface RelaySource<T> {
  /** Whether an update may be passed on (the source logs why not). */
  usable(update: T): boolean;
  same(a: T, b: T): boolean;
  listen(receive: (update: T | null) => void): void;
  unlisten(receive: (update: T | null) => void): void;
}

/**
 * One kind of update (the CA, or the certificate and key) passed on from the file watcher: only usable updates
 * that change something, to every listener, the last one replayed to a listener that comes later. It listens to
 * its source while anyone listens to it.
 */
class CheckedRelay<T> {
  private readonly listeners = new Set<(update: T) => void>();
  private last: T | undefined;
  private readonly receive = (update: T | null): void => {
    if (!update || !this.source.usable(update)) return;
    if (this.last !== undefined && this.source.same(this.last, update)) return;
    this.last = update;
    for (const listener of this.listeners) listener(update);
  };

  constructor(private readonly source: RelaySource<T>) {}

  add(listener: (update: T) => void): void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.source.listen(this.receive);
    const current = this.last;
    if (current !== undefined) process.nextTick(listener, current);
  }

  remove(listener: (update: T) => void): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.source.unlisten(this.receive);
  }
}

/**
 * A certificate provider over grpc-js's file watcher that passes on only usable reads: a certificate that
 * matches its key and a CA that parses. A rotation caught half-written (new certificate, old key) keeps the
 * previous pair until the next read, instead of dropping every connection meanwhile.
 */
class CheckedFileProvider implements grpc.experimental.CertificateProvider {
  private readonly ca: CheckedRelay<grpc.experimental.CaCertificateUpdate>;
  private readonly identity: CheckedRelay<grpc.experimental.IdentityCertificateUpdate>;

  constructor(
    files: MutualTlsFiles,
    private readonly logger: Logger | undefined,
  ) {
    const inner = new grpc.experimental.FileWatcherCertificateProvider({
      caCertificateFile: files.caFile,
      certificateFile: files.certFile,
      privateKeyFile: files.keyFile,
      refreshIntervalMs: files.refreshIntervalMs ?? DEFAULT_TLS_REFRESH_MS,
    });
    this.ca = new CheckedRelay({
      usable: (update) => this.usableCa(update.caCertificate),
      same: (a, b) => a.caCertificate.equals(b.caCertificate),
      listen: (receive) => inner.addCaCertificateListener(receive),
      unlisten: (receive) => inner.removeCaCertificateListener(receive),
    });
    this.identity = new CheckedRelay({
      usable: (update) => this.usablePair(update),
      same: (a, b) => a.certificate.equals(b.certificate) && a.privateKey.equals(b.privateKey),
      listen: (receive) => inner.addIdentityCertificateListener(receive),
      unlisten: (receive) => inner.removeIdentityCertificateListener(receive),
    });
  }

  private usableCa(pem: Buffer): boolean {
    try {
      new X509Certificate(pem);
      return true;
    } catch (error) {
      this.logger?.error({ err: error }, 'the TLS CA file is not a certificate: keeping the previous one');
      return false;
    }
  }

  private usablePair(update: grpc.experimental.IdentityCertificateUpdate): boolean {
    try {
      createSecureContext({ cert: update.certificate, key: update.privateKey });
      return true;
    } catch (error) {
      this.logger?.warn(
        { err: error },
        'the TLS certificate and key do not match (a rotation half-written?): keeping the previous pair',
      );
      return false;
    }
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.ca.add(listener);
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.ca.remove(listener);
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identity.add(listener);
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identity.remove(listener);
  }
}

/**
 * Server credentials over a certificate provider that insist on TLS 1.3 and a verified client certificate
 * (grpc-js's own provider credentials take no TLS options). Until the first read of the files, connections are
 * dropped.
 */
export class MutualTlsServerCredentials extends grpc.ServerCredentials {
  private ca: Buffer | undefined;
  private markLoaded: () => void = () => undefined;
  /** Resolves once a server bound with these credentials has a usable certificate (connections before are dropped). */
  readonly loaded = new Promise<void>((resolve) => (this.markLoaded = resolve));
  private identity: grpc.experimental.IdentityCertificateUpdate | undefined;
  private readonly onCa = (update: grpc.experimental.CaCertificateUpdate | null): void => {
    if (update) this.ca = update.caCertificate;
    this.publish();
  };
  private readonly onIdentity = (update: grpc.experimental.IdentityCertificateUpdate | null): void => {
    if (update) this.identity = update;
    this.publish();
  };

  constructor(private readonly provider: grpc.experimental.CertificateProvider) {
    super({ requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' });
  }

  private publish(): void {
    if (!this.ca || !this.identity) return;
    this.updateSecureContextOptions({
      ca: this.ca,
      cert: this.identity.certificate,
      key: this.identity.privateKey,
      minVersion: 'TLSv1.3',
    });
    this.markLoaded();
  }

  /**
   * Resolves once the certificate files were read (see {@link loaded}); rejects after `timeoutMs` with an Error
   * naming the files, e.g. when they do not exist or the certificate does not match its key.
   */
  whenLoaded(timeoutMs: number, files: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no usable TLS certificate after ${timeoutMs} ms: check ${files}`)),
        timeoutMs,
      );
    });
    return Promise.race([this.loaded, timeout]).finally(() => clearTimeout(timer));
  }

  override _addWatcher(watcher: SecureContextWatcher): void {
    if (this.getWatcherCount() === 0) {
      this.provider.addCaCertificateListener(this.onCa);
      this.provider.addIdentityCertificateListener(this.onIdentity);
    }
    super._addWatcher(watcher);
  }

  override _removeWatcher(watcher: SecureContextWatcher): void {
    super._removeWatcher(watcher);
    if (this.getWatcherCount() === 0) {
      this.provider.removeCaCertificateListener(this.onCa);
      this.provider.removeIdentityCertificateListener(this.onIdentity);
    }
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * Mutual TLS from a workload's files (see {@link MutualTls}). The files are read when a server binds or a
 * channel connects, then every `refreshIntervalMs`. Throws nothing here; a file that cannot be read leaves the
 * server refusing connections (and the client failing them) until it can.
 */
export function mutualTlsFromFiles(files: MutualTlsFiles): MutualTls {
  const trustDomain = files.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const provider = new CheckedFileProvider(files, files.logger);
  const workloadOf = (certificate: PeerCertificate | undefined): string | undefined =>
    workloadOfCertificate(certificate, trustDomain);
  return {
    trustDomain,
    description: `CA ${files.caFile}, certificate ${files.certFile}, key ${files.keyFile}`,
    serverCredentials: () => new MutualTlsServerCredentials(provider),
    channelCredentials: (options = {}) =>
      grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, {
        ...(options.server !== undefined
          ? {
              checkServerIdentity: (host: string, certificate: PeerCertificate) => {
                const name = workloadOf(certificate);
                return name === options.server
                  ? undefined
                  : new Error(
                      `the server at ${host} is ${name ?? 'no Haven workload'}, not ${options.server}`,
                    );
              },
            }
          : {}),
      }),
    workloadOf,
  };
}

/**
 * The workload's mutual TLS from its configuration, or undefined when no TLS file is set (mTLS off: the
 * deployment has not given the workload a certificate). Throws ConfigError when only some of the three files
 * are set.
 */
export function mutualTlsOf(config: TlsConfig, options: { logger?: Logger } = {}): MutualTls | undefined {
  const files = {
    HAVEN_TLS_CA_FILE: config.HAVEN_TLS_CA_FILE,
    HAVEN_TLS_CERT_FILE: config.HAVEN_TLS_CERT_FILE,
    HAVEN_TLS_KEY_FILE: config.HAVEN_TLS_KEY_FILE,
  };
  const missing = Object.entries(files).filter(([, v]) => v === undefined);
  if (missing.length === 3) return undefined;
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map(([variable]) => ({ variable, problem: 'required when any HAVEN_TLS_*_FILE is set' })),
    );
  }
  return mutualTlsFromFiles({
    caFile: files.HAVEN_TLS_CA_FILE as string,
    certFile: files.HAVEN_TLS_CERT_FILE as string,
    keyFile: files.HAVEN_TLS_KEY_FILE as string,
    ...(config.HAVEN_TLS_TRUST_DOMAIN !== undefined ? { trustDomain: config.HAVEN_TLS_TRUST_DOMAIN } : {}),
    ...(config.HAVEN_TLS_REFRESH_MS !== undefined ? { refreshIntervalMs: config.HAVEN_TLS_REFRESH_MS } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
