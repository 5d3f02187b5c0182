/**
 * The clinic's settings (`/api/clinic-settings`): `GET` for every staff user (the staff pages show times in the
 * clinic's time zone), `PUT` for admins with any of `timeZone`, `passcodeDelivery`, `recordingPolicy`,
 * `recordingPatientAccess`, `linkGraceMinutes`, `idleTimeoutSec` (scheduling's UpdateClinicSettings, recorded as
 * ClinicSettingsChanged; only the fields sent change). A recording setting or idle timeout nobody saved is `null`
 * (the deployment's default applies); `fromDeployment` names the deployment's idle timeout (HAVEN_IDLE_TIMEOUT_SEC).
 */
import type { Response, Router } from 'express';
import { scheduling } from '@haven/proto';
import { IDLE_TIMEOUT_SEC } from '@haven/service';
import type { RouteContext } from '../context';
import { asRecord, invalid, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { staff } from './guards';

/** Options of {@link registerClinicSettingsRoutes}. */
export interface ClinicSettingsRouteOptions {
  /** The deployment's idle logoff timeout (HAVEN_IDLE_TIMEOUT_SEC), in force while the clinic saved none. */
  readonly defaultIdleTimeoutSec: number;
}

const PASSCODE = {
  'front-desk': scheduling.PasscodeDelivery.PASSCODE_DELIVERY_FRONT_DESK,
  sms: scheduling.PasscodeDelivery.PASSCODE_DELIVERY_SMS,
  email: scheduling.PasscodeDelivery.PASSCODE_DELIVERY_EMAIL,
} as const;
const POLICY = {
  off: scheduling.RecordingPolicy.RECORDING_POLICY_OFF,
  'on-request': scheduling.RecordingPolicy.RECORDING_POLICY_ON_REQUEST,
  required: scheduling.RecordingPolicy.RECORDING_POLICY_REQUIRED,
} as const;

function nameOf<K extends string, V>(table: Readonly<Record<K, V>>, value: V): K | null {
  return (Object.keys(table) as K[]).find((k) => table[k] === value) ?? null;
}

function settingsJson(s: scheduling.ClinicSettings | undefined, options: ClinicSettingsRouteOptions) {
  return {
    timeZone: s?.timeZone ?? 'UTC',
    updateTime: s?.updateTime?.toISOString() ?? null,
    passcodeDelivery: s ? nameOf(PASSCODE, s.passcodeDelivery) : null,
    recordingPolicy: s ? nameOf(POLICY, s.recordingPolicy) : null,
    recordingPatientAccess: s?.recordingPatientAccess ?? null,
    linkGraceMinutes: s?.linkGraceMinutes ?? null,
    idleTimeoutSec: s?.idleTimeoutSeconds ? s.idleTimeoutSeconds : null,
    fromDeployment: { idleTimeoutSec: options.defaultIdleTimeoutSec },
  };
}

/** The request's fields as a partial ClinicSettings and its update mask; violations name the JSON fields. */
function changeOf(
  body: Record<string, unknown>,
  violations: HttpFieldViolation[],
): { settings: scheduling.ClinicSettings; mask: string[] } {
  const settings = scheduling.ClinicSettings.fromPartial({ name: 'clinicSettings' });
  const mask: string[] = [];
  if (body['timeZone'] !== undefined) {
    const timeZone = (stringField(body, 'timeZone', 64, violations) ?? '').trim();
    if (timeZone === '') violations.push({ field: 'timeZone', description: 'is required' });
    settings.timeZone = timeZone;
    mask.push('time_zone');
  }
  if (body['passcodeDelivery'] !== undefined) {
    const v = body['passcodeDelivery'];
    if (typeof v !== 'string' || !(v in PASSCODE))
      violations.push({ field: 'passcodeDelivery', description: 'must be front-desk, sms or email' });
    else settings.passcodeDelivery = PASSCODE[v as keyof typeof PASSCODE];
    mask.push('passcode_delivery');
  }
  if (body['recordingPolicy'] !== undefined) {
    const v = body['recordingPolicy'];
    if (typeof v !== 'string' || !(v in POLICY))
      violations.push({ field: 'recordingPolicy', description: 'must be off, on-request or required' });
    else settings.recordingPolicy = POLICY[v as keyof typeof POLICY];
    mask.push('recording_policy');
  }
  if (body['recordingPatientAccess'] !== undefined) {
    const v = body['recordingPatientAccess'];
    if (typeof v !== 'boolean')
      violations.push({ field: 'recordingPatientAccess', description: 'must be true or false' });
    else settings.recordingPatientAccess = v;
    mask.push('recording_patient_access');
  }
  if (body['linkGraceMinutes'] !== undefined) {
    const v = body['linkGraceMinutes'];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 5 || v > 1440)
      violations.push({
        field: 'linkGraceMinutes',
        description: 'must be a whole number of minutes from 5 to 1440',
      });
    else settings.linkGraceMinutes = v;
    mask.push('link_grace_minutes');
  }
  if (body['idleTimeoutSec'] !== undefined) {
    const v = body['idleTimeoutSec'];
    if (
      typeof v !== 'number' ||
      !Number.isInteger(v) ||
      v < IDLE_TIMEOUT_SEC.min ||
      v > IDLE_TIMEOUT_SEC.max ||
      v % 60 !== 0
    )
      violations.push({
        field: 'idleTimeoutSec',
        description: `must be whole minutes from ${IDLE_TIMEOUT_SEC.min / 60} to ${IDLE_TIMEOUT_SEC.max / 60} (in seconds, ${IDLE_TIMEOUT_SEC.min} to ${IDLE_TIMEOUT_SEC.max})`,
      });
    else settings.idleTimeoutSeconds = v;
    mask.push('idle_timeout_seconds');
  }
  if (mask.length === 0 && violations.length === 0)
    violations.push({ field: 'timeZone', description: 'is required' });
  return { settings, mask };
}

/** Registers GET and PUT /clinic-settings on the /api router. */
export function registerClinicSettingsRoutes(
  api: Router,
  ctx: RouteContext,
  options: ClinicSettingsRouteOptions,
): void {
  const answer = (res: Response, s: scheduling.ClinicSettings | undefined) =>
    res.status(200).json(settingsJson(s, options));

  api.get(
    '/clinic-settings',
    staff(ctx, { rpc: 'scheduling.GetClinicSettings' }, async (_req, res, { token }) => {
      const r = await ctx.call(res, token, ctx.clients.scheduling, 'getClinicSettings', {});
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
        fields: {
          'clinic_settings.time_zone': 'timeZone',
          'clinic_settings.passcode_delivery': 'passcodeDelivery',
          'clinic_settings.recording_policy': 'recordingPolicy',
          'clinic_settings.recording_patient_access': 'recordingPatientAccess',
          'clinic_settings.link_grace_minutes': 'linkGraceMinutes',
          'clinic_settings.idle_timeout_seconds': 'idleTimeoutSec',
        },
      },
      async (req, res, { token }) => {
        const violations: HttpFieldViolation[] = [];
        const { settings, mask } = changeOf(asRecord(req.body), violations);
        if (invalid(res, violations)) return;
        const r = await ctx.call(res, token, ctx.clients.scheduling, 'updateClinicSettings', {
          clinicSettings: settings,
          updateMask: mask,
        });
        answer(res, r.clinicSettings);
      },
    ),
  );
}
