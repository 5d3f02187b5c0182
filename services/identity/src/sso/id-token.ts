/**
 * Adapter: verifies an OpenID Connect ID token of a configured provider. The provider's discovery document gives
 * its JWKS (fetched and cached by jose, refreshed when a new key id appears); the token must be signed by one of
 * those keys and name the configured issuer exactly, Haven's client id as audience (and as `azp` when there are
 * several), be unexpired, and carry the nonce the gateway bound to the browser. Every failure is an
 * UnauthenticatedError; an unreachable provider is an UnavailableError.
 */
import { timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { UnauthenticatedError, UnavailableError } from '@haven/errors';
import type { SsoProvider } from '@haven/service';

/** What a verified ID token says about the user. */
export interface VerifiedIdToken {
  readonly subject: string;
  readonly email: string;
  readonly displayName: string;
  readonly preferredUsername: string;
  readonly groups: readonly string[];
}

/** Verifies ID tokens of configured providers. */
export interface IdTokenVerifier {
  /** Throws UnauthenticatedError when the token does not verify, UnavailableError when the provider is unreachable. */
  verify(provider: SsoProvider, idToken: string, nonce: string): Promise<VerifiedIdToken>;
}

const CLOCK_TOLERANCE_SEC = 30;
const DISCOVERY_TIMEOUT_MS = 5000;

const text = (v: unknown, max = 254): string => (typeof v === 'string' ? v.slice(0, max) : '');

function groupsOf(payload: JWTPayload, claim: string): string[] {
  const value = payload[claim];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string').slice(0, 500);
  return [];
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The JWKS-backed verifier (one key set per provider, from its discovery document). */
export function createIdTokenVerifier(): IdTokenVerifier {
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  async function keysOf(provider: SsoProvider): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const known = keySets.get(provider.id);
    if (known) return known;
    const url = `${provider.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      document = (await res.json()) as typeof document;
    } catch (error) {
      throw new UnavailableError(`the identity provider ${provider.id} is unreachable`, { cause: error });
    }
    if (document.issuer !== provider.issuer || typeof document.jwks_uri !== 'string')
      throw new UnauthenticatedError(`the discovery document of ${provider.id} names another issuer`);
    const keys = createRemoteJWKSet(new URL(document.jwks_uri), { timeoutDuration: DISCOVERY_TIMEOUT_MS });
    keySets.set(provider.id, keys);
    return keys;
  }

  return {
    async verify(provider, idToken, nonce) {
      const keys = await keysOf(provider);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(idToken, keys, {
          issuer: provider.issuer,
          audience: provider.clientId,
          clockTolerance: CLOCK_TOLERANCE_SEC,
          requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
        }));
      } catch (error) {
        if (error instanceof joseErrors.JWKSTimeout)
          throw new UnavailableError(`the identity provider ${provider.id} is unreachable`, { cause: error });
        throw new UnauthenticatedError(`the ID token does not verify (${(error as Error).name})`, {
          cause: error,
        });
      }
      const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (audiences.length > 1 && payload['azp'] !== provider.clientId)
        throw new UnauthenticatedError('the ID token was issued to another client (azp)');
      if (typeof payload['nonce'] !== 'string' || !sameText(payload['nonce'], nonce))
        throw new UnauthenticatedError('the ID token carries another nonce');
      const subject = text(payload.sub, 255);
      if (subject === '') throw new UnauthenticatedError('the ID token names no subject');
      return {
        subject,
        email: payload['email_verified'] === false ? '' : text(payload['email']).toLowerCase(),
        displayName: text(payload['name'], 200),
        preferredUsername: text(payload['preferred_username']).toLowerCase(),
        groups: groupsOf(payload, provider.groupsClaim),
      };
    },
  };
}
