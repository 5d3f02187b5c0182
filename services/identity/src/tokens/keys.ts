/**
 * Token signing keys: Ed25519 (EdDSA) key pairs, persisted as a 0600 JSON file in HAVEN_DATA_DIR,
 * generated on first start. The JWKS publishes the current key and the previous one, so tokens
 * signed just before a rotation keep verifying until they expire.
 *
 * Note for multi-replica deployments: every replica must see the same key file (shared volume or
 * a Secret); otherwise each replica generates its own key and the JWKS of one replica will not
 * verify another's tokens.
 */
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { writeSecretFile } from '@haven/crypto';

/** File name of the key ring inside the data directory. */
export const SIGNING_KEYS_FILE = 'identity-signing-keys.json';

interface StoredKey {
  readonly kid: string;
  readonly createdAt: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}
interface KeyFile {
  readonly version: 1;
  /** Oldest first; the last one is current. At most two are kept. */
  readonly keys: StoredKey[];
}

/** A usable signing key. */
export interface SigningKey {
  readonly kid: string;
  readonly createdAt: number;
  readonly privateKey: CryptoKey | Uint8Array;
}

/** The public key set, as served at /.well-known/jwks.json. */
export interface Jwks {
  readonly keys: JWK[];
}

async function newStoredKey(now: number): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    createdAt: new Date(now).toISOString(),
    privateJwk: { ...privateJwk, kid, alg: 'EdDSA', use: 'sig' },
    publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' },
  };
}

async function writeKeyFile(file: string, content: KeyFile): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeSecretFile(file, JSON.stringify(content, null, 2));
}

/** The signing key ring. */
export class SigningKeyRing {
  private constructor(
    private readonly file: string,
    private stored: StoredKey[],
    private current: SigningKey,
  ) {}

  /**
   * Loads the key ring from `<dataDir>/identity-signing-keys.json`, creating it (0600) with a new
   * key when absent, and tightening its mode to 0600 when it is looser.
   * Throws when the file exists but cannot be read or parsed.
   */
  static async open(options: { dataDir: string; now?: number }): Promise<SigningKeyRing> {
    const file = join(options.dataDir, SIGNING_KEYS_FILE);
    const now = options.now ?? Date.now();
    let content: KeyFile;
    try {
      content = JSON.parse(await readFile(file, 'utf8')) as KeyFile;
      if ((await stat(file)).mode & 0o077) await chmod(file, 0o600);
      if (content.version !== 1 || !Array.isArray(content.keys) || content.keys.length === 0) {
        throw new Error(`${file}: not a Haven signing key file`);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      content = { version: 1, keys: [await newStoredKey(now)] };
      await writeKeyFile(file, content);
    }
    const ring = new SigningKeyRing(
      file,
      content.keys,
      await SigningKeyRing.toSigningKey(content.keys.at(-1) as StoredKey),
    );
    return ring;
  }

  private static async toSigningKey(stored: StoredKey): Promise<SigningKey> {
    return {
      kid: stored.kid,
      createdAt: Date.parse(stored.createdAt),
      privateKey: await importJWK(stored.privateJwk, 'EdDSA'),
    };
  }

  /** The key new tokens are signed with. */
  currentKey(): SigningKey {
    return this.current;
  }

  /** Current and previous public keys. */
  jwks(): Jwks {
    return { keys: this.stored.map((k) => ({ ...k.publicJwk })) };
  }

  /** Generates a new current key, keeps the previous one for verification, drops older ones, persists. */
  async rotate(now: number = Date.now()): Promise<SigningKey> {
    const next = await newStoredKey(now);
    const keys = [...this.stored, next].slice(-2);
    await writeKeyFile(this.file, { version: 1, keys });
    this.stored = keys;
    this.current = await SigningKeyRing.toSigningKey(next);
    return this.current;
  }

  /** Rotates when the current key is older than `maxAgeMs`; returns whether it did. */
  async rotateIfOlderThan(maxAgeMs: number, now: number = Date.now()): Promise<boolean> {
    if (now - this.current.createdAt < maxAgeMs) return false;
    await this.rotate(now);
    return true;
  }
}
