import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import { HavenError, UnauthenticatedError, UnavailableError } from '@haven/errors';
import { ConfigError } from './config';
import { PrincipalKind } from './principal';
import type { Principal } from './principal';
import type { RevocationFeed, TokenFacts } from './revocation';

/** Verifies a bearer token into a {@link Principal}. */
export interface TokenVerifier {
  /** Throws UnauthenticatedError when the token is invalid; UnavailableError when the key set cannot be fetched. */
  verify(token: string): Promise<Principal>;
  /**
   * The principal of a token verified earlier and still trusted (in the cache, unexpired, not revoked), without
   * waiting; undefined otherwise — then call {@link verify}, which also says why a token is refused. Optional:
   * the service harness uses it to answer cached callers without an extra asynchronous step.
   */
  verifyCached?(token: string): Principal | undefined;
}

/**
 * A further token issuer the verifier trusts, limited to some principal kinds: e.g. the scheduling service,
 * which signs patient tokens at link redemption and may sign nothing else.
 */
export interface TrustedIssuer {
  readonly issuer: string;
  readonly jwksUrl?: string;
  readonly jwks?: JSONWebKeySet;
  /** The only principal kinds this issuer may vouch for. */
  readonly kinds: readonly PrincipalKind[];
}

/** Options of {@link createJwtVerifier}. Give exactly one of `jwksUrl` and `jwks`. */
export interface JwtVerifierOptions {
  /** Issuers besides the main one (`issuer`, which may vouch for any kind). */
  readonly otherIssuers?: readonly TrustedIssuer[];
  /** The identity service's JWKS endpoint (`HAVEN_JWKS_URL`). */
  readonly jwksUrl?: string;
  /** A JSON Web Key Set object (tests, or keys distributed by configuration). */
  readonly jwks?: JSONWebKeySet;
  readonly issuer: string;
  readonly audience: string;
  /** Allowed clock skew for exp/nbf/iat, seconds. Default 5. */
  readonly clockToleranceSec?: number;
  /** How long a fetched JWKS is trusted before re-fetching, ms. Default 10 minutes. */
  readonly jwksCacheMaxAgeMs?: number;
  /** Verified tokens kept (by token string, until they expire or `cacheTtlMs` passes). Default 1000; 0 disables. */
  readonly cacheSize?: number;
  /** Longest a verified token is trusted without re-verification, ms. Default 60 000. */
  readonly cacheTtlMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
  /**
   * Revocation check run on every call, cached or not (e.g. `(p, t) => feed.isRevoked(p, t)` with a
   * RevocationFeed). A revoked principal is refused with UnauthenticatedError and dropped from the cache.
   */
  readonly isRevoked?: (principal: Principal, token: TokenFacts) => boolean;
}

/** Signature algorithms Haven tokens may use. Anything else, including `none`, is refused. */
export const JWT_ALGORITHMS = ['EdDSA', 'ES256'] as const;

const KINDS = new Set<string>(Object.values(PrincipalKind));

/**
 * Creates a JWT verifier (jose): signatures with EdDSA or ES256 only, checked against a local or remote
 * JWKS (remote sets are cached for `jwksCacheMaxAgeMs`), with issuer, audience, `exp` and `sub` required.
 * Verified tokens are cached in a bounded LRU until their expiry (at most `cacheTtlMs`) so repeated calls are
 * cheap. The returned `verify` throws UnauthenticatedError when the token is malformed, unsigned (`alg: none`),
 * signed with an unknown key or another algorithm, expired, for another issuer or audience, or has bad claims;
 * UnavailableError when the remote key set cannot be fetched.
 * Throws (synchronously) a TypeError when neither or both of `jwksUrl` and `jwks` are given.
 */
