import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { Writable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { clientCallMetadata } from './client';
import { createLogger, type Logger } from './logger';

/** Claims a test token may carry (all optional; `sub` defaults to `test-user`, `kind` to `user`). */
export interface TestClaims {
  readonly sub?: string;
  readonly kind?: 'user' | 'patient' | 'guest' | 'service_account' | 'service';
  readonly role?: string;
  /** Space separated. */
  readonly scope?: string;
  readonly sid?: string;
  readonly visit?: string;
  readonly iss?: string;
  readonly aud?: string;
  readonly [claim: string]: unknown;
}

/** A throw-away token issuer for tests. */
export interface TestIssuer {
  /** The public key set to give `createJwtVerifier({ jwks })`. */
  readonly jwks: JSONWebKeySet;
  readonly issuer: string;
  readonly audience: string;
  readonly kid: string;
  /** Signs an EdDSA JWT; `expiresIn` is a jose duration (`'5m'`) or seconds; default 15 minutes. */
  sign(claims?: TestClaims, options?: { expiresIn?: string | number }): Promise<string>;
  /** gRPC call metadata with a token `sign(claims)` made: the caller a spec acts as. */
  metadata(claims?: TestClaims): Promise<grpc.Metadata>;
}

/**
 * Creates an EdDSA (Ed25519) key pair and a signer whose tokens `createJwtVerifier({ jwks, issuer, audience })`
 * accepts. Defaults: issuer `haven-identity`, audience `haven`. Throws nothing.
 */
export function createTestIssuer(options: { issuer?: string; audience?: string } = {}): TestIssuer {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const kid = `test-${randomUUID()}`;
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'EdDSA', use: 'sig' };
  const issuer = options.issuer ?? 'haven-identity';
  const audience = options.audience ?? 'haven';
  const key: KeyObject = privateKey;
  const sign = (
    claims: TestClaims = {},
    signOptions: { expiresIn?: string | number } = {},
  ): Promise<string> => {
    const { iss, aud, sub, ...rest } = claims;
    const exp = signOptions.expiresIn ?? '15m';
    return new SignJWT({ kind: 'user', ...rest })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
      .setSubject(sub ?? 'test-user')
      .setIssuer(iss ?? issuer)
      .setAudience(aud ?? audience)
      .setIssuedAt()
      .setExpirationTime(typeof exp === 'number' ? Math.floor(Date.now() / 1000) + exp : exp)
      .sign(key);
  };
  return {
    jwks: { keys: [jwk] },
    issuer,
    audience,
    kid,
    sign,
    metadata: async (claims) => clientCallMetadata({ token: await sign(claims) }),
  };
}

/** A logger whose every line is kept in memory, for specs that assert what was (and was not) logged. */
export interface CapturedLogs {
  readonly logger: Logger;
  /** Everything logged so far (since the last `clear`). */
  text(): string;
  /** The records logged so far with message `msg` (each line parsed), and `fields` where given. */
  records(msg: string, fields?: Readonly<Record<string, unknown>>): Record<string, unknown>[];
  clear(): void;
}

/** A `service` logger at `level` (default debug) writing into memory instead of stdout. */
export function captureLogs(service: string, level = 'debug'): CapturedLogs {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return {
    logger: createLogger({ service, level, destination }),
    text: () => text,
    records: (msg, fields = {}) =>
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((r) => r['msg'] === msg && Object.entries(fields).every(([k, v]) => r[k] === v)),
    clear: () => {
      text = '';
    },
  };
}
