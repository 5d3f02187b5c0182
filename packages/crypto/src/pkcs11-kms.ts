/**
 * A {@link Kms} whose KEKs live in a PKCS#11 token (a hospital's HSM; SoftHSM2 in tests). KEKs are AES-256
 * keys generated inside the token, sensitive and non-extractable; wrapping is CKM_AES_GCM in the token with
 * Haven's associated data (KEK id + canonical context) as AAD, so the wrapped-key layout is the local
 * keyring's: version ‖ iv ‖ ciphertext ‖ tag.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type * as Pkcs11 from 'pkcs11js';
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
  WRAP_FORMAT_V1,
  newKekId,
  wrapAad,
  type Kms,
  type KmsContext,
  type WrappedKey,
} from './kms';
import { readSecretFile } from './secret-file';

/** Options of {@link Pkcs11Kms.open}. */
export interface Pkcs11KmsOptions {
  /** Path of the vendor's PKCS#11 module (HAVEN_PKCS11_MODULE), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly module: string;
  /** Label of the token (HSM partition) holding the KEKs (HAVEN_PKCS11_TOKEN_LABEL). */
  readonly tokenLabel: string;
  /** File holding the user PIN (HAVEN_PKCS11_PIN_FILE): mode 0600 or stricter, one trailing newline allowed. */
  readonly pinFile: string;
  /**
   * Prefix of the KEK labels this KMS owns (HAVEN_PKCS11_KEY_PREFIX), so several installs can share a
   * partition. Default `haven`; KEK ids are `<prefix>.kek-<UTC time>-<random>`.
   */
  readonly keyPrefix?: string;
  /** Generate a first KEK when the token holds none with this prefix. Default false. */
  readonly create?: boolean;
}

interface Kek {
  readonly id: string;
  readonly generation: bigint;
  readonly handle: Buffer;
}

interface LoadedModule {
  readonly lib: Pkcs11.PKCS11;
  users: number;
}

let addon: typeof Pkcs11 | undefined;

/**
 * The pkcs11js native addon, loaded on first use: processes that never open a PKCS#11 KMS (every service with
 * the local keyring) neither pay for it nor depend on it being built for their Node.
 */
function p11(): typeof Pkcs11 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addon ??= require('pkcs11js') as typeof Pkcs11;
  return addon;
}

/** One loaded, initialised library per module path in this process (PKCS#11 state is per process). */
const modules = new Map<string, LoadedModule>();

function acquireModule(path: string): Pkcs11.PKCS11 {
  const loaded = modules.get(path);
  if (loaded !== undefined) {
    loaded.users += 1;
    return loaded.lib;
  }
  const { PKCS11 } = p11();
  const lib = new PKCS11();
  try {
    lib.load(path);
  } catch (error) {
    throw new PreconditionError(`PKCS#11 module ${path} could not be loaded`, { cause: error });
  }
  try {
    lib.C_Initialize();
  } catch (error) {
    if (code(error) !== p11().CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      lib.close();
      throw translate(error, `initialising PKCS#11 module ${path}`);
    }
  }
  modules.set(path, { lib, users: 1 });
  return lib;
}

function releaseModule(path: string): void {
  const loaded = modules.get(path);
  if (loaded === undefined) return;
  loaded.users -= 1;
  if (loaded.users > 0) return;
  modules.delete(path);
  try {
    loaded.lib.C_Finalize();
  } finally {
    loaded.lib.close();
  }
}

function code(error: unknown): number | undefined {
  return error instanceof p11().Pkcs11Error ? error.code : undefined;
}

/** Vendor errors become Haven categories at the boundary; the message names the step, never a PIN or key. */
function translate(error: unknown, doing: string): Error {
  const c = code(error);
  const name = error instanceof Error ? error.message.split(':')[0] : 'unknown error';
  switch (c) {
    case p11().CKR_PIN_INCORRECT:
    case p11().CKR_PIN_INVALID:
    case p11().CKR_PIN_LEN_RANGE:
    case p11().CKR_PIN_EXPIRED:
    case p11().CKR_PIN_LOCKED:
      return new PermissionError(`PKCS#11: ${doing}: the token refused the PIN (${name})`, { cause: error });
    case p11().CKR_TOKEN_NOT_PRESENT:
    case p11().CKR_SLOT_ID_INVALID:
    case p11().CKR_DEVICE_REMOVED:
      return new NotFoundError(`PKCS#11: ${doing}: token not present (${name})`, { cause: error });
    case p11().CKR_MECHANISM_INVALID:
    case p11().CKR_MECHANISM_PARAM_INVALID:
      return new PreconditionError(
        `PKCS#11: ${doing}: the token does not support AES-256-GCM with a caller-supplied IV (${name})`,
        { cause: error },
      );
    default:
      return new UnavailableError(`PKCS#11: ${doing} failed (${name})`, { cause: error });
  }
}