export function createJwtVerifier(options: JwtVerifierOptions): TokenVerifier {
  if ((options.jwksUrl === undefined) === (options.jwks === undefined)) {
    throw new TypeError('createJwtVerifier: give exactly one of jwksUrl and jwks');
  }
  const keySetOf = (source: { jwks?: JSONWebKeySet | undefined; jwksUrl?: string | undefined }) =>
    source.jwks
      ? createLocalJWKSet(source.jwks)
      : createRemoteJWKSet(new URL(source.jwksUrl as string), {
          cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
          cooldownDuration: 30_000,
          timeoutDuration: 5_000,
        });
  const issuers = new Map<string, { keySet: ReturnType<typeof keySetOf>; kinds?: ReadonlySet<string> }>();
  issuers.set(options.issuer, { keySet: keySetOf(options) });
  for (const other of options.otherIssuers ?? []) {
    if ((other.jwksUrl === undefined) === (other.jwks === undefined) || issuers.has(other.issuer)) {
      throw new TypeError(
        `createJwtVerifier: issuer ${other.issuer} needs exactly one of jwksUrl and jwks, once`,
      );
    }
    issuers.set(other.issuer, { keySet: keySetOf(other), kinds: new Set(other.kinds) });
  }
  const now = options.now ?? Date.now;
  const cacheSize = options.cacheSize ?? 1000;
  const cacheTtlMs = options.cacheTtlMs ?? 60_000;
  const cache = new Map<string, { principal: Principal; until: number; facts: TokenFacts }>();
  const isRevoked = options.isRevoked;

  return {
    verifyCached(token: string): Principal | undefined {
      const cached = cache.get(token);
      if (!cached || cached.until <= now() || isRevoked?.(cached.principal, cached.facts)) return undefined;
      return cached.principal;
    },
    async verify(token: string): Promise<Principal> {
      if (typeof token !== 'string' || token.length === 0 || token.length > 8192) {
        throw new UnauthenticatedError('missing or malformed bearer token');
      }
      const cached = cache.get(token);
      if (cached) {
        if (isRevoked?.(cached.principal, cached.facts)) {
          cache.delete(token);
          throw new UnauthenticatedError('token revoked');
        }
        if (cached.until > now()) {
          cache.delete(token);
          cache.set(token, cached);
          return cached.principal;
        }
        cache.delete(token);
      }
      let payload: JWTPayload;
      let trusted: { keySet: ReturnType<typeof keySetOf>; kinds?: ReadonlySet<string> } | undefined;
      let issuer = options.issuer;
      try {
        // Pick the key set by the (as yet unverified) issuer; the signature check below then binds it.
        const claimed = decodeJwt(token).iss;
        if (typeof claimed === 'string' && issuers.has(claimed)) issuer = claimed;
        trusted = issuers.get(issuer);
      } catch (error) {
        throw new UnauthenticatedError('missing or malformed bearer token', { cause: error });
      }
      try {
        ({ payload } = await jwtVerify(token, trusted!.keySet, {
          issuer,
          audience: options.audience,
          algorithms: [...JWT_ALGORITHMS],
          clockTolerance: options.clockToleranceSec ?? 5,
          requiredClaims: ['exp', 'sub'],
          currentDate: new Date(now()),
        }));
      } catch (error) {
        throw translateJoseError(error);
      }
      const principal = principalFromClaims(payload);
      if (trusted?.kinds && !trusted.kinds.has(principal.kind)) {
        throw new UnauthenticatedError(`issuer ${issuer} may not vouch for a ${principal.kind}`);
      }
      const facts: TokenFacts = typeof payload.iat === 'number' ? { issuedAtSec: payload.iat } : {};
      if (isRevoked?.(principal, facts)) throw new UnauthenticatedError('token revoked');
      if (cacheSize > 0 && typeof payload.exp === 'number') {
        const until = Math.min(payload.exp * 1000, now() + cacheTtlMs);
        if (cache.size >= cacheSize) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
        cache.set(token, { principal, until, facts });
      }
      return principal;
    },
  };
}

