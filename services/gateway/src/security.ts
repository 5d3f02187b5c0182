/**
 * The gateway's browser-facing security, in one place: the cookies it sets (names, options, set and clear),
 * double-submit CSRF (the cookie, the header or `?csrf=` that echoes it, the constant-time comparison), the
 * WebSocket upgrade's origin check, and the `Idempotency-Key` header. Routes and the WebSocket doors use these;
 * none of them names a cookie or compares a token by itself.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { CookieOptions, NextFunction, Request, Response } from 'express';
import type { identity } from '@haven/proto';
import type { AccessRefusal, Principal, TokenVerifier } from '@haven/service';
import { unverifiedPrincipal } from './http';
import type { HttpFieldViolation } from './http-errors';
import { noteRefusal } from './refusals';

/** Names of the cookies the gateway sets. */
export const COOKIES = {
  /** The access token (JWT); httpOnly, sent to /api only. */
  access: 'haven_access',
  /** The refresh token; httpOnly, sent to /api/auth only. */
  refresh: 'haven_refresh',
  /** The double-submit CSRF token; readable by the page, echoed in the `x-csrf-token` header. */
  csrf: 'haven_csrf',
  /** The patient token (from POST /api/join); httpOnly, sent to /api only. */
  patient: 'haven_patient',
  /** A passkey sign-in ceremony this browser started; httpOnly, sent to /api/auth/passkeys only, 2 minutes. */
  passkey: 'haven_passkey',
} as const;

/** The header that must echo the CSRF cookie on every state-changing /api request. */
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const CSRF_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const IDEMPOTENCY_KEY = /^[0-9a-fA-F-]{36}$/;
/** Lifetimes used when a service's answer names no expiry. */
const DEFAULT_ACCESS_MS = 15 * 60_000;
const DEFAULT_REFRESH_MS = 12 * 3_600_000;
const DEFAULT_PATIENT_MS = 3_600_000;

/** Compares two tokens in constant time (for equal lengths). Throws nothing. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A cookie's value from a parsed request, or undefined when absent or empty. */
export function cookie(req: Request, name: string): string | undefined {
  const value = (req.cookies as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Parses a raw `Cookie` header (a WebSocket upgrade has no cookie-parser); malformed values are skipped. */
export function parseCookieHeader(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    try {
      out.set(part.slice(0, i).trim(), decodeURIComponent(part.slice(i + 1).trim()));
    } catch {
      // a malformed cookie is ignored
    }
  }
  return out;
}

/** Milliseconds until `expires` (or `fallbackMs` when unknown), at least one second. */
function maxAgeUntil(expires: Date | undefined, fallbackMs: number): number {
  const now = Date.now();
  return Math.max((expires?.getTime() ?? now + fallbackMs) - now, 1000);
}

/**
 * Sets and clears the gateway's cookies. Every cookie is SameSite=Strict and Secure unless turned off; the
 * token cookies are httpOnly, the CSRF cookie is readable by the page.
 */
export class SessionCookies {
  private readonly access: CookieOptions;
  private readonly refresh: CookieOptions;
  private readonly csrf: CookieOptions;
  private readonly patient: CookieOptions;
  private readonly passkey: CookieOptions;

  constructor(options: { readonly secure: boolean }) {
    const base: CookieOptions = { secure: options.secure, sameSite: 'strict' };
    this.access = { ...base, httpOnly: true, path: '/api' };
    this.refresh = { ...base, httpOnly: true, path: '/api/auth' };
    this.csrf = { ...base, httpOnly: false, path: '/' };
    this.patient = { ...base, httpOnly: true, path: '/api' };
    this.passkey = { ...base, httpOnly: true, path: '/api/auth/passkeys' };
  }

  /** Binds a passkey sign-in ceremony to this browser (the cookie goes back only to /api/auth/passkeys). */
  setPasskeyCeremony(res: Response, ceremony: string): void {
    res.cookie(COOKIES.passkey, ceremony, { ...this.passkey, maxAge: 2 * 60_000 });
  }

  /** Forgets the passkey ceremony (it is single-use whatever the answer). */
  clearPasskeyCeremony(res: Response): void {
    res.clearCookie(COOKIES.passkey, this.passkey);
  }

  /** Sets a fresh CSRF token (every page load without one, every sign-in and sign-out). */
  setCsrf(res: Response): void {
    res.cookie(COOKIES.csrf, randomBytes(32).toString('base64url'), this.csrf);
  }

  /** Sets the access (and refresh) token cookies; false when the set holds no access token. */
  setTokens(res: Response, tokens: identity.TokenSet | undefined): boolean {
    if (!tokens?.accessToken) return false;
    res.cookie(COOKIES.access, tokens.accessToken, {
      ...this.access,
      maxAge: maxAgeUntil(tokens.accessTokenExpireTime, DEFAULT_ACCESS_MS),
    });
    if (tokens.refreshToken) {
      res.cookie(COOKIES.refresh, tokens.refreshToken, {
        ...this.refresh,
        maxAge: maxAgeUntil(tokens.refreshTokenExpireTime, DEFAULT_REFRESH_MS),
      });
    }
    return true;
  }

  /** Clears the staff token cookies (sign-out, a refresh token identity refuses). */
  clearTokens(res: Response): void {
    res.clearCookie(COOKIES.access, this.access);
    res.clearCookie(COOKIES.refresh, this.refresh);
  }

  /** Sets the patient token cookie until the token expires. */
  setPatient(res: Response, token: string, expires: Date | undefined): void {
    res.cookie(COOKIES.patient, token, { ...this.patient, maxAge: maxAgeUntil(expires, DEFAULT_PATIENT_MS) });
  }

  /** Express middleware: a request without a well-formed CSRF cookie gets one (so the first POST can echo it). */
  issueCsrf() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const current = cookie(req, COOKIES.csrf);
      if (current === undefined || !CSRF_TOKEN.test(current)) this.setCsrf(res);
      next();
    };
  }
}

