/**
 * Test support — a FAKE, not Vault: no Vault or OpenBao server can run in Haven's test environment, so the
 * Transit adapter is tested against this small HTTP server on 127.0.0.1 that implements the endpoints the
 * adapter uses, the way Vault documents them: keys (create, read, rotate, config with
 * min_decryption_version), encrypt, decrypt and datakey/plaintext with `context` on derived aes256-gcm96 keys (HKDF-SHA256 of the
 * key version with the context, AES-256-GCM with a 96-bit random nonce, `vault:v<N>:<base64>` ciphertexts),
 * X-Vault-Token checked, errors as `{ "errors": [...] }`. Every key lives in memory.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running fake from {@link startFakeVaultTransit}. */
export interface FakeVaultTransit {
  /** `http://127.0.0.1:<port>`. */
  readonly address: string;
  /** The token it accepts. */
  readonly token: string;
  /** Requests served, by `METHOD path` (for asserting what the adapter called). */
  readonly calls: string[];
  /** Creates a key as an operator would (e.g. a non-derived one, to test refusal). */
  createKey(mount: string, name: string, options: { type?: string; derived?: boolean }): void;
  close(): Promise<void>;
}

interface Key {
  type: string;
  derived: boolean;
  versions: Buffer[]; // versions[i] is version i + 1
  minDecryptionVersion: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function derive(key: Key, version: number, context: string | undefined): Buffer {
  const material = key.versions[version - 1]!;
  if (!key.derived) return material;
  if (context === undefined || context === '') {
    throw new HttpError(400, "missing 'context' for key derivation; the key was created using a derived key");
  }
  const info = Buffer.from(context, 'base64');
  return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), info, 32));
}

/** One Transit request against the in-memory keys; returns `data` or throws an HttpError. */
function handle(
  keys: Map<string, Key>,
  method: string,
  path: string,
  body: Record<string, unknown>,
): unknown {
  const dk = /^\/v1\/(.+)\/datakey\/plaintext\/([^/]+)$/.exec(path);
  const m = dk ?? /^\/v1\/(.+)\/(keys|encrypt|decrypt)\/([^/]+)(?:\/(rotate|config))?$/.exec(path);
  if (m === null) throw new HttpError(404, `no handler for route "${path}"`);
  const [, mount, op, name, sub] = dk === null ? m : [undefined, dk[1], 'datakey', dk[2], undefined];
  const id = `${mount}/${name}`;
  const key = keys.get(id);
  if (op === 'keys' && sub === undefined && method === 'POST') {
    if (key === undefined) {
      keys.set(id, {
        type: typeof body['type'] === 'string' ? body['type'] : 'aes256-gcm96',
        derived: body['derived'] === true,
        versions: [randomBytes(32)],
        minDecryptionVersion: 1,
      });
    }
    return undefined;
  }
  if (key === undefined)
    throw new HttpError(op === 'keys' && method === 'GET' ? 404 : 400, 'encryption key not found');
  if (op === 'keys' && sub === undefined && method === 'GET') {
    return {
      name,
      type: key.type,
      derived: key.derived,
      latest_version: key.versions.length,
      min_decryption_version: key.minDecryptionVersion,
      keys: Object.fromEntries(key.versions.map((_, i) => [String(i + 1), 0])),
    };
  }
  if (op === 'keys' && sub === 'rotate' && method === 'POST') {
    key.versions.push(randomBytes(32));
    return { name, latest_version: key.versions.length };
  }
  if (op === 'keys' && sub === 'config' && method === 'POST') {
    const min = body['min_decryption_version'];
    if (typeof min !== 'number' || min < 1 || min > key.versions.length) {
      throw new HttpError(
        400,
        'min decryption version should not be less then 1 or greater than latest version',
      );
    }
    key.minDecryptionVersion = min;
    return undefined;
  }
  const context = typeof body['context'] === 'string' ? body['context'] : undefined;
  if ((op === 'encrypt' || op === 'datakey') && method === 'POST') {
    // datakey/plaintext: Vault generates the key (bits, default 256) and returns it with its ciphertext.
    const bits = typeof body['bits'] === 'number' ? body['bits'] : 256;
    const plaintext =
      op === 'datakey'
        ? randomBytes(bits / 8)
        : typeof body['plaintext'] === 'string'
          ? Buffer.from(body['plaintext'], 'base64')
          : undefined;
    if (plaintext === undefined) throw new HttpError(400, 'missing plaintext to encrypt');
    const version = key.versions.length;
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', derive(key, version, context), nonce);
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const ciphertext = `vault:v${version}:${sealed.toString('base64')}`;
    if (op === 'datakey')
      return { plaintext: plaintext.toString('base64'), ciphertext, key_version: version };
    return { ciphertext, key_version: version };
  }
  if (op === 'decrypt' && method === 'POST') {
    const ciphertext = typeof body['ciphertext'] === 'string' ? body['ciphertext'] : '';
    const cm = /^vault:v(\d+):(.*)$/.exec(ciphertext);
    if (cm === null) throw new HttpError(400, 'invalid ciphertext: no prefix');
    const version = Number(cm[1]);
    if (version < key.minDecryptionVersion) {
      throw new HttpError(400, 'ciphertext or signature version is disallowed by policy (too old)');
    }
    if (version > key.versions.length) throw new HttpError(400, 'invalid key version');
    const sealed = Buffer.from(cm[2]!, 'base64');
    if (sealed.length < 12 + 16) throw new HttpError(400, 'invalid ciphertext: too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', derive(key, version, context), sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      const plaintext = Buffer.concat([
        decipher.update(sealed.subarray(12, sealed.length - 16)),
        decipher.final(),
      ]);
      return { plaintext: plaintext.toString('base64') };
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, 'cipher: message authentication failed');
    }
  }
  throw new HttpError(405, 'unsupported operation');
}

/** Starts the fake on a free loopback port with a random token. */
export async function startFakeVaultTransit(): Promise<FakeVaultTransit> {
  const token = `hvs.${randomBytes(18).toString('base64url')}`;
  const keys = new Map<string, Key>();
  const calls: string[] = [];

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      calls.push(`${req.method} ${path}`);
      const reply = (status: number, doc: unknown) => {
        const text = doc === undefined ? '' : JSON.stringify(doc);
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(text);
      };
      if (req.headers['x-vault-token'] !== token) {
        reply(403, { errors: ['permission denied'] });
        return;
      }
      try {
        const text = Buffer.concat(parts).toString('utf8');
        const body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
        const data = handle(keys, req.method ?? 'GET', path, body);
        if (data === undefined) reply(204, undefined);
        else reply(200, { data });
      } catch (error) {
        if (error instanceof HttpError) reply(error.status, { errors: [error.message] });
        else reply(500, { errors: ['internal error'] });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    token,
    calls,
    createKey(mount, name, options) {
      keys.set(`${mount}/${name}`, {
        type: options.type ?? 'aes256-gcm96',
        derived: options.derived ?? true,
        versions: [randomBytes(32)],
        minDecryptionVersion: 1,
      });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