/** Decrypt failures that mean "this ciphertext, tag or AAD is not authentic" (SoftHSM2 says GENERAL_ERROR). */
function isAuthFailure(c: number): boolean {
  const P = p11();
  return [
    P.CKR_ENCRYPTED_DATA_INVALID,
    P.CKR_ENCRYPTED_DATA_LEN_RANGE,
    P.CKR_DATA_INVALID,
    P.CKR_DATA_LEN_RANGE,
    P.CKR_GENERAL_ERROR,
  ].includes(c);
}

function generationBytes(generation: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(generation);
  return b;
}

/**
 * A {@link Kms} backed by a PKCS#11 token. The current KEK is the one with the highest generation (its
 * CKA_ID, an 8-byte counter; ties broken by label), so rotation is a single key generation in the token and
 * every instance sharing the token sees it. Calls into the module are synchronous and short (a 32-byte
 * wrap), so one logged-in session per instance serves concurrent callers in turn.
 */
export class Pkcs11Kms implements Kms {
  readonly #module: string;
  readonly #lib: Pkcs11.PKCS11;
  readonly #session: Buffer;
  readonly #tokenLabel: string;
  readonly #prefix: string;
  readonly #keks = new Map<string, Kek>();
  #closed = false;

  private constructor(
    module: string,
    lib: Pkcs11.PKCS11,
    session: Buffer,
    tokenLabel: string,
    prefix: string,
  ) {
    this.#module = module;
    this.#lib = lib;
    this.#session = session;
    this.#tokenLabel = tokenLabel;
    this.#prefix = prefix;
  }

