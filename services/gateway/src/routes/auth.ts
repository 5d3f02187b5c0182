/**
 * Sign-in, token refresh and sign-out (`/api/auth/*`, rate-limited per client): identity's Login, RefreshToken
 * and Logout, with the tokens kept in httpOnly cookies and never in a body. A new session gets a new CSRF token.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { Request, RequestHandler, Response, Router } from 'express';
import type { identity } from '@haven/proto';
import { callUnary, forwardClientAddress } from '@haven/service';
import type { RouteContext } from '../context';
import { asRecord, send, stringField } from '../http';
import { httpError, httpErrorFromGrpc } from '../http-errors';
import type { HttpFieldViolation } from '../http-errors';
import { COOKIES, cookie } from '../security';
import { SSO_PROVIDER_COOKIE, type SsoRelyingParty } from '../sso';
import { roleName } from '../staff-roles';
import type { LoginView, LogoutView } from '../account-view';

/** Options of {@link registerAuthRoutes}. */
export interface AuthRouteOptions {
  /**
   * Identity's forwarder secret: with it, sign-in calls carry the browser's address (`req.ip`) so identity
   * throttles per browser, not per gateway.
   */
  readonly forwarderSecret?: string | undefined;
  /** The clinics' providers: signing out of a session SSO opened offers the provider's logout (RP-initiated). */
  readonly relyingParty?: SsoRelyingParty | undefined;
}

const LOGIN_FIELDS = { username: 'username', password: 'password', totp_code: 'totp' } as const;

/** The sign-in form's fields, or undefined after answering 400. */
function loginRequest(req: Request, res: Response): identity.LoginRequest | undefined {
  const body = asRecord(req.body);
  const violations: HttpFieldViolation[] = [];
  const username =
    stringField(body, 'username', 254, violations) ?? stringField(body, 'email', 254, violations);
  const password = stringField(body, 'password', 1024, violations);
  const totp = stringField(body, 'totp', 16, violations);
  if (!username?.trim()) violations.push({ field: 'username', description: 'is required' });
  if (!password) violations.push({ field: 'password', description: 'is required' });
  if (violations.length > 0) {
    send(res, httpError('INVALID_ARGUMENT', violations));
    return undefined;
  }
  return { username: (username ?? '').trim(), password: password ?? '', totpCode: totp?.trim() ?? '' };
}

/** POST /auth/login: identity Login; the tokens go into cookies, the page gets the role and what is still due. */
function login(ctx: RouteContext, options: AuthRouteOptions): RequestHandler {
  const { clients, cookies } = ctx;
  const opts = { deadlineMs: ctx.deadlineMs };
  /** Metadata for a sign-in call: the browser's address goes along when identity trusts this gateway. */
  const signInMetadataFor = (req: Request, res: Response): Metadata => {
    const metadata = ctx.metadataFor(res);
    if (options.forwarderSecret !== undefined && req.ip !== undefined)
      forwardClientAddress(metadata, { clientAddress: req.ip, forwarderSecret: options.forwarderSecret });
    return metadata;
  };

  return async (req, res) => {
    const request = loginRequest(req, res);
    if (!request) return;
    let response: identity.LoginResponse;
    try {
      response = await callUnary(clients.identity, 'login', request, signInMetadataFor(req, res), opts);
    } catch (err) {
      ctx.logCallFailure(res, 'identity.Login', err);
      const mapped = httpErrorFromGrpc(err, LOGIN_FIELDS);
      if (mapped.status === 401) {
        res.status(401).json({
          error: { code: 'UNAUTHENTICATED', message: 'The username, password or code is not right.' },
        });
        return;
      }
      send(res, mapped);
      return;
    }
    if (!cookies.setTokens(res, response.tokens)) {
      ctx.logger.error(
        { correlationId: res.locals['correlationId'] },
        'identity.Login answered without tokens',
      );
      send(res, httpError('INTERNAL'));
      return;
    }
    cookies.setCsrf(res); // a new session gets a new CSRF token
    const view: LoginView = {
      user: { role: roleName(response.user?.role) },
      mfaEnrollmentRequired: response.mfaEnrollmentRequired,
      passwordChangeRequired: response.passwordChangeRequired,
    };
    res.status(200).json(view);
  };
}

/** Registers POST /auth/login, /auth/refresh and /auth/logout on the /api router. */
export function registerAuthRoutes(api: Router, ctx: RouteContext, options: AuthRouteOptions = {}): void {
  const { clients, cookies } = ctx;

  api.post('/auth/login', login(ctx, options));

  api.post('/auth/refresh', async (req, res) => {
    const refreshToken = cookie(req, COOKIES.refresh);
    if (!refreshToken) {
      cookies.clearTokens(res);
      send(res, httpError('UNAUTHENTICATED'));
      return;
    }
    try {
      const response = await ctx.call(res, undefined, clients.identity, 'refreshToken', { refreshToken });
      if (!cookies.setTokens(res, response.tokens)) throw new Error('RefreshToken answered without tokens');
      res.status(204).end();
    } catch (err) {
      ctx.logCallFailure(res, 'identity.RefreshToken', err);
      const mapped = httpErrorFromGrpc(err);
      if (mapped.status === 401) cookies.clearTokens(res);
      send(res, mapped);
    }
  });

  api.post('/auth/logout', async (req, res) => {
    const accessToken = cookie(req, COOKIES.access);
    const refreshToken = cookie(req, COOKIES.refresh);
    if (accessToken || refreshToken) {
      try {
        await ctx.call(res, accessToken, clients.identity, 'logout', { refreshToken: refreshToken ?? '' });
      } catch (err) {
        // The cookies go anyway; the session idles out on the identity side.
        ctx.logCallFailure(res, 'identity.Logout', err);
      }
    }
    cookies.clearTokens(res);
    cookies.setCsrf(res);
    const provider = cookie(req, SSO_PROVIDER_COOKIE);
    const rp = options.relyingParty;
    if (provider !== undefined && rp !== undefined) {
      res.clearCookie(SSO_PROVIDER_COOKIE, rp.providerCookie());
      const endSessionUrl = await rp.endSessionUrl(provider);
      // The page goes on to the provider's logout, so the clinic's single sign-on session ends too.
      if (endSessionUrl !== undefined) {
        res.status(200).json({ endSessionUrl } satisfies LogoutView);
        return;
      }
    }
    res.status(204).end();
  });
}
