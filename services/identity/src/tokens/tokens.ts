/**
 * Access tokens (JWT, EdDSA, 5 minutes) and opaque rotating refresh tokens.
 * Claim names match @haven/service's verifier: sub, role, kind, sid, scope, visit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { newEventId } from '@haven/eventstore';
import type { SigningKeyRing } from './keys';

/** `iss` of every Haven token. */
export const TOKEN_ISSUER = 'haven-identity';
/** `aud` of every Haven token. */
export const TOKEN_AUDIENCE = 'haven';
/** Default access-token lifetime: 5 minutes. */
export const ACCESS_TOKEN_TTL_SEC = 300;
/** The scope of the token an un-enrolled admin/clinician gets: only EnrollTotp/ConfirmTotp (and Logout) accept it. */
export const MFA_ENROLL_SCOPE = 'identity.mfa.enroll';

export interface AccessTokenClaims {
  readonly sub: string;
  readonly role?: string;
  readonly kind: 'user' | 'patient' | 'service_account';
  readonly sid?: string;
  /** Space-separated scopes. */
  readonly scope?: string;
  readonly visit?: string;
  /** Break-glass grant id (`bg`) and the resource it opens (`bg_res`). */
  readonly breakGlass?: { readonly grantId: string; readonly resource: string };
}

export interface IssuedAccessToken {
  readonly token: string;
  /** Epoch ms. */
  readonly expiresAt: number;
  /** The token's `jti`. */
  readonly jti: string;
}

/** Signs an access token with the ring's current key. */
export async function issueAccessToken(
  ring: SigningKeyRing,
  claims: AccessTokenClaims,
  options: { now?: number; ttlSec?: number; expiresAt?: number } = {},
): Promise<IssuedAccessToken> {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const exp =
    options.expiresAt !== undefined
      ? Math.floor(options.expiresAt / 1000)
      : now + (options.ttlSec ?? ACCESS_TOKEN_TTL_SEC);
  const key = ring.currentKey();
  const jti = newEventId();
  const payload: Record<string, string> = { kind: claims.kind };
  if (claims.role !== undefined) payload['role'] = claims.role;
  if (claims.sid !== undefined) payload['sid'] = claims.sid;
  if (claims.scope !== undefined) payload['scope'] = claims.scope;
  if (claims.visit !== undefined) payload['visit'] = claims.visit;
  if (claims.breakGlass !== undefined) {
    payload['bg'] = claims.breakGlass.grantId;
    payload['bg_res'] = claims.breakGlass.resource;
  }
  const token = await new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key.privateKey);
  return { token, expiresAt: exp * 1000, jti };
}

/** Hex SHA-256 of a high-entropy token (refresh, invite). Never store the token itself. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A fresh 256-bit random secret, base64url. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** `<sid>.<secret>`: the session id travels with the token so refresh can find the session. */
export function newRefreshToken(sessionId: string): { token: string; hash: string } {
  const token = `${sessionId}.${randomSecret()}`;
  return { token, hash: tokenDigest(token) };
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Splits a refresh token; null when it is malformed. */
export function parseRefreshToken(token: string): { sessionId: string; hash: string } | null {
  if (typeof token !== 'string' || token.length > 200) return null;
  const dot = token.indexOf('.');
  if (dot < 0) return null;
  const sessionId = token.slice(0, dot);
  const secret = token.slice(dot + 1);
  if (!ID.test(sessionId) || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return null;
  return { sessionId, hash: tokenDigest(token) };
}
