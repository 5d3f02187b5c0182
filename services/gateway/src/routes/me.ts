/**
 * `GET /api/me`: who the staff cookie names (verified when a verifier is configured), for the page to show, and the
 * idle logoff timeout in force (the clinic's setting, else the deployment's: the page keeps a clinician in a live
 * video conversation active in time, and signs out after it).
 */
import type { Router } from 'express';
import { authenticate } from '../context';
import type { RouteContext } from '../context';
import { COOKIES } from '../security';
import type { MeView } from '../account-view';

/** Registers GET /me on the /api router. */
export function registerMeRoutes(
  api: Router,
  ctx: RouteContext,
  options: { readonly idleTimeoutSec: () => number },
): void {
  api.get('/me', async (req, res) => {
    const auth = await authenticate(ctx, req, res, COOKIES.access);
    if (!auth) return;
    const { principal } = auth;
    const view: MeView = {
      sub: principal.id,
      role: principal.role ?? null,
      kind: principal.kind,
      idleTimeoutSec: options.idleTimeoutSec(),
    };
    res.status(200).json(view);
  });
}
