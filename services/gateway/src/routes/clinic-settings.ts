/**
 * The clinic's settings (`/api/clinic-settings`): `GET` for every staff user (the staff pages show times in the
 * clinic's time zone), `PUT` `{ timeZone }` for admins (scheduling's UpdateClinicSettings, recorded as
 * ClinicSettingsChanged). The answer also names the settings that still come from the deployment's environment.
 */
import type { Response, Router } from 'express';
import type { scheduling } from '@haven/proto';
import { callUnary } from '@haven/service';
import type { RouteContext } from '../context';
import { asRecord, invalid, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { staff } from './guards';

/** Options of {@link registerClinicSettingsRoutes}. */
export interface ClinicSettingsRouteOptions {
  /** The stack's idle logoff timeout (HAVEN_IDLE_TIMEOUT_SEC), shown as a deployment setting. */
  readonly idleTimeoutSec: number;
}

function settingsJson(s: scheduling.ClinicSettings | undefined, options: ClinicSettingsRouteOptions) {
  return {
    timeZone: s?.timeZone ?? 'UTC',
    updateTime: s?.updateTime?.toISOString() ?? null,
    fromDeployment: { idleTimeoutSec: options.idleTimeoutSec },
  };
}

/** Registers GET and PUT /clinic-settings on the /api router. */
export function registerClinicSettingsRoutes(
  api: Router,
  ctx: RouteContext,
  options: ClinicSettingsRouteOptions,
): void {
  const opts = { deadlineMs: ctx.deadlineMs };
  const answer = (res: Response, s: scheduling.ClinicSettings | undefined) =>
    res.status(200).json(settingsJson(s, options));

  api.get(
    '/clinic-settings',
    staff(ctx, { rpc: 'scheduling.GetClinicSettings' }, async (_req, res, { token }) => {
      const r = await callUnary(
        ctx.clients.scheduling,
        'getClinicSettings',
        {},
        ctx.metadataFor(res, token),
        opts,
      );
      answer(res, r.clinicSettings);
    }),
  );

  api.put(
    '/clinic-settings',
    staff(
      ctx,
      {
        rpc: 'scheduling.UpdateClinicSettings',
        roles: ['admin'],
        fields: { 'clinic_settings.time_zone': 'timeZone' },
      },
      async (req, res, { token }) => {
        const violations: HttpFieldViolation[] = [];
        const timeZone = (stringField(asRecord(req.body), 'timeZone', 64, violations) ?? '').trim();
        if (timeZone === '') violations.push({ field: 'timeZone', description: 'is required' });
        if (invalid(res, violations)) return;
        const r = await callUnary(
          ctx.clients.scheduling,
          'updateClinicSettings',
          { clinicSettings: { name: 'clinicSettings', timeZone }, updateMask: ['time_zone'] },
          ctx.metadataFor(res, token),
          opts,
        );
        answer(res, r.clinicSettings);
      },
    ),
  );
}