  /**
   * Loads the module, finds the token by label, opens a session and logs in with the PIN from `pinFile`.
   * Throws NotFoundError when no token has that label (or, without `create`, it holds no KEK with the
   * prefix); PermissionError when the PIN is refused; PreconditionError when the module cannot be loaded or
   * the PIN file is not 0600; ValidationError on an empty label or a prefix with a dot or whitespace.
   */
  static async open(options: Pkcs11KmsOptions): Promise<Pkcs11Kms> {
    const prefix = options.keyPrefix ?? 'haven';
    if (options.tokenLabel.trim() === '') {
      throw new ValidationError([{ field: 'tokenLabel', description: 'must not be empty' }]);
    }
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) {
      throw new ValidationError([{ field: 'keyPrefix', description: 'must be 1-32 of [A-Za-z0-9_-]' }]);
    }
    const pin = await readSecretFile(options.pinFile, 'PKCS#11 PIN');
    const lib = acquireModule(options.module);
    let session: Buffer | undefined;
    try {
      const slot = lib
        .C_GetSlotList(true)
        .find((s) => lib.C_GetTokenInfo(s).label.trim() === options.tokenLabel.trim());
      if (slot === undefined) {
        throw new NotFoundError(`PKCS#11: no token labelled "${options.tokenLabel}" in ${options.module}`);
      }
      session = lib.C_OpenSession(slot, p11().CKF_SERIAL_SESSION | p11().CKF_RW_SESSION);
      try {
        lib.C_Login(session, p11().CKU_USER, pin);
      } catch (error) {
        // Login state is per application: another instance on this token already logged in.
        if (code(error) !== p11().CKR_USER_ALREADY_LOGGED_IN) throw error;
      }
      const kms = new Pkcs11Kms(options.module, lib, session, options.tokenLabel, prefix);
      if (kms.#refresh() === undefined) {
        if (options.create !== true) {
          throw new NotFoundError(
            `PKCS#11: token "${options.tokenLabel}" holds no KEK with prefix ${prefix} (set create to generate one)`,
          );
        }
        kms.#generate();
      }
      return kms;
    } catch (error) {
      if (session !== undefined) {
        try {
          lib.C_CloseSession(session);
        } catch {
          // the original error matters more
        }
      }
      releaseModule(options.module);
      if (error instanceof p11().NativeError) throw translate(error, `opening token "${options.tokenLabel}"`);
      throw error;
    }
  }

  /** {@inheritDoc Kms.wrapKey} */
  async wrapKey(plaintextKey: Buffer, context?: KmsContext): Promise<WrappedKey> {
    assertPlaintextKey(plaintextKey);
    const kek = this.#current();
    const iv = randomBytes(GCM.ivBytes);
    const aad = wrapAad(kek.id, context);
    let sealed: Buffer;
    try {
      this.#lib.C_EncryptInit(this.#session, gcm(iv, aad), kek.handle);
      sealed = this.#lib.C_Encrypt(
        this.#session,
        plaintextKey,
        Buffer.alloc(plaintextKey.length + GCM.tagBytes),
      );
    } catch (error) {
      throw translate(error, `wrapping a key with ${kek.id}`);
    }
    return { kekId: kek.id, ciphertext: b64u(Buffer.concat([Buffer.from([WRAP_FORMAT_V1]), iv, sealed])) };
  }

  /** {@inheritDoc Kms.unwrapKey} */
  async unwrapKey(wrapped: WrappedKey, context?: KmsContext): Promise<Buffer> {
    assertWrappedKey(wrapped);
    const aad = wrapAad(wrapped.kekId, context); // validates the context first
    const kek = this.#keks.get(wrapped.kekId) ?? (this.#refresh(), this.#keks.get(wrapped.kekId));
    if (kek === undefined) {
      throw new NotFoundError(`wrapped key: KEK ${wrapped.kekId} is not in token "${this.#tokenLabel}"`);
    }
    const raw = fromB64u(wrapped.ciphertext, 'wrapped key');
    if (raw[0] !== WRAP_FORMAT_V1) throw new IntegrityError('wrapped key: unknown format version');
    if (raw.length < 1 + GCM.ivBytes + GCM.tagBytes + 1) throw new IntegrityError('wrapped key: truncated');
    const iv = raw.subarray(1, 1 + GCM.ivBytes);
    const sealed = raw.subarray(1 + GCM.ivBytes);
    try {
      this.#lib.C_DecryptInit(this.#session, gcm(iv, aad), kek.handle);
    } catch (error) {
      throw translate(error, `unwrapping a key with ${kek.id}`);
    }
    try {
      return Buffer.from(this.#lib.C_Decrypt(this.#session, sealed, Buffer.alloc(sealed.length)));
    } catch (error) {
      const c = code(error);
      if (c !== undefined && isAuthFailure(c)) {
        throw new IntegrityError(
          'wrapped key: authentication failed (the wrapped key, its KEK id or its context was modified)',
        );
      }
      throw translate(error, `unwrapping a key with ${kek.id}`);
    }
  }

  /**
   * Generates a new KEK in the token (AES-256, sensitive, non-extractable) with the next generation and
   * makes it current. Older KEKs stay and keep unwrapping. Throws UnavailableError when the token fails.
   */
  async rotate(): Promise<string> {
    this.#refresh();
    return this.#generate().id;
  }

  /** {@inheritDoc Kms.currentKekId} */
  async currentKekId(): Promise<string> {
    return this.#current().id;
  }

  /** Ids of this prefix's KEKs in the token, oldest generation first. No key material (there is none here). */
  kekIds(): string[] {
    this.#refresh();
    return [...this.#keks.values()].sort(byGeneration).map((k) => k.id);
  }

  /**
   * Closes the session (the login ends with the last session) and, for the last user in the process,
   * finalises the module.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#lib.C_CloseSession(this.#session);
    } finally {
      releaseModule(this.#module);
    }
  }

  /** Redacted form: module, token label, prefix. */
  toJSON(): { kind: 'Pkcs11Kms'; module: string; tokenLabel: string; keyPrefix: string } {
    return { kind: 'Pkcs11Kms', module: this.#module, tokenLabel: this.#tokenLabel, keyPrefix: this.#prefix };
  }

  /** Redacted `util.inspect` output (same as {@link Pkcs11Kms.toJSON}). */
  [inspect.custom](): string {
    return `Pkcs11Kms ${JSON.stringify(this.toJSON())}`;
  }

  #current(): Kek {
    const current = this.#refresh();
    if (current === undefined) {
      throw new PreconditionError(
        `PKCS#11: token "${this.#tokenLabel}" holds no KEK with prefix ${this.#prefix}`,
      );
    }
    return current;
  }

  /** Re-reads this prefix's KEKs from the token (another instance may have rotated); returns the current one. */
  #refresh(): Kek | undefined {
    if (this.#closed) throw new PreconditionError('PKCS#11 KMS is closed');
    const lib = this.#lib;
    let handles: Buffer[];
    try {
      lib.C_FindObjectsInit(this.#session, [
        { type: p11().CKA_CLASS, value: p11().CKO_SECRET_KEY },
        { type: p11().CKA_KEY_TYPE, value: p11().CKK_AES },
        { type: p11().CKA_TOKEN, value: true },
      ]);
      try {
        handles = [];
        for (;;) {
          const batch = lib.C_FindObjects(this.#session, 64);
          if (batch.length === 0) break;
          handles.push(...batch);
        }
      } finally {
        lib.C_FindObjectsFinal(this.#session);
      }
      const known = new Set([...this.#keks.values()].map((k) => k.handle.toString('hex')));
      for (const handle of handles) {
        if (known.has(handle.toString('hex'))) continue;
        const [label, id] = lib.C_GetAttributeValue(this.#session, handle, [
          { type: p11().CKA_LABEL },
          { type: p11().CKA_ID },
        ]);
        const kekId = label?.value.toString('utf8') ?? '';
        if (!kekId.startsWith(`${this.#prefix}.`) || id?.value.length !== 8) continue;
        this.#keks.set(kekId, { id: kekId, generation: id.value.readBigUInt64BE(), handle });
      }
    } catch (error) {
      throw translate(error, `listing the KEKs of token "${this.#tokenLabel}"`);
    }
    let current: Kek | undefined;
    for (const k of this.#keks.values())
      if (current === undefined || byGeneration(k, current) > 0) current = k;
    return current;
  }

  #generate(): Kek {
    let generation = 0n;
    for (const k of this.#keks.values()) if (k.generation >= generation) generation = k.generation + 1n;
    const id = `${this.#prefix}.${newKekId()}`;
    let handle: Buffer;
    try {
      handle = this.#lib.C_GenerateKey(this.#session, { mechanism: p11().CKM_AES_KEY_GEN }, [
        { type: p11().CKA_CLASS, value: p11().CKO_SECRET_KEY },
        { type: p11().CKA_KEY_TYPE, value: p11().CKK_AES },
        { type: p11().CKA_VALUE_LEN, value: GCM.keyBytes },
        { type: p11().CKA_TOKEN, value: true },
        { type: p11().CKA_PRIVATE, value: true },
        { type: p11().CKA_SENSITIVE, value: true },
        { type: p11().CKA_EXTRACTABLE, value: false },
        { type: p11().CKA_MODIFIABLE, value: false },
        { type: p11().CKA_ENCRYPT, value: true },
        { type: p11().CKA_DECRYPT, value: true },
        { type: p11().CKA_WRAP, value: false },
        { type: p11().CKA_UNWRAP, value: false },
        { type: p11().CKA_SIGN, value: false },
        { type: p11().CKA_VERIFY, value: false },
        { type: p11().CKA_DERIVE, value: false },
        { type: p11().CKA_LABEL, value: id },
        { type: p11().CKA_ID, value: generationBytes(generation) },
      ]);
    } catch (error) {
      throw translate(error, `generating a KEK in token "${this.#tokenLabel}"`);
    }
    const kek = { id, generation, handle };
    this.#keks.set(id, kek);
    return kek;
  }
}

function byGeneration(a: Kek, b: Kek): number {
  if (a.generation !== b.generation) return a.generation < b.generation ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function gcm(iv: Buffer, aad: Buffer): Pkcs11.Mechanism {
  return {
    mechanism: p11().CKM_AES_GCM,
    // PKCS#11 v2.40 CK_GCM_PARAMS (with ulIvBits), the layout SoftHSM2 and current HSMs expect.
    parameter: {
      type: p11().CK_PARAMS_AES_GCM_v240,
      iv,
      ivBits: GCM.ivBytes * 8,
      aad,
      tagBits: GCM.tagBytes * 8,
    } as Pkcs11.GcmParams,
  };
}
