import { registerEmailUnsubscribe } from './routes/email-unsubscribe';
import cookieParser from 'cookie-parser';
import express from 'express';
import type { ConsumerHealth } from '@haven/eventstore';
import type { AccessRefusalRecorder, ClinicSettingsFeed, Logger, TokenVerifier } from '@haven/service';
import { createApiRouter } from './api';
import { idleTimeoutSecOf } from './idle-timeout';
import { createRouteContext } from './context';
import type { GatewayClients, MediaPresence } from './context';
import { errorAnswer, requestLog, securityHeaders } from './middleware';
import { registerProbes } from './routes/probes';
import { registerWebRoutes } from './routes/web';
import { SessionCookies } from './security';
import { SsoRelyingParty, type GatewaySsoOptions } from './sso';

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
  /** Requests to /api/auth/* that take credentials (sign-in, TOTP) per client IP and window. Default 10 per 60 s. */
  readonly authRateLimit?: { readonly limit: number; readonly windowMs: number };
  /**
   * Requests to /api/auth/refresh and /api/auth/logout per client IP and window (a budget of their own: they
   * present a high-entropy session cookie, not something to guess). Default 120 per 60 s.
   */
  readonly sessionRateLimit?: { readonly limit: number; readonly windowMs: number };
  /** Deadline of each backend call. Default 5000 ms. */
  readonly grpcDeadlineMs?: number;
  /** Deadline of each readiness health check. Default 1000 ms. */
  readonly readinessDeadlineMs?: number;
  /** Debian's janus.js, served at /vendor/janus.js when the file exists. */
  readonly janusJsPath?: string;
  /**
   * The deployment's idle logoff timeout (HAVEN_IDLE_TIMEOUT_SEC), in force while the clinic saved none; told to
   * the page in /api/me so that a clinician on a live video conversation can keep the session active in time.
   * Default 900.
   */
  readonly idleTimeoutSec?: number;
  /** The largest file shared in a visit's chat (HAVEN_CHAT_FILE_MAX_BYTES). Default 10 MiB. */
  readonly chatFileMaxBytes?: number;
  /** Staff single sign-on at the clinics' OpenID providers (./sso); none: local accounts only. */
  readonly sso?: GatewaySsoOptions;
  /** The dev stack's mail catcher (HAVEN_DEV_MAIL_URL, loopback only): GET /api/dev/mail shows what it caught. */
  readonly devMailUrl?: string;
  /**
   * Scheduling's e-mail unsubscribe endpoint (`http://<scheduling>:<http port>/email/unsubscribe`, from
   * HAVEN_PATIENT_JWKS_URL's origin): /email/unsubscribe is forwarded there. Unset: no such route.
   */
  readonly emailUnsubscribeUrl?: string;
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
  /**
   * The clinic's settings the gateway follows (`followClinicSettings`): an idle timeout an admin saved wins over
   * `config.idleTimeoutSec`. Without it (no NATS) the deployment's applies.
   */
  readonly clinicSettings?: Pick<ClinicSettingsFeed, 'current'>;
}

/**
 * Builds the gateway's express app: the browser's only door. Security headers (helmet, strict CSP without
 * inline scripts, frame-ancestors 'none'), a CSRF cookie on every page load, the health probes, the JSON API
 * (./api: double-submit CSRF, 16 KiB JSON bodies, a per-IP rate limit on /api/auth/*, token cookies httpOnly,
 * SameSite=Strict, Secure unless turned off) and the static web app. Never logs bodies, tokens or e-mail
 * addresses; errors to the browser are generic except field violations. Throws nothing; the app answers errors
 * itself.
 */
export function createGatewayApp(options: GatewayAppOptions): express.Express {
  const { clients, logger, tokenVerifier } = options;
  const cfg = options.config;
  const cookies = new SessionCookies({ secure: cfg.cookieSecure ?? true });
  const ctx = createRouteContext({
    clients,
    logger,
    deadlineMs: cfg.grpcDeadlineMs ?? 5000,
    cookies,
    tokenVerifier,
    media: options.media ?? { inMedia: () => false },
  });

  const app = express();
  app.disable('x-powered-by');
  app.set(
    'trust proxy',
    cfg.trustedProxies !== undefined && cfg.trustedProxies.length > 0
      ? [...cfg.trustedProxies]
      : (cfg.trustProxyHops ?? 0),
  );
  app.use(securityHeaders());
  app.use(cookieParser());
  app.use(requestLog(logger));
  // Every page load gets a CSRF cookie, so the first POST (sign-in) can echo it.
  app.use(cookies.issueCsrf());
  registerEmailUnsubscribe(app, {
    target: cfg.emailUnsubscribeUrl,
    logger,
    deadlineMs: cfg.grpcDeadlineMs ?? 5000,
  });
  registerProbes(app, {
    clients,
    deadlineMs: cfg.readinessDeadlineMs ?? 1000,
    consumers: options.consumers,
  });
  app.use(
    '/api',
    createApiRouter(ctx, {
      refusals: options.refusals,
      authRateLimit: cfg.authRateLimit ?? { limit: 10, windowMs: 60_000 },
      sessionRateLimit: cfg.sessionRateLimit ?? { limit: 120, windowMs: 60_000 },
      idleTimeoutSec: idleTimeoutSecOf(options.clinicSettings, cfg.idleTimeoutSec ?? 900),
      defaultIdleTimeoutSec: cfg.idleTimeoutSec ?? 900,
      chatFileMaxBytes: cfg.chatFileMaxBytes ?? 10 * 1024 * 1024,
      devMailUrl: cfg.devMailUrl,
      forwarderSecret: cfg.forwarderSecret,
      relyingParty:
        cfg.sso && cfg.sso.providers.length > 0
          ? new SsoRelyingParty(cfg.sso, { secure: cfg.cookieSecure ?? true })
          : undefined,
    }),
  );
  registerWebRoutes(app, { webRoot: cfg.webRoot, janusJsPath: cfg.janusJsPath });
  app.use(errorAnswer(logger));
  return app;
}
