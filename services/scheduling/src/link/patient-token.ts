/**
 * Patient principal tokens: EdDSA (Ed25519) JWTs signed with scheduling's own key (issuer `haven-scheduling`,
 * audience `haven`, `kind: 'patient'` — or `'guest'` for a visit guest's one-time link —, `visit: visits/<appointmentId>`, `sid` = `jti`: one per redemption), and the public key set other
 * services trust through HAVEN_PATIENT_JWKS_URL. The key is generated once and kept in a 0600 file.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { assertOwnerOnlyFile, writeSecretFile } from '@haven/crypto';
import { PreconditionError } from '@haven/errors';
import { PATIENT_TOKEN_ISSUER } from '@haven/service';

/** Claims of a patient token, besides the registered ones. */
export interface PatientTokenClaims {
  /** The patient principal id (`sub`): an opaque id, never a name. */
  readonly subject: string;
  readonly appointmentId: string;
  readonly expiresAt: Date;
  /** `jti`. */
  readonly tokenId: string;
  /** A token for the secure messages: its `visit` claim is `messages/<appointmentId>`, which opens no visit. */
  readonly forMessages?: boolean;
  /** `patient` (default), or `guest` for a visit guest's token (subject `g…`, the guest id). */
  readonly kind?: 'patient' | 'guest';
}

/** Signs patient tokens and publishes the public keys. */
export interface PatientTokenSigner {
  readonly jwks: JSONWebKeySet;
  sign(claims: PatientTokenClaims, now: Date): Promise<string>;
}

const KEY_FILE = 'patient-token-key.json';
const FORMAT = 'haven.scheduling.patient-token-key.v1';

interface KeyFile {
  readonly format: typeof FORMAT;
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly createdAt: string;
}

/** A signer over an Ed25519 key object. */
export function createPatientTokenSigner(options: {
  privateKey: KeyObject;
  kid: string;
  audience?: string;
}): PatientTokenSigner {
  const publicJwk = createPublicKey(options.privateKey).export({ format: 'jwk' }) as JWK;
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, kid: options.kid, alg: 'EdDSA', use: 'sig' }] };
  const audience = options.audience ?? 'haven';
  return {
    jwks,
    async sign(claims, now) {
      // `sid`: this redemption is the patient's session on one device; the session service admits each
      // device on its own (two browsers on one link are two lobby entries).
      const subjectOf = claims.forMessages
        ? `messages/${claims.appointmentId}`
        : `visits/${claims.appointmentId}`;
      return new SignJWT({ kind: claims.kind ?? 'patient', visit: subjectOf, sid: claims.tokenId })
        .setProtectedHeader({ alg: 'EdDSA', kid: options.kid, typ: 'JWT' })
        .setIssuer(PATIENT_TOKEN_ISSUER)
        .setAudience(audience)
        .setSubject(claims.subject)
        .setJti(claims.tokenId)
        .setIssuedAt(Math.floor(now.getTime() / 1000))
        .setNotBefore(Math.floor(now.getTime() / 1000))
        .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
        .sign(options.privateKey);
    },
  };
}

/**
 * Opens the signing key in `<dataDir>/patient-token-key.json`, generating it on first start (written whole or not
 * at all, mode 0600: `writeSecretFile`). Throws PreconditionError when the file is accessible by group/others or
 * is not a valid key file.
 */
export async function openPatientTokenSigner(options: {
  dataDir: string;
  audience?: string;
}): Promise<PatientTokenSigner> {
  const file = join(options.dataDir, KEY_FILE);
  await fs.mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const doc = (await readKeyFile(file)) ?? (await createKeyFile(file));
  if (doc.format !== FORMAT || typeof doc.kid !== 'string' || doc.privateJwk?.crv !== 'Ed25519') {
    throw new PreconditionError(`${file} is not a valid patient token key file`);
  }
  const privateKey = createPrivateKey({ key: doc.privateJwk as unknown as JsonWebKey, format: 'jwk' });
  return createPatientTokenSigner({
    privateKey,
    kid: doc.kid,
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
  });
}

/** The key file's document; undefined when there is none. */
async function readKeyFile(file: string): Promise<KeyFile | undefined> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  assertOwnerOnlyFile(stat, file, 'patient token key');
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as KeyFile;
  } catch (error) {
    throw new PreconditionError(`${file} is not a valid patient token key file`, { cause: error });
  }
}

/** Generates a key and writes its file, unless another replica wrote one first: then that one. */
async function createKeyFile(file: string): Promise<KeyFile> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const fresh: KeyFile = {
    format: FORMAT,
    kid: `pt-${randomUUID()}`,
    privateJwk: privateKey.export({ format: 'jwk' }),
    createdAt: new Date().toISOString(),
  };
  if (await writeSecretFile(file, `${JSON.stringify(fresh)}\n`, { exclusive: true })) return fresh;
  const won = await readKeyFile(file);
  if (won === undefined) throw new PreconditionError(`${file} disappeared while this replica created it`);
  return won;
}
