/**
 * A {@link Kms} backed by the Transit secrets engine of HashiCorp Vault or OpenBao (same HTTP API). The KEK is a
 * Transit key of type aes256-gcm96 created with `derived: true`: Vault derives a key per `context`, so the
 * context Haven binds to a wrapped key is enforced by the server (another context fails authentication).
 * Each Transit key version is a KEK: ids are `<mount>/<key>:v<version>`.
 */
import { promises as fs } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { inspect } from 'node:util';
import {
  NotFoundError,
  PermissionError,
  PreconditionError,
  UnavailableError,
  ValidationError,
} from '@haven/errors';
import { GCM, b64u, fromB64u } from './aes-gcm';
import { IntegrityError } from './errors';
import {
  assertPlaintextKey,
  assertWrappedKey,
  canonicalContext,
  type Kms,
  type KmsContext,
  type WrappedKey,
} from './kms';
import { readSecretFile } from './secret-file';

/** Options of {@link VaultTransitKms.open}. */
export interface VaultTransitKmsOptions {
  /** Vault / OpenBao address (HAVEN_VAULT_ADDR), e.g. `https://vault.hospital.internal:8200`. */
  readonly address: string;
  /** File (0600) holding a token allowed to use the key (HAVEN_VAULT_TOKEN_FILE). */
  readonly tokenFile: string;
  /** Name of the Transit key (HAVEN_VAULT_TRANSIT_KEY). */
  readonly keyName: string;
  /** Mount path of the Transit engine (HAVEN_VAULT_TRANSIT_MOUNT). Default `transit`. */
  readonly mount?: string;
  /** Vault Enterprise / OpenBao namespace (HAVEN_VAULT_NAMESPACE). */
  readonly namespace?: string;
  /** PEM file of the CA that signed the server's certificate (HAVEN_VAULT_CA_FILE), for https. */
  readonly caFile?: string;
  /** Create the key (aes256-gcm96, derived) when it does not exist. Default false. */
  readonly create?: boolean;
  /** Per-request timeout. Default 10 000 ms. */
  readonly timeoutMs?: number;
}

interface TransitKeyInfo {
  readonly type: string;
  readonly derived: boolean;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
}

class VaultHttpError extends Error {
  readonly status: number;
  readonly errors: string[];
  constructor(status: number, errors: string[]) {
    super(`HTTP ${status}: ${errors.join('; ')}`);
    this.name = 'VaultHttpError';
    this.status = status;
    this.errors = errors;
  }
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MOUNT = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

/**
 * A {@link Kms} over Vault / OpenBao Transit: `encrypt` and `decrypt` with `context` (the canonical Haven
 * context), `datakey` ({@link VaultTransitKms.generateDataKey}), `rotate`, and `config` with `min_decryption_version` to retire old KEKs once every data key was
 * re-wrapped. The token is read from a file and never printed.
 */
export class VaultTransitKms implements Kms {
  readonly #base: URL;
  readonly #token: string;
  readonly #mount: string;
  readonly #key: string;
  readonly #namespace: string | undefined;
  readonly #ca: Buffer | undefined;
  readonly #timeoutMs: number;
  #rotating: Promise<unknown> = Promise.resolve();

  private constructor(
    base: URL,
    token: string,
    mount: string,
    key: string,
    namespace: string | undefined,
    ca: Buffer | undefined,
    timeoutMs: number,
  ) {
    this.#base = base;
    this.#token = token;
    this.#mount = mount;
    this.#key = key;
    this.#namespace = namespace;
    this.#ca = ca;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Reads the token, checks the key exists (or creates it with `create`) and is a derived aes256-gcm96 key.
   * Throws ValidationError on a bad address, mount or key name; NotFoundError when the key does not exist and
   * `create` is not set; PreconditionError when the key is not derived aes256-gcm96 or the token file is not
   * 0600; PermissionError when the token is refused; UnavailableError when the server cannot be reached.
   */
  static async open(options: VaultTransitKmsOptions): Promise<VaultTransitKms> {
    let base: URL;
    try {
      base = new URL(options.address);
    } catch {
      throw new ValidationError([{ field: 'address', description: 'must be an http(s) URL' }]);
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new ValidationError([{ field: 'address', description: 'must be an http(s) URL' }]);
    }
    const mount = options.mount ?? 'transit';
    if (!MOUNT.test(mount)) throw new ValidationError([{ field: 'mount', description: 'not a mount path' }]);
    if (!NAME.test(options.keyName)) {
      throw new ValidationError([{ field: 'keyName', description: 'must be 1-128 of [A-Za-z0-9_.-]' }]);
    }
    const token = await readSecretFile(options.tokenFile, 'Vault token');
    const ca = options.caFile === undefined ? undefined : await fs.readFile(options.caFile);
    const kms = new VaultTransitKms(
      base,
      token,
      mount,
      options.keyName,
      options.namespace,
      ca,
      options.timeoutMs ?? 10_000,
    );
    let info: TransitKeyInfo;
    try {
      info = await kms.#keyInfo();
    } catch (error) {
      if (!(error instanceof NotFoundError) || options.create !== true) throw error;
      await kms.#call(
        'POST',
        `keys/${kms.#key}`,
        { type: 'aes256-gcm96', derived: true },
        'creating the key',
      );
      info = await kms.#keyInfo();
    }
    if (info.type !== 'aes256-gcm96' || !info.derived) {
      throw new PreconditionError(
        `Vault Transit key ${mount}/${options.keyName} must be type aes256-gcm96 with derived=true (it is ${info.type}${info.derived ? ', derived' : ', not derived'}): only a derived key binds the context`,
      );
    }
    return kms;
  }

