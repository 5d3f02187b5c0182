/**
 * The JSON API under /api: refusals recorded, no-store, CSRF and JSON-only on state-changing requests, 16 KiB
 * bodies, a per-client limit on sign-in and link redemption, then one route module per resource, then 404.
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
import { registerClinicianRoutes } from './routes/clinicians';
import { registerMeRoutes } from './routes/me';
import { registerPatientAccessLogRoutes } from './routes/patient-access-log';
import { registerPatientJoinRoutes } from './routes/patient-join';
import { registerPatientVisitRoutes } from './routes/patient-visit';
import { registerPatientRoutes } from './routes/patients';
import { registerTotpRoutes } from './routes/totp';
import { registerVisitRoutes } from './routes/visits';
import { COOKIES, requireCsrf } from './security';

/** Options of {@link createApiRouter}. */
export interface ApiOptions {
  /** Where the gateway's own 401/403 answers are recorded (none: not recorded). */
  readonly refusals?: AccessRefusalRecorder | undefined;
  /** Requests to /api/auth/* and /api/join per client IP and window. */
  readonly authRateLimit: { readonly limit: number; readonly windowMs: number };
  /** Identity's forwarder secret, for sign-in calls (see ./routes/auth). */
  readonly forwarderSecret?: string | undefined;
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
  api.use(requireCsrf());
  api.use(express.json({ limit: '16kb', type: 'application/json', strict: true }));
  api.use('/auth', clientRateLimit(options.authRateLimit));
  // Patient link redemption: the same per-IP limit on top of scheduling's own lockout.
  api.use('/join', clientRateLimit(options.authRateLimit));

  registerAuthRoutes(api, ctx, { forwarderSecret: options.forwarderSecret });
  registerMeRoutes(api, ctx);
  registerTotpRoutes(api, ctx);
  registerClinicianRoutes(api, ctx);
  registerPatientRoutes(api, ctx);
  registerAppointmentRoutes(api, ctx);
  registerAuditRoutes(api, ctx);
  registerVisitRoutes(api, ctx);
  registerPatientJoinRoutes(api, ctx);
  registerPatientVisitRoutes(api, ctx);
  registerPatientAccessLogRoutes(api, ctx);

  api.use((_req, res) => send(res, httpError('NOT_FOUND')));
  return api;
}