function translateJoseError(error: unknown): HavenError {
  if (error instanceof HavenError) return error;
  if (error instanceof joseErrors.JWKSTimeout) {
    return new UnavailableError('the token key set could not be fetched in time', { cause: error });
  }
  if (error instanceof joseErrors.JWTExpired)
    return new UnauthenticatedError('token expired', { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new UnauthenticatedError(`token claim "${error.claim}" is invalid`, { cause: error });
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    return new UnauthenticatedError('token signed by an unknown key', { cause: error });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return new UnauthenticatedError('token algorithm not allowed', { cause: error });
  }
  if (error instanceof joseErrors.JOSEError)
    return new UnauthenticatedError('invalid token', { cause: error });
  // Not a jose error: the remote key set could not be fetched (network) — not the caller's fault.
  return new UnavailableError('the token key set could not be fetched', { cause: error });
}

/**
 * Maps verified JWT claims to a {@link Principal}: `sub` → id, `kind` (default `user`), `role`, `scope`
 * (space separated), `sid` → sessionId, `visit` → subjectOf, `bg` + `bg_res` → breakGlass (grant id and the
 * one resource it opens, e.g. `patients/p-1`).
 * Throws UnauthenticatedError when `sub` is missing or a claim has the wrong type or an unknown kind.
 */
export function principalFromClaims(claims: JWTPayload): Principal {
  const {
    sub,
    role,
    scope,
    kind = 'user',
    sid,
    visit,
    bg,
    bg_res: bgResource,
  } = claims as Record<string, unknown>;
  if (typeof sub !== 'string' || sub.length === 0) throw new UnauthenticatedError('token has no subject');
  if (typeof kind !== 'string' || !KINDS.has(kind))
    throw new UnauthenticatedError('token has an unknown principal kind');
  if (role !== undefined && typeof role !== 'string')
    throw new UnauthenticatedError('token role is malformed');
  if (scope !== undefined && typeof scope !== 'string')
    throw new UnauthenticatedError('token scope is malformed');
  if (sid !== undefined && typeof sid !== 'string') throw new UnauthenticatedError('token sid is malformed');
  if (visit !== undefined && typeof visit !== 'string')
    throw new UnauthenticatedError('token visit is malformed');
  if (bg !== undefined && (typeof bg !== 'string' || typeof bgResource !== 'string'))
    throw new UnauthenticatedError('token break-glass grant is malformed');
  return Object.freeze({
    kind: kind as PrincipalKind,
    id: sub,
    scopes: Object.freeze(typeof scope === 'string' ? scope.split(' ').filter((s) => s.length > 0) : []),
    ...(role !== undefined ? { role } : {}),
    ...(sid !== undefined ? { sessionId: sid } : {}),
    ...(visit !== undefined ? { subjectOf: visit } : {}),
    ...(typeof bg === 'string' && typeof bgResource === 'string'
      ? { breakGlass: Object.freeze({ grantId: bg, resource: bgResource }) }
      : {}),
  });
}

/** The issuer name of patient tokens (signed by the scheduling service when a patient redeems their link). */
export const PATIENT_TOKEN_ISSUER = 'haven-scheduling';

/**
 * The verifier every service uses, from its configuration: tokens of the identity service (HAVEN_JWKS_URL) and,
 * when HAVEN_PATIENT_JWKS_URL is set, patient and guest tokens of the scheduling service (those kinds only). With
 * `revocations` (a connected RevocationFeed) revoked sessions and subjects are refused within seconds.
 * Throws ConfigError when HAVEN_JWKS_URL is missing: a service that cannot verify callers must not start.
 */
export function createVerifierFromConfig(
  config: {
    readonly HAVEN_JWKS_URL?: string | undefined;
    readonly HAVEN_PATIENT_JWKS_URL?: string | undefined;
    readonly HAVEN_JWT_ISSUER: string;
    readonly HAVEN_JWT_AUDIENCE: string;
  },
  options: { readonly revocations?: RevocationFeed } = {},
): TokenVerifier {
  const feed = options.revocations;
  if (!config.HAVEN_JWKS_URL) {
    throw new ConfigError([
      { variable: 'HAVEN_JWKS_URL', problem: 'required: the service verifies every caller against it' },
    ]);
  }
  return createJwtVerifier({
    jwksUrl: config.HAVEN_JWKS_URL,
    issuer: config.HAVEN_JWT_ISSUER,
    audience: config.HAVEN_JWT_AUDIENCE,
    ...(config.HAVEN_PATIENT_JWKS_URL
      ? {
          otherIssuers: [
            {
              issuer: PATIENT_TOKEN_ISSUER,
              jwksUrl: config.HAVEN_PATIENT_JWKS_URL,
              kinds: [PrincipalKind.Patient, PrincipalKind.Guest],
            },
          ],
        }
      : {}),
    ...(feed
      ? { isRevoked: (principal: Principal, token: TokenFacts) => feed.isRevoked(principal, token) }
      : {}),
  });
}
