/**
 * A software WebAuthn authenticator for tests that talk HTTP without a browser: P-256 passkeys, `none`
 * attestation, discoverable (the user handle comes back), a signature counter it keeps per credential and that a
 * test may set (a cloned authenticator replays an older one). Built from the spec with node:crypto and a minimal
 * CBOR encoder; it shares no code with the server-side verification it is used to test.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/** A credential the authenticator holds. */
export interface SoftCredential {
  readonly id: string;
  readonly privateKey: KeyObject;
  readonly userHandle: string;
  counter: number;
}

/** What a test may change in one ceremony. */
export interface SoftCeremonyOptions {
  /** The UV flag (default true: the user was verified). */
  readonly userVerified?: boolean;
  /** The origin written in clientDataJSON (default the authenticator's). */
  readonly origin?: string;
}

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor> | { readonly [key: string]: Cbor };

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

/** CBOR for the few types attestation objects and COSE keys use. */
function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

/** Flags of authenticator data: user present, user verified, attested credential data. */
/** A platform authenticator's PublicKeyCredential as JSON (what the browser posts), around `response`. */
const publicKeyCredential = (id: string, response: Record<string, unknown>): Record<string, unknown> => ({
  id,
  rawId: id,
  type: 'public-key',
  response,
  clientExtensionResults: {},
  authenticatorAttachment: 'platform',
});

const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

/** A software passkey authenticator for one relying party. */
export class SoftAuthenticator {
  readonly credentials = new Map<string, SoftCredential>();

  constructor(
    private readonly rp: { readonly rpId: string; readonly origin: string },
    /** The AAGUID it reports (default all zeros). */
    private readonly aaguid = Buffer.alloc(16),
  ) {}

  /** The answer to PublicKeyCredentialCreationOptionsJSON: a new credential (RegistrationResponseJSON). */
  register(options: unknown, ceremony: SoftCeremonyOptions = {}): Record<string, unknown> {
    const o = options as { challenge: string; user: { id: string } };
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const id = randomBytes(16);
    const credential: SoftCredential = { id: b64url(id), privateKey, userHandle: o.user.id, counter: 0 };
    this.credentials.set(credential.id, credential);
    const cose = cbor(
      new Map<Cbor, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x ?? '', 'base64url')],
        [-3, Buffer.from(jwk.y ?? '', 'base64url')],
      ]),
    );
    const idLength = Buffer.from([id.length >> 8, id.length & 0xff]);
    const authData = Buffer.concat([
      this.authDataHead(AT | this.uv(ceremony), 0),
      this.aaguid,
      idLength,
      id,
      cose,
    ]);
    const clientDataJSON = this.clientData('webauthn.create', o.challenge, ceremony);
    return publicKeyCredential(credential.id, {
      clientDataJSON: b64url(clientDataJSON),
      attestationObject: b64url(cbor({ fmt: 'none', attStmt: {}, authData })),
      transports: ['internal'],
    });
  }

  /**
   * The answer to PublicKeyCredentialRequestOptionsJSON with `credentialId` (default the first credential): an
   * assertion (AuthenticationResponseJSON) whose counter is one more than the credential's.
   */
  authenticate(
    options: unknown,
    credentialId?: string,
    ceremony: SoftCeremonyOptions = {},
  ): Record<string, unknown> {
    const o = options as { challenge: string };
    const credential = credentialId
      ? this.credentials.get(credentialId)
      : this.credentials.values().next().value;
    if (!credential) throw new Error('the soft authenticator holds no such credential');
    credential.counter += 1;
    const authData = this.authDataHead(this.uv(ceremony), credential.counter);
    const clientDataJSON = this.clientData('webauthn.get', o.challenge, ceremony);
    const signature = sign(
      'sha256',
      Buffer.concat([authData, sha256(clientDataJSON)]),
      credential.privateKey,
    );
    return publicKeyCredential(credential.id, {
      clientDataJSON: b64url(clientDataJSON),
      authenticatorData: b64url(authData),
      signature: b64url(signature),
      userHandle: credential.userHandle,
    });
  }

  /** Another authenticator holding a copy of the credential (same key, same counter): a clone. */
  clone(credentialId: string): SoftAuthenticator {
    const original = this.credentials.get(credentialId);
    if (!original) throw new Error('the soft authenticator holds no such credential');
    const copy = new SoftAuthenticator(this.rp, this.aaguid);
    copy.credentials.set(credentialId, { ...original });
    return copy;
  }

  private uv(ceremony: SoftCeremonyOptions): number {
    return UP | (ceremony.userVerified === false ? 0 : UV);
  }

  private authDataHead(flags: number, counter: number): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(this.rp.rpId), Buffer.from([flags]), count]);
  }

  private clientData(type: string, challenge: string, ceremony: SoftCeremonyOptions): Buffer {
    return Buffer.from(
      JSON.stringify({ type, challenge, origin: ceremony.origin ?? this.rp.origin, crossOrigin: false }),
      'utf8',
    );
  }
}
