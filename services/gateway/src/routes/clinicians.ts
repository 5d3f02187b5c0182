/** `GET /api/clinicians`: the clinician directory for the booking form (identity ListUsers, clinicians only). */
import type { Router } from 'express';
import { identity } from '@haven/proto';
import type { RouteContext } from '../context';
import { lastSegment } from '../http';
import { staff } from './guards';
import type { ClinicianListView, ClinicianView } from '../appointment-view';

/** Registers GET /clinicians on the /api router. */
export function registerClinicianRoutes(api: Router, ctx: RouteContext): void {
  api.get(
    '/clinicians',
    staff(ctx, { rpc: 'identity.ListUsers' }, async (_req, res, { token }) => {
      const r = await ctx.call(
        res,
        token,
        ctx.clients.identity,
        'listUsers',
        identity.ListUsersRequest.fromPartial({ role: identity.Role.ROLE_CLINICIAN, pageSize: 100 }),
      );
      const directory: ClinicianListView = {
        clinicians: r.users
          .filter((u) => u.role === identity.Role.ROLE_CLINICIAN)
          .map((u): ClinicianView => ({ id: lastSegment(u.name), displayName: u.displayName || u.username })),
      };
      res.status(200).json(directory);
    }),
  );
}