  /** {@inheritDoc Kms.wrapKey} */
  async wrapKey(plaintextKey: Buffer, context?: KmsContext): Promise<WrappedKey> {
    assertPlaintextKey(plaintextKey);
    const data = await this.#call(
      'POST',
      `encrypt/${this.#key}`,
      { plaintext: plaintextKey.toString('base64'), context: transitContext(context) },
      'wrapping a key',
    );
    return this.#fromTransit(data['ciphertext']);
  }

  /**
   * A fresh 256-bit data key generated by Vault (`datakey/plaintext`), with its wrapped form bound to
   * `context`: the key never comes from this process's random generator. The caller must zero `plaintextKey`
   * after use. Throws like {@link VaultTransitKms.wrapKey}.
   */
  async generateDataKey(context?: KmsContext): Promise<{ plaintextKey: Buffer; wrappedKey: WrappedKey }> {
    const data = await this.#call(
      'POST',
      `datakey/plaintext/${this.#key}`,
      { bits: GCM.keyBytes * 8, context: transitContext(context) },
      'generating a data key',
    );
    const plaintextKey = Buffer.from(
      typeof data['plaintext'] === 'string' ? data['plaintext'] : '',
      'base64',
    );
    if (plaintextKey.length !== GCM.keyBytes) {
      throw new UnavailableError('Vault Transit: datakey returned no 256-bit key');
    }
    return { plaintextKey, wrappedKey: this.#fromTransit(data['ciphertext']) };
  }

