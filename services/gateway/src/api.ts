/**
 * The JSON API under /api: refusals recorded, no-store, CSRF and JSON-only on state-changing requests (but the
 * chat's file uploads, raw bytes), 16 KiB JSON bodies, a per-client limit on sign-in and link redemption (and a larger one of their own on refresh and logout),
 * then one route module per resource, then 404.
 */
import express from 'express';
import type { Router } from 'express';
import type { AccessRefusalRecorder } from '@haven/service';
import type { RouteContext } from './context';
import { send } from './http';
import { httpError } from './http-errors';
import { clientRateLimit, noStore } from './middleware';
import { recordHttpRefusals } from './refusals';
import { registerAppointmentRoutes } from './routes/appointments';
import { registerAuditRoutes } from './routes/audit';
import { registerAuthRoutes } from './routes/auth';
import { isChatFileUpload, registerChatFileRoutes } from './routes/chat-files';
import { registerClinicianRoutes } from './routes/clinicians';
import { registerClinicSettingsRoutes } from './routes/clinic-settings';
import { registerDevMailRoutes } from './routes/dev-mail';
import { registerMeRoutes } from './routes/me';
import { registerMessageTemplateRoutes } from './routes/message-templates';
import { registerMessageRoutes } from './routes/messages';
import { registerPatientAccessLogRoutes } from './routes/patient-access-log';
import { registerPatientJoinRoutes } from './routes/patient-join';
import { registerLobbyNoticeRoutes } from './routes/lobby-notice';
import { registerPatientVisitRoutes } from './routes/patient-visit';
import { registerPatientErasureRoutes } from './routes/patient-erasure';
import { registerPatientRoutes } from './routes/patients';
import { registerRecordingRoutes } from './routes/recordings';
import { registerPasskeyRoutes } from './routes/passkeys';
import { registerSsoRoutes } from './routes/sso';
import { registerTotpRoutes } from './routes/totp';
import { registerUserRoutes } from './routes/users';
import { registerVisitRoutes } from './routes/visits';
import { COOKIES, requireCsrf } from './security';
import type { SsoRelyingParty } from './sso';

/** The /api/auth paths that keep a session rather than take credentials. */
const SESSION_PATHS: ReadonlySet<string> = new Set(['/refresh', '/logout']);

/** Options of {@link createApiRouter}. */
export interface ApiOptions {
  /** Where the gateway's own 401/403 answers are recorded (none: not recorded). */
  readonly refusals?: AccessRefusalRecorder | undefined;
  /** Requests to /api/auth/* (but refresh and logout), /api/join and /api/messages/join per client IP and window. */
  readonly authRateLimit: { readonly limit: number; readonly windowMs: number };
  /** Requests to /api/auth/refresh and /api/auth/logout per client IP and window. */
  readonly sessionRateLimit: { readonly limit: number; readonly windowMs: number };
  /** The idle logoff timeout in force, told to the page in /api/me (see ./routes/me). */
  readonly idleTimeoutSec: () => number;
  /** The deployment's idle logoff timeout (HAVEN_IDLE_TIMEOUT_SEC), in force while the clinic saved none. */
  readonly defaultIdleTimeoutSec: number;
  /** The largest file shared in a visit's chat, in bytes (see ./routes/chat-files). */
  readonly chatFileMaxBytes?: number;
  /** Identity's forwarder secret, for sign-in calls (see ./routes/auth). */
  readonly forwarderSecret?: string | undefined;
  /** The clinics' OpenID providers (see ./routes/sso); none: local accounts only. */
  /** The dev stack's mail catcher (see ./routes/dev-mail); none: no mail route. */
  readonly devMailUrl?: string | undefined;
  readonly relyingParty?: SsoRelyingParty | undefined;
}

/** Builds the /api router. Throws nothing. */
export function createApiRouter(ctx: RouteContext, options: ApiOptions): Router {
  const api = express.Router();
  api.use(
    recordHttpRefusals({
      refusals: options.refusals,
      tokenVerifier: ctx.tokenVerifier,
      tokenCookies: [COOKIES.access, COOKIES.patient],
    }),
  );
  api.use(noStore);
  api.use(requireCsrf({ binary: isChatFileUpload }));
  api.use(express.json({ limit: '16kb', type: 'application/json', strict: true }));
  // Keeping a session (refresh, logout) does not spend the sign-in budget: many staff behind one address refresh
  // every few minutes, a clinician in a video visit refreshes to stay signed in, and an idle sign-out's logout
  // must get through. They have a larger budget of their own, bounding load only.
  const credentialLimit = clientRateLimit(options.authRateLimit);
  const sessionLimit = clientRateLimit(options.sessionRateLimit);
  api.use('/auth', (req, res, next) =>
    (SESSION_PATHS.has(req.path) ? sessionLimit : credentialLimit)(req, res, next),
  );
  // Patient link redemption: the same per-IP limit on top of scheduling's own lockout.
  api.use('/join', clientRateLimit(options.authRateLimit));
  api.use('/messages/join', clientRateLimit(options.authRateLimit));

  registerAuthRoutes(api, ctx, {
    forwarderSecret: options.forwarderSecret,
    relyingParty: options.relyingParty,
  });
  registerSsoRoutes(api, ctx, {
    relyingParty: options.relyingParty,
    forwarderSecret: options.forwarderSecret,
  });
  registerMeRoutes(api, ctx, { idleTimeoutSec: options.idleTimeoutSec });
  registerTotpRoutes(api, ctx);
  registerPasskeyRoutes(api, ctx);
  registerClinicianRoutes(api, ctx);
  registerPatientRoutes(api, ctx);
  registerPatientErasureRoutes(api, ctx);
  registerAppointmentRoutes(api, ctx);
  registerAuditRoutes(api, ctx);
  registerVisitRoutes(api, ctx);
  registerPatientJoinRoutes(api, ctx);
  registerPatientVisitRoutes(api, ctx);
  registerLobbyNoticeRoutes(api, ctx);
  registerPatientAccessLogRoutes(api, ctx);
  registerMessageRoutes(api, ctx);
  registerRecordingRoutes(api, ctx);
  registerUserRoutes(api, ctx);
  registerChatFileRoutes(api, ctx, { maxBytes: options.chatFileMaxBytes ?? 10 * 1024 * 1024 });
  registerMessageTemplateRoutes(api, ctx);
  registerClinicSettingsRoutes(api, ctx, { defaultIdleTimeoutSec: options.defaultIdleTimeoutSec });
  registerDevMailRoutes(api, ctx, options.devMailUrl);

  api.use((_req, res) => send(res, httpError('NOT_FOUND')));
  return api;
}
