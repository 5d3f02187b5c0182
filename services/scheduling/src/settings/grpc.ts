/**
 * GetClinicSettings (any staff user) and UpdateClinicSettings (admin: validated, appended as
 * ClinicSettingsChanged to `scheduling.clinic_settings-clinic`, folded into this replica's read model at once; other
 * replicas follow through the read model's subscription, the session and recording services through theirs).
 */
import { ValidationError, type FieldViolation } from '@haven/errors';
import { scheduling } from '@haven/proto';
import {
  CLINIC_SETTING_DEFAULTS,
  CLINIC_SETTINGS_CHANGED,
  CLINIC_SETTINGS_STREAM,
  commandEvent,
  commandMetadata,
  IDLE_TIMEOUT_SEC,
  LINK_GRACE_MINUTES,
  PasscodeDelivery,
  RecordingPolicy,
  requirePrincipal,
  throwIfAborted,
  type CallContext,
  type ClinicSettings,
  type ClinicSettingsChange,
  type ClinicSettingValues,
} from '@haven/service';
import type { SchedulingDeps } from '../deps';
import { isTimeZone } from '../schedule/clinic-time';

const PATHS: ReadonlySet<string> = new Set([
  'time_zone',
  'passcode_delivery',
  'recording_policy',
  'recording_patient_access',
  'link_grace_minutes',
  'idle_timeout_seconds',
]);

const PASSCODE_TO_PROTO = {
  [PasscodeDelivery.FrontDesk]: scheduling.PasscodeDelivery.PASSCODE_DELIVERY_FRONT_DESK,
  [PasscodeDelivery.Sms]: scheduling.PasscodeDelivery.PASSCODE_DELIVERY_SMS,
  [PasscodeDelivery.Email]: scheduling.PasscodeDelivery.PASSCODE_DELIVERY_EMAIL,
} as const;
const POLICY_TO_PROTO = {
  [RecordingPolicy.Off]: scheduling.RecordingPolicy.RECORDING_POLICY_OFF,
  [RecordingPolicy.OnRequest]: scheduling.RecordingPolicy.RECORDING_POLICY_ON_REQUEST,
  [RecordingPolicy.Required]: scheduling.RecordingPolicy.RECORDING_POLICY_REQUIRED,
} as const;

function keyOf<K extends string, V>(table: Readonly<Record<K, V>>, value: V): K | undefined {
  return (Object.keys(table) as K[]).find((k) => table[k] === value);
}

/**
 * The settings in force; the recording ones and the idle timeout only when saved (their defaults live in session,
 * recording, identity and the gateway).
 */
function toProto(s: ClinicSettings, saved: Partial<ClinicSettingValues>): scheduling.ClinicSettings {
  return {
    name: 'clinicSettings',
    timeZone: s.timeZone,
    ...(s.updateTime !== undefined ? { updateTime: new Date(s.updateTime) } : {}),
    passcodeDelivery: PASSCODE_TO_PROTO[s.passcodeDelivery],
    recordingPolicy:
      saved.recordingPolicy !== undefined
        ? POLICY_TO_PROTO[saved.recordingPolicy]
        : scheduling.RecordingPolicy.RECORDING_POLICY_UNSPECIFIED,
    ...(saved.recordingPatientAccess !== undefined
      ? { recordingPatientAccess: saved.recordingPatientAccess }
      : {}),
    linkGraceMinutes: s.linkGraceMinutes,
    idleTimeoutSeconds: saved.idleTimeoutSeconds ?? 0,
  };
}

type SettingsDeps = Pick<SchedulingDeps, 'readModel' | 'settings'>;

function defaultsOf(deps: SettingsDeps): ClinicSettingValues {
  return deps.settings.clinic?.defaults ?? { ...CLINIC_SETTING_DEFAULTS, timeZone: deps.settings.timeZone };
}

function inForce(deps: SettingsDeps): scheduling.ClinicSettings {
  return toProto(deps.readModel.clinicSettings(defaultsOf(deps)), deps.readModel.savedClinicSettings());
}

/** GetClinicSettings: the settings in force. */
export function getClinicSettings(deps: SettingsDeps) {
  return (
    _request: scheduling.GetClinicSettingsRequest,
    ctx: CallContext,
  ): Promise<scheduling.GetClinicSettingsResponse> => {
    requirePrincipal(ctx);
    return Promise.resolve({ clinicSettings: inForce(deps) });
  };
}

