/**
 * The clinic's settings (`/api/clinic-settings`): `GET` for every staff user (the staff pages show times in the
 * clinic's time zone), `PUT` for admins with any of `timeZone`, `passcodeDelivery`, `recordingPolicy`,
 * `recordingPatientAccess`, `linkGraceMinutes`, `idleTimeoutSec` (scheduling's UpdateClinicSettings, recorded as
 * ClinicSettingsChanged; only the fields sent change). A recording setting or idle timeout nobody saved is `null`
 * (the deployment's default applies); `fromDeployment` names the deployment's idle timeout (HAVEN_IDLE_TIMEOUT_SEC).
 */
import type { Router } from 'express';
import { scheduling } from '@haven/proto';
import { IDLE_TIMEOUT_SEC } from '@haven/service';
import type { RouteContext } from '../context';
import { choiceOf, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { staff } from './guards';
import { oneCall } from './one-call';
import type { ClinicSettingsView, PasscodeDeliveryName, RecordingPolicyName } from '../clinic-settings-view';

/** Options of {@link registerClinicSettingsRoutes}. */
export interface ClinicSettingsRouteOptions {
  /** The deployment's idle logoff timeout (HAVEN_IDLE_TIMEOUT_SEC), in force while the clinic saved none. */
  readonly defaultIdleTimeoutSec: number;
}

const PASSCODE: Readonly<Record<PasscodeDeliveryName, scheduling.PasscodeDelivery>> = {
  'front-desk': scheduling.PasscodeDelivery.PASSCODE_DELIVERY_FRONT_DESK,
  sms: scheduling.PasscodeDelivery.PASSCODE_DELIVERY_SMS,
  email: scheduling.PasscodeDelivery.PASSCODE_DELIVERY_EMAIL,
};
const POLICY: Readonly<Record<RecordingPolicyName, scheduling.RecordingPolicy>> = {
  off: scheduling.RecordingPolicy.RECORDING_POLICY_OFF,
  'on-request': scheduling.RecordingPolicy.RECORDING_POLICY_ON_REQUEST,
  required: scheduling.RecordingPolicy.RECORDING_POLICY_REQUIRED,
};

function nameOf<K extends string, V>(table: Readonly<Record<K, V>>, value: V): K | null {
  return (Object.keys(table) as K[]).find((k) => table[k] === value) ?? null;
}

function settingsJson(
  s: scheduling.ClinicSettings | undefined,
  options: ClinicSettingsRouteOptions,
): ClinicSettingsView {
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

/** One setting a PUT may change: its JSON field, its update-mask path, and how a value is read and set. */
interface Setting {
  readonly field: string;
  readonly path: string;
  readonly description: string;
  /** Sets the value on `settings`; false when the value is not one this setting takes. */
  readonly apply: (settings: scheduling.ClinicSettings, value: unknown) => boolean;
}

/** The setting `key` of ClinicSettings, from JSON `field` when `read` takes it (undefined: a violation). */
function setting<K extends keyof scheduling.ClinicSettings>(
  [field, path, key]: readonly [string, string, K],
  read: (value: unknown) => scheduling.ClinicSettings[K] | undefined,
  description: string,
): Setting {
  return {
    field,
    path,
    description,
    apply: (settings, value) => {
      const v = read(value);
      if (v !== undefined) settings[key] = v;
      return v !== undefined;
    },
  };
}

const among =
  <T>(table: Readonly<Record<string, T>>) =>
  (v: unknown): T | undefined =>
    choiceOf(table, v);
const wholeNumber =
  (min: number, max: number, step: number) =>
  (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max && v % step === 0 ? v : undefined;
const { min: IDLE_MIN, max: IDLE_MAX } = IDLE_TIMEOUT_SEC;

/** The settings besides the time zone, in the order their violations are listed. */
const SETTINGS: readonly Setting[] = [
  setting(
    ['passcodeDelivery', 'passcode_delivery', 'passcodeDelivery'],
    among(PASSCODE),
    'must be front-desk, sms or email',
  ),
  setting(
    ['recordingPolicy', 'recording_policy', 'recordingPolicy'],
    among(POLICY),
    'must be off, on-request or required',
  ),
  setting(
    ['recordingPatientAccess', 'recording_patient_access', 'recordingPatientAccess'],
    (v) => (typeof v === 'boolean' ? v : undefined),
    'must be true or false',
  ),
  setting(
    ['linkGraceMinutes', 'link_grace_minutes', 'linkGraceMinutes'],
    wholeNumber(5, 1440, 1),
    'must be a whole number of minutes from 5 to 1440',
  ),
  setting(
    ['idleTimeoutSec', 'idle_timeout_seconds', 'idleTimeoutSeconds'],
    wholeNumber(IDLE_MIN, IDLE_MAX, 60),
    `must be whole minutes from ${IDLE_MIN / 60} to ${IDLE_MAX / 60} (in seconds, ${IDLE_MIN} to ${IDLE_MAX})`,
  ),
];

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
  for (const { field, path, description, apply } of SETTINGS) {
    if (body[field] === undefined) continue;
    if (!apply(settings, body[field])) violations.push({ field, description });
    mask.push(path);
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
  const view = (r: { clinicSettings?: scheduling.ClinicSettings | undefined }) =>
    settingsJson(r.clinicSettings, options);

  api.get(
    '/clinic-settings',
    staff(
      ctx,
      { rpc: 'scheduling.GetClinicSettings' },
      oneCall(ctx, { client: 'scheduling', method: 'getClinicSettings', request: () => ({}), view }),
    ),
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
      oneCall(ctx, {
        client: 'scheduling',
        method: 'updateClinicSettings',
        request: ({ body, violations }) => {
          const { settings, mask } = changeOf(body, violations);
          return { clinicSettings: settings, updateMask: mask };
        },
        view,
      }),
    ),
  );
}