/**
 * Express middleware for /api: a state-changing request must echo the CSRF cookie in {@link CSRF_HEADER}
 * (else 403 `CSRF`, recorded as a refusal) and send JSON or nothing (else 415); a request `binary` says is an
 * upload sends `application/octet-stream` instead.
 */
export function requireCsrf(options: { binary?: (req: Request) => boolean } = {}) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (SAFE_METHODS.has(req.method)) {
      next();
      return;
    }
    const fromCookie = cookie(req, COOKIES.csrf);
    const fromHeader = req.get(CSRF_HEADER);
    if (!fromCookie || !fromHeader || !CSRF_TOKEN.test(fromCookie) || !sameToken(fromCookie, fromHeader)) {
      noteRefusal(res, { kind: 'csrf', code: 'CSRF', reason: 'missing or mismatched CSRF token' });
      res.status(403).json({ error: { code: 'CSRF', message: 'Please reload the page and try again.' } });
      return;
    }
    const length = req.get('content-length');
    if (options.binary?.(req)) {
      if (!req.is('application/octet-stream')) {
        res
          .status(415)
          .json({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the file’s bytes.' } });
        return;
      }
    } else if (!req.is('application/json') && length !== '0' && length !== undefined) {
      res.status(415).json({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send JSON.' } });
      return;
    }
    next();
  };
}

/** Why a WebSocket upgrade is refused. */
export type UpgradeRefusal = Pick<AccessRefusal, 'kind' | 'code' | 'reason'>;

/**
 * The WebSocket doors' CSRF check: the Origin must be the request's own host (or an allowed origin) and
 * `?csrf=` must echo the CSRF cookie. Answers the refusal, or undefined when the upgrade may go on.
 */
export function upgradeCsrfRefusal(
  req: IncomingMessage,
  url: URL,
  cookies: ReadonlyMap<string, string>,
  allowedOrigins: readonly string[] = [],
): UpgradeRefusal | undefined {
  const host = req.headers.host ?? '';
  const origin = req.headers.origin ?? '';
  const allowed = new Set([`http://${host}`, `https://${host}`, ...allowedOrigins]);
  if (origin === '' || !allowed.has(origin))
    return { kind: 'csrf', code: 'ORIGIN_NOT_ALLOWED', reason: 'missing or foreign Origin' };
  const csrfCookie = cookies.get(COOKIES.csrf) ?? '';
  if (csrfCookie === '' || !sameToken(csrfCookie, url.searchParams.get('csrf') ?? ''))
    return { kind: 'csrf', code: 'CSRF', reason: 'missing or mismatched CSRF token' };
  return undefined;
}

/** What a WebSocket door decided: the caller and their token, or the refusal and the status to answer. */
export type UpgradeDecision =
  | { readonly ok: true; readonly token: string; readonly principal: Principal }
  | { readonly ok: false; readonly status: 401 | 403; readonly refusal: UpgradeRefusal };

/** Options of {@link checkUpgrade}. */
export interface UpgradeCheckOptions {
  readonly allowedOrigins?: readonly string[] | undefined;
  /** Verifies the token; without one the claims are only decoded (the services verify every token again). */
  readonly tokenVerifier?: TokenVerifier | undefined;
  /** Which cookie's token the upgrade presents. */
  readonly tokenOf: (cookies: ReadonlyMap<string, string>) => string | undefined;
}

/**
 * A WebSocket upgrade's door: origin and CSRF (403), then a token (401 when none), then the token verified
 * (401 when it does not verify). Never rejects.
 */
export async function checkUpgrade(
  req: IncomingMessage,
  url: URL,
  options: UpgradeCheckOptions,
): Promise<UpgradeDecision> {
  const cookies = parseCookieHeader(req.headers.cookie);
  const csrf = upgradeCsrfRefusal(req, url, cookies, options.allowedOrigins);
  if (csrf) return { ok: false, status: 403, refusal: csrf };
  const token = options.tokenOf(cookies);
  if (!token)
    return {
      ok: false,
      status: 401,
      refusal: { kind: 'unauthenticated', code: 'UNAUTHENTICATED', reason: 'no session cookie' },
    };
  try {
    const principal = options.tokenVerifier
      ? await options.tokenVerifier.verify(token)
      : unverifiedPrincipal(token);
    return { ok: true, token, principal };
  } catch {
    return {
      ok: false,
      status: 401,
      refusal: { kind: 'unauthenticated', code: 'UNAUTHENTICATED', reason: 'session cookie not valid' },
    };
  }
}

/** Answers a WebSocket upgrade with a bare HTTP status and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number): void {
  const text = STATUS_CODES[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * The request's `Idempotency-Key` header (a UUID), sent to the service as `request_id`: '' when absent; records
 * a violation of `idempotencyKey` when it is not a UUID.
 */
export function idempotencyKey(req: Request, violations: HttpFieldViolation[]): string {
  const key = req.get('idempotency-key');
  if (key === undefined) return '';
  if (!IDEMPOTENCY_KEY.test(key)) {
    violations.push({ field: 'idempotencyKey', description: 'must be a UUID' });
    return '';
  }
  return key;
}