  /** {@inheritDoc Kms.unwrapKey} */
  async unwrapKey(wrapped: WrappedKey, context?: KmsContext): Promise<Buffer> {
    assertWrappedKey(wrapped);
    const transit = transitContext(context); // validates the context first
    const version = this.#version(wrapped.kekId);
    if (version === undefined) {
      throw new NotFoundError(
        `wrapped key: KEK ${wrapped.kekId} is not a version of ${this.#mount}/${this.#key}`,
      );
    }
    const raw = fromB64u(wrapped.ciphertext, 'wrapped key');
    if (raw.length < GCM.ivBytes + GCM.tagBytes + 1) throw new IntegrityError('wrapped key: truncated');
    try {
      const data = await this.#call(
        'POST',
        `decrypt/${this.#key}`,
        { ciphertext: `vault:v${version}:${raw.toString('base64')}`, context: transit },
        'unwrapping a key',
        { raw: true },
      );
      const plaintext = typeof data['plaintext'] === 'string' ? data['plaintext'] : '';
      const key = Buffer.from(plaintext, 'base64');
      if (key.length === 0) throw new UnavailableError('Vault Transit: decrypt returned no plaintext');
      return key;
    } catch (error) {
      if (!(error instanceof VaultHttpError)) throw error;
      if (error.status !== 400) throw this.#translate(error, 'unwrapping a key');
      // A 400 is either a version outside [min_decryption_version, latest] or an authentication failure.
      const info = await this.#keyInfo();
      if (version > info.latestVersion || version < info.minDecryptionVersion) {
        throw new NotFoundError(
          `wrapped key: KEK ${wrapped.kekId} is retired or unknown (decryptable versions ${info.minDecryptionVersion}-${info.latestVersion})`,
        );
      }
      throw new IntegrityError(
        'wrapped key: authentication failed (the wrapped key, its KEK id or its context was modified)',
      );
    }
  }

  /** {@inheritDoc Kms.rotate} */
  async rotate(): Promise<string> {
    const run = this.#rotating.then(async () => {
      const before = (await this.#keyInfo()).latestVersion;
      await this.#call('POST', `keys/${this.#key}/rotate`, {}, 'rotating the key');
      const after = (await this.#keyInfo()).latestVersion;
      if (after <= before) throw new UnavailableError('Vault Transit: rotate did not add a key version');
      return this.#kekId(after);
    });
    this.#rotating = run.catch(() => undefined);
    return run;
  }

  /** {@inheritDoc Kms.currentKekId} */
  async currentKekId(): Promise<string> {
    return this.#kekId((await this.#keyInfo()).latestVersion);
  }

  /**
   * Retires the KEKs older than `kekId` (sets the key's `min_decryption_version`): keys wrapped by them no
   * longer unwrap (NotFoundError). Run it only after every data key was re-wrapped (see `rewrapKeys`).
   * Throws NotFoundError when `kekId` is not a version of this key.
   */
  async retireKeksBefore(kekId: string): Promise<void> {
    const version = this.#version(kekId);
    if (version === undefined)
      throw new NotFoundError(`KEK ${kekId} is not a version of ${this.#mount}/${this.#key}`);
    await this.#call(
      'POST',
      `keys/${this.#key}/config`,
      { min_decryption_version: version },
      'retiring KEKs',
    );
  }

  /** Redacted form: address, mount, key, namespace; never the token. */
  toJSON(): { kind: 'VaultTransitKms'; address: string; mount: string; keyName: string; namespace?: string } {
    return {
      kind: 'VaultTransitKms',
      address: this.#base.origin,
      mount: this.#mount,
      keyName: this.#key,
      ...(this.#namespace === undefined ? {} : { namespace: this.#namespace }),
    };
  }

  /** Redacted `util.inspect` output (same as {@link VaultTransitKms.toJSON}). */
  [inspect.custom](): string {
    return `VaultTransitKms ${JSON.stringify(this.toJSON())}`;
  }

  /** `vault:v<N>:<base64>` → our WrappedKey (KEK id with the version, the bytes as base64url). */
  #fromTransit(value: unknown): WrappedKey {
    const ciphertext = typeof value === 'string' ? value : '';
    const match = /^vault:v(\d+):([A-Za-z0-9+/]+=*)$/.exec(ciphertext);
    if (match === null) throw new UnavailableError('Vault Transit: the response holds no ciphertext');
    return { kekId: this.#kekId(Number(match[1])), ciphertext: b64u(Buffer.from(match[2]!, 'base64')) };
  }

  #kekId(version: number): string {
    return `${this.#mount}/${this.#key}:v${version}`;
  }

  #version(kekId: string): number | undefined {
    const prefix = `${this.#mount}/${this.#key}:v`;
    if (!kekId.startsWith(prefix)) return undefined;
    const rest = kekId.slice(prefix.length);
    return /^[1-9]\d{0,8}$/.test(rest) ? Number(rest) : undefined;
  }

  async #keyInfo(): Promise<TransitKeyInfo> {
    const data = await this.#call('GET', `keys/${this.#key}`, undefined, 'reading the key');
    const latest = data['latest_version'];
    const min = data['min_decryption_version'];
    if (typeof latest !== 'number' || typeof min !== 'number') {
      throw new UnavailableError('Vault Transit: key info without latest_version / min_decryption_version');
    }
    return {
      type: typeof data['type'] === 'string' ? data['type'] : '',
      derived: data['derived'] === true,
      latestVersion: latest,
      minDecryptionVersion: min,
    };
  }

  #translate(error: VaultHttpError, doing: string): Error {
    const what = `Vault Transit ${this.#mount}/${this.#key}: ${doing}`;
    // Vault's error strings name paths and reasons, never the token or a plaintext.
    const detail = error.errors.join('; ').slice(0, 300);
    switch (error.status) {
      case 400:
        return new ValidationError([{ field: 'request', description: `${what}: ${detail}` }], {
          cause: error,
        });
      case 401:
      case 403:
        return new PermissionError(`${what}: permission denied (check the token's policy)`, { cause: error });
      case 404:
        return new NotFoundError(`${what}: the key or the Transit mount does not exist`, { cause: error });
      default:
        return new UnavailableError(`${what}: HTTP ${error.status} ${detail}`, { cause: error });
    }
  }

  /** One JSON request; returns `data` of the response. Errors translated unless `raw`. */
  async #call(
    method: 'GET' | 'POST',
    path: string,
    body: Record<string, unknown> | undefined,
    doing: string,
    options: { raw?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    try {
      return await this.#send(method, path, body);
    } catch (error) {
      if (error instanceof VaultHttpError && options.raw !== true) throw this.#translate(error, doing);
      if (error instanceof VaultHttpError) throw error;
      throw new UnavailableError(
        `Vault Transit ${this.#mount}/${this.#key}: ${doing}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  #send(
    method: 'GET' | 'POST',
    path: string,
    body: Record<string, unknown> | undefined,
  ): Promise<Record<string, unknown>> {
    const url = new URL(`/v1/${this.#mount}/${path}`, this.#base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { 'X-Vault-Token': this.#token, Accept: 'application/json' };
    if (this.#namespace !== undefined) headers['X-Vault-Namespace'] = this.#namespace;
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { method, headers, timeout: this.#timeoutMs, ...(this.#ca === undefined ? {} : { ca: this.#ca }) },
        (res: IncomingMessage) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(parts).toString('utf8');
            let doc: { data?: unknown; errors?: unknown } = {};
            try {
              doc = text === '' ? {} : (JSON.parse(text) as typeof doc);
            } catch {
              doc = {};
            }
            if (status < 200 || status >= 300) {
              const errors = Array.isArray(doc.errors) ? doc.errors.map(String) : [];
              reject(new VaultHttpError(status, errors));
              return;
            }
            resolve(
              typeof doc.data === 'object' && doc.data !== null ? (doc.data as Record<string, unknown>) : {},
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/** Transit `context`: base64 of Haven's canonical (order-independent) context; never empty. */
function transitContext(context: KmsContext | undefined): string {
  return Buffer.from(`haven.kms.wrap.v1\u0000${canonicalContext(context)}`, 'utf8').toString('base64');
}
