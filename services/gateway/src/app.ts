import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import cookieParser from 'cookie-parser';
import express from 'express';
import type { CookieOptions, NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import { status as grpcStatus, type Metadata } from '@grpc/grpc-js';
import { identity, scheduling } from '@haven/proto';
import type { ConsumerHealth } from '@haven/eventstore';
import { callUnary, clientCallMetadata, forwardClientAddress } from '@haven/service';
import type { AccessRefusalRecorder, Logger, TokenVerifier } from '@haven/service';
import { authenticate, type GatewayClients, type MediaPresence, type RouteContext } from './context';
import { checkGrpcHealth } from './health';
import { asRecord, cookie, dateField, resourceName, send, stringField } from './http';
import { httpError, httpErrorFromGrpc } from './http-errors';
import type { HttpFieldViolation } from './http-errors';
import { noteRefusal, noteUpstreamRefusal, recordHttpRefusals } from './refusals';
import { PATIENT_COOKIE, registerPatientRoutes } from './routes/patient';
import { registerStaffRoutes } from './routes/staff';

/** Names of the cookies the gateway sets. */
export const COOKIES = {
  /** The access token (JWT); httpOnly, sent to /api only. */
  access: 'haven_access',
  /** The refresh token; httpOnly, sent to /api/auth only. */
  refresh: 'haven_refresh',
  /** The double-submit CSRF token; readable by the page, echoed in the `x-csrf-token` header. */
  csrf: 'haven_csrf',
} as const;

/** The header that must echo the CSRF cookie on every state-changing /api request. */
export const CSRF_HEADER = 'x-csrf-token';

export type { GatewayClients } from './context';

/** Behaviour knobs of {@link createGatewayApp}. */
export interface GatewayAppConfig {
  /** Mark cookies `Secure` (default true). Off only for plain-http development away from localhost. */
  readonly cookieSecure?: boolean;
  /** Directory of the browser app's static files. */
  readonly webRoot: string;
  /** Proxies in front of the gateway whose X-Forwarded-For is trusted. Default 0. */
  readonly trustProxyHops?: number;
  /**
   * The proxies (addresses, CIDR ranges, `loopback`…) whose X-Forwarded-For is believed; when set, instead of
   * `trustProxyHops`. A request from any other peer counts as coming from that peer.
   */
  readonly trustedProxies?: readonly string[];
  /**
   * Identity's forwarder secret: with it, sign-in calls carry the browser's address (`req.ip`) so identity
   * throttles per browser, not per gateway.
   */
  readonly forwarderSecret?: string;
  /** Requests to /api/auth/* per client IP and window. Default 10 per 60 s. */
  readonly authRateLimit?: { readonly limit: number; readonly windowMs: number };
  /** Deadline of each backend call. Default 5000 ms. */
  readonly grpcDeadlineMs?: number;
  /** Deadline of each readiness health check. Default 1000 ms. */
  readonly readinessDeadlineMs?: number;
  /** Debian's janus.js, served at /vendor/janus.js when the file exists. */
  readonly janusJsPath?: string;
}

/** Input of {@link createGatewayApp}. */
export interface GatewayAppOptions {
  readonly clients: GatewayClients;
  readonly logger: Logger;
  readonly config: GatewayAppConfig;
  /**
   * Verifies access tokens for /api/me (built from HAVEN_JWKS_URL). Without it the claims are decoded but
   * not verified: the services still verify every token they receive, so this only affects what the page shows.
   */
  readonly tokenVerifier?: TokenVerifier;
  /** Who is in a media room (the WebSocket hub knows from the bus); without it `inMedia` is always false. */
  readonly media?: MediaPresence;
  /**
   * Where the gateway's own 401/403 answers are recorded as AccessRefused events (see ./refusals). Without it
   * they are not recorded (tests of other behaviour).
   */
  readonly refusals?: AccessRefusalRecorder;
  /** The gateway's own event consumers (bus subscription, revocation feed): /readyz fails while one is not live. */
  readonly consumers?: Pick<ConsumerHealth, 'ready' | 'statuses'>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const CSRF_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const IDEMPOTENCY_KEY = /^[0-9a-fA-F-]{36}$/;
const ROLE_NAMES: Readonly<Record<number, string>> = {
  [identity.Role.ROLE_ADMIN]: 'admin',
  [identity.Role.ROLE_CLINICIAN]: 'clinician',
  [identity.Role.ROLE_FRONT_DESK]: 'front_desk',
  [identity.Role.ROLE_AUDITOR]: 'auditor',
};
const LOGIN_FIELDS = { username: 'username', password: 'password', totp_code: 'totp' } as const;
const APPOINTMENT_FIELDS = {
  appointment: 'form',
  'appointment.clinician': 'clinicianId',
  'appointment.patient': 'patientId',
  'appointment.start_time': 'startTime',
  'appointment.end_time': 'endTime',
  'appointment.reason': 'reason',
  request_id: 'idempotencyKey',
} as const;

function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Builds the gateway's express app: the browser's only door. Security headers (helmet, strict CSP without
 * inline scripts, frame-ancestors 'none'), 16 KiB JSON bodies, double-submit CSRF on every state-changing /api
 * request, a per-IP rate limit on /api/auth/*, token cookies (httpOnly, SameSite=Strict, Secure unless turned
 * off), the JSON API, health probes and the static web app. Never logs bodies, tokens or e-mail addresses;
 * errors to the browser are generic except field violations. Throws nothing; the app answers errors itself.
 */
export function createGatewayApp(options: GatewayAppOptions): express.Express {
  const { clients, logger, tokenVerifier } = options;
  const cfg = options.config;
  const secure = cfg.cookieSecure ?? true;
  const deadlineMs = cfg.grpcDeadlineMs ?? 5000;
  const readinessDeadlineMs = cfg.readinessDeadlineMs ?? 1000;

  const base: CookieOptions = { secure, sameSite: 'strict' };
  const accessCookie: CookieOptions = { ...base, httpOnly: true, path: '/api' };
  const refreshCookie: CookieOptions = { ...base, httpOnly: true, path: '/api/auth' };
  const csrfCookie: CookieOptions = { ...base, httpOnly: false, path: '/' };

  function setCsrf(res: Response): void {
    res.cookie(COOKIES.csrf, newCsrfToken(), csrfCookie);
  }

  function setTokens(res: Response, tokens: identity.TokenSet | undefined): boolean {
    if (!tokens?.accessToken) return false;
    const now = Date.now();
    const accessMs = (tokens.accessTokenExpireTime?.getTime() ?? now + 15 * 60_000) - now;
    res.cookie(COOKIES.access, tokens.accessToken, { ...accessCookie, maxAge: Math.max(accessMs, 1000) });
    if (tokens.refreshToken) {
      const refreshMs = (tokens.refreshTokenExpireTime?.getTime() ?? now + 12 * 3_600_000) - now;
      res.cookie(COOKIES.refresh, tokens.refreshToken, {
        ...refreshCookie,
        maxAge: Math.max(refreshMs, 1000),
      });
    }
    return true;
  }

  function clearTokens(res: Response): void {
    res.clearCookie(COOKIES.access, accessCookie);
    res.clearCookie(COOKIES.refresh, refreshCookie);
  }

  function metadataFor(res: Response, token?: string): Metadata {
    const correlationId = res.locals['correlationId'] as string;
    return clientCallMetadata(token === undefined ? { correlationId } : { token, correlationId });
  }

  function logCallFailure(res: Response, rpc: string, err: unknown): void {
    const code = (err as { code?: unknown }).code;
    // The service that refused recorded the refusal itself (same correlation id): the gateway does not again.
    if (code === grpcStatus.UNAUTHENTICATED || code === grpcStatus.PERMISSION_DENIED)
      noteUpstreamRefusal(res);
    logger.warn(
      {
        rpc,
        grpcCode: typeof code === 'number' ? code : undefined,
        correlationId: res.locals['correlationId'],
      },
      'backend call failed',
    );
  }

  const app = express();
  app.disable('x-powered-by');
  app.set(
    'trust proxy',
    cfg.trustedProxies !== undefined && cfg.trustedProxies.length > 0
      ? [...cfg.trustedProxies]
      : (cfg.trustProxyHops ?? 0),
  );

  /** Metadata for a sign-in call: the browser's address goes along when identity trusts this gateway. */
  function signInMetadataFor(req: Request, res: Response): Metadata {
    const metadata = metadataFor(res);
    if (cfg.forwarderSecret !== undefined && req.ip !== undefined)
      forwardClientAddress(metadata, { clientAddress: req.ip, forwarderSecret: cfg.forwarderSecret });
    return metadata;
  }

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          'default-src': ["'self'"],
          'script-src': ["'self'"],
          'style-src': ["'self'"],
          'img-src': ["'self'", 'data:'],
          'font-src': ["'self'"],
          // The live channel and the media websocket are the gateway's own (/api/ws, /api/media): browsers
          // never connect anywhere else.
          'connect-src': ["'self'"],
          'media-src': ["'self'", 'blob:'],
          'object-src': ["'none'"],
          'base-uri': ["'none'"],
          'form-action': ["'self'"],
          'frame-ancestors': ["'none'"],
        },
      },
      crossOriginEmbedderPolicy: false,
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  app.use(cookieParser());

  // Correlation id and one access-log line per request (method, path, status, time; never bodies or cookies).
  app.use((req, res, next) => {
    const correlationId = randomUUID();
    res.locals['correlationId'] = correlationId;
    res.setHeader('x-correlation-id', correlationId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      logger.info(
        {
          req: { method: req.method, path: req.originalUrl.split('?')[0] },
          status: res.statusCode,
          ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
          correlationId,
        },
        'http request',
      );
    });
    next();
  });

  // Every page load gets a CSRF cookie, so the first POST (sign-in) can echo it.
  app.use((req, res, next) => {
    const current = cookie(req, COOKIES.csrf);
    if (current === undefined || !CSRF_TOKEN.test(current)) setCsrf(res);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const [identityUp, schedulingUp, sessionUp] = await Promise.all([
      checkGrpcHealth(clients.identity, { deadlineMs: readinessDeadlineMs }),
      checkGrpcHealth(clients.scheduling, { deadlineMs: readinessDeadlineMs }),
      clients.session
        ? checkGrpcHealth(clients.session, { deadlineMs: readinessDeadlineMs })
        : Promise.resolve(undefined),
    ]);
    const consumersUp = options.consumers?.ready ?? true;
    const ready = identityUp && schedulingUp && sessionUp !== false && consumersUp;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not ready',
      checks: {
        identity: identityUp,
        scheduling: schedulingUp,
        ...(sessionUp !== undefined ? { session: sessionUp } : {}),
        ...(options.consumers
          ? {
              consumers: Object.fromEntries(
                options.consumers.statuses().map((c) => [c.name, c.state === 'live']),
              ),
            }
          : {}),
      },
    });
  });

  const api = express.Router();
  api.use(
    recordHttpRefusals({
      refusals: options.refusals,
      tokenVerifier,
      tokenCookies: [COOKIES.access, PATIENT_COOKIE],
    }),
  );
  api.use((_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });
  api.use((req, res, next) => {
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
    if (
      !req.is('application/json') &&
      req.get('content-length') !== '0' &&
      req.get('content-length') !== undefined
    ) {
      res.status(415).json({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send JSON.' } });
      return;
    }
    next();
  });
  api.use(express.json({ limit: '16kb', type: 'application/json', strict: true }));

  const authLimit = cfg.authRateLimit ?? { limit: 10, windowMs: 60_000 };
  const limiter = () =>
    rateLimit({
      windowMs: authLimit.windowMs,
      limit: authLimit.limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      handler: (_req, res) => send(res, httpError('RESOURCE_EXHAUSTED')),
    });
  api.use('/auth', limiter());
  // Patient link redemption: the same per-IP limit on top of scheduling's own lockout.
  api.use('/join', limiter());

  api.post('/auth/login', async (req, res) => {
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
      return;
    }
    let response: identity.LoginResponse;
    try {
      response = await callUnary(
        clients.identity,
        'login',
        { username: (username ?? '').trim(), password: password ?? '', totpCode: totp?.trim() ?? '' },
        signInMetadataFor(req, res),
        { deadlineMs },
      );
    } catch (err) {
      logCallFailure(res, 'identity.Login', err);
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
    if (!setTokens(res, response.tokens)) {
      logger.error({ correlationId: res.locals['correlationId'] }, 'identity.Login answered without tokens');
      send(res, httpError('INTERNAL'));
      return;
    }
    setCsrf(res); // a new session gets a new CSRF token
    res.status(200).json({
      user: { role: ROLE_NAMES[response.user?.role ?? 0] ?? 'unknown' },
      mfaEnrollmentRequired: response.mfaEnrollmentRequired,
      passwordChangeRequired: response.passwordChangeRequired,
    });
  });

  api.post('/auth/refresh', async (req, res) => {
    const refreshToken = cookie(req, COOKIES.refresh);
    if (!refreshToken) {
      clearTokens(res);
      send(res, httpError('UNAUTHENTICATED'));
      return;
    }
    try {
      const response = await callUnary(clients.identity, 'refreshToken', { refreshToken }, metadataFor(res), {
        deadlineMs,
      });
      if (!setTokens(res, response.tokens)) throw new Error('RefreshToken answered without tokens');
      res.status(204).end();
    } catch (err) {
      logCallFailure(res, 'identity.RefreshToken', err);
      const mapped = httpErrorFromGrpc(err);
      if (mapped.status === 401) clearTokens(res);
      send(res, mapped);
    }
  });

  api.post('/auth/logout', async (req, res) => {
    const accessToken = cookie(req, COOKIES.access);
    const refreshToken = cookie(req, COOKIES.refresh);
    if (accessToken || refreshToken) {
      try {
        await callUnary(
          clients.identity,
          'logout',
          { refreshToken: refreshToken ?? '' },
          metadataFor(res, accessToken),
          { deadlineMs },
        );
      } catch (err) {
        // The cookies go anyway; the session idles out on the identity side.
        logCallFailure(res, 'identity.Logout', err);
      }
    }
    clearTokens(res);
    setCsrf(res);
    res.status(204).end();
  });

  const routeContext: RouteContext = {
    clients,
    logger,
    deadlineMs,
    cookieSecure: secure,
    tokenVerifier,
    media: options.media ?? { inMedia: () => false },
    metadataFor,
    logCallFailure,
  };

  api.get('/me', async (req, res) => {
    const auth = await authenticate(routeContext, req, res, COOKIES.access);
    if (!auth) return;
    const { principal } = auth;
    res.status(200).json({ sub: principal.id, role: principal.role ?? null, kind: principal.kind });
  });

  api.post('/appointments', async (req, res) => {
    const token = cookie(req, COOKIES.access);
    if (!token) {
      send(res, httpError('UNAUTHENTICATED'));
      return;
    }
    const body = asRecord(req.body);
    const violations: HttpFieldViolation[] = [];
    const clinicianId = stringField(body, 'clinicianId', 80, violations);
    const patientId = stringField(body, 'patientId', 80, violations);
    const startTime = dateField(body, 'startTime', violations);
    const endTime = dateField(body, 'endTime', violations);
    const reason = stringField(body, 'reason', 2000, violations);
    const idempotencyKey = req.get('idempotency-key');
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      violations.push({ field: 'idempotencyKey', description: 'must be a UUID' });
    }
    if (violations.length > 0) {
      send(res, httpError('INVALID_ARGUMENT', violations));
      return;
    }
    try {
      const response = await callUnary(
        clients.scheduling,
        'bookAppointment',
        scheduling.BookAppointmentRequest.fromPartial({
          appointment: {
            clinician: resourceName('users', clinicianId),
            patient: resourceName('patients', patientId),
            startTime,
            endTime,
            reason: reason ?? '',
          },
          requestId: idempotencyKey ?? '',
        }),
        metadataFor(res, token),
        { deadlineMs },
      );
      const appointment = response.appointment;
      res.status(201).json({
        appointment: appointment ? scheduling.Appointment.toJSON({ ...appointment, reason: '' }) : null,
      });
    } catch (err) {
      logCallFailure(res, 'scheduling.BookAppointment', err);
      send(res, httpErrorFromGrpc(err, APPOINTMENT_FIELDS));
    }
  });

  registerStaffRoutes(api, routeContext);
  registerPatientRoutes(api, routeContext);

  api.use((_req, res) => send(res, httpError('NOT_FOUND')));
  app.use('/api', api);

  const janusJs = cfg.janusJsPath;
  if (janusJs !== undefined && existsSync(janusJs)) {
    app.get('/vendor/janus.js', (_req, res) => {
      res.type('text/javascript').sendFile(janusJs, { maxAge: 0 });
    });
  }
  // `/join` (the patient's link: /join#<token>) is the patient page.
  app.get('/join', (_req, res) => {
    res.sendFile(resolve(cfg.webRoot, 'join.html'), { maxAge: 0 });
  });

  app.use(express.static(cfg.webRoot, { index: 'index.html', dotfiles: 'ignore', maxAge: 0 }));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found');
  });

  // Last resort: body-parser errors (bad JSON 400, too large 413) and anything unexpected (500), all generic.
  const onError = (err: unknown, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (status === 413) {
      res.status(413).json({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'The request is too large.' } });
      return;
    }
    if (status === 400) {
      res
        .status(400)
        .json({ error: { code: 'INVALID_ARGUMENT', message: 'The request is not valid JSON.' } });
      return;
    }
    logger.error({ err, correlationId: res.locals['correlationId'] }, 'unhandled error');
    send(res, httpError('INTERNAL'));
  };
  app.use(onError as unknown as RequestHandler);
  return app;
}