/** `n` when it is a whole number within `bounds` (inclusive), else undefined. */
function wholeWithin(n: number, bounds: { readonly min: number; readonly max: number }): number | undefined {
  return Number.isInteger(n) && n >= bounds.min && n <= bounds.max ? n : undefined;
}

/** The change the masked fields ask for; every wrong field is named. */
function changeOf(
  deps: SettingsDeps,
  wanted: scheduling.ClinicSettings,
  paths: readonly string[],
): ClinicSettingsChange {
  const violations: FieldViolation[] = [];
  for (const p of paths)
    if (!PATHS.has(p)) violations.push({ field: 'update_mask', description: `has an unknown path ${p}` });
  const change: { -readonly [K in keyof ClinicSettingValues]?: ClinicSettingValues[K] } = {};
  /** A masked path's value into the change, or its violation when the value is missing or wrong. */
  const take = <K extends keyof ClinicSettingValues>(
    path: string,
    key: K,
    value: ClinicSettingValues[K] | undefined,
    description: string,
  ): void => {
    if (!paths.includes(path)) return;
    if (value === undefined) violations.push({ field: `clinic_settings.${path}`, description });
    else change[key] = value;
  };
  const timeZone = isTimeZone(wanted.timeZone) ? wanted.timeZone : undefined;
  take('time_zone', 'timeZone', timeZone, 'must be an IANA time zone such as Europe/Berlin');
  const delivery = keyOf(PASSCODE_TO_PROTO, wanted.passcodeDelivery);
  take('passcode_delivery', 'passcodeDelivery', delivery, 'must be front desk, SMS or e-mail');
  const policy = keyOf(POLICY_TO_PROTO, wanted.recordingPolicy);
  take('recording_policy', 'recordingPolicy', policy, 'must be off, on request or required');
  take('recording_patient_access', 'recordingPatientAccess', wanted.recordingPatientAccess, 'is required');
  take(
    'link_grace_minutes',
    'linkGraceMinutes',
    wholeWithin(wanted.linkGraceMinutes, LINK_GRACE_MINUTES),
    `must be a whole number of minutes from ${LINK_GRACE_MINUTES.min} to ${LINK_GRACE_MINUTES.max}`,
  );
  take(
    'idle_timeout_seconds',
    'idleTimeoutSeconds',
    wholeWithin(wanted.idleTimeoutSeconds, IDLE_TIMEOUT_SEC),
    `must be a whole number of seconds from ${IDLE_TIMEOUT_SEC.min} to ${IDLE_TIMEOUT_SEC.max} (1 to 60 minutes)`,
  );
  if (
    change.passcodeDelivery !== undefined &&
    change.passcodeDelivery !== PasscodeDelivery.FrontDesk &&
    !(deps.settings.clinic?.canSendPasscode ?? false)
  )
    violations.push({
      field: 'clinic_settings.passcode_delivery',
      description:
        'SMS or e-mail needs both an e-mail relay (HAVEN_SMTP_URL) and an SMS provider configured: ' +
        'the passcode never goes by the channel of the link',
    });
  if (violations.length > 0) throw new ValidationError(violations);
  return change;
}

/** UpdateClinicSettings: validate the masked fields, append the change, answer the settings in force. */
export function updateClinicSettings(
  deps: Pick<SchedulingDeps, 'readModel' | 'settings' | 'store' | 'clock' | 'logger'>,
) {
  return async (
    request: scheduling.UpdateClinicSettingsRequest,
    ctx: CallContext,
  ): Promise<scheduling.UpdateClinicSettingsResponse> => {
    requirePrincipal(ctx);
    const wanted = request.clinicSettings;
    if (!wanted) throw new ValidationError([{ field: 'clinic_settings', description: 'is required' }]);
    const paths = request.updateMask?.length ? request.updateMask : ['time_zone'];
    const data = changeOf(deps, wanted, paths);
    const metadata = commandMetadata(ctx);
    throwIfAborted(metadata.signal);
    const event = commandEvent(metadata, { type: CLINIC_SETTINGS_CHANGED, data: { ...data } }, deps.clock());
    const appended = await deps.store.append(CLINIC_SETTINGS_STREAM, 'any', [event]);
    deps.readModel.apply({
      stream: CLINIC_SETTINGS_STREAM,
      revision: appended.nextRevision,
      type: CLINIC_SETTINGS_CHANGED,
      data: { ...data },
      occurredAt: event.occurredAt,
    });
    deps.logger.info({ fields: Object.keys(data) }, 'clinic settings changed');
    return { clinicSettings: inForce(deps) };
  };
}
