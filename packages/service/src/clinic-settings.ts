/**
 * The clinic's settings as events, shared by every service that honours one: scheduling owns the stream
 * (`scheduling.clinic_settings-clinic`, ClinicSettingsChanged events each carrying the fields an admin changed);
 * a field nobody changed is the deployment's default (the service's environment). The fold, pure; session and
 * recording follow it with `followClinicSettings` (clinic-settings-feed.ts).
 */
/** The event type. */
export const CLINIC_SETTINGS_CHANGED = 'haven.scheduling.v1.ClinicSettingsChanged';
/** The stream. */
export const CLINIC_SETTINGS_STREAM = 'scheduling.clinic_settings-clinic';

/** How the passcode reaches the patient: read out by the front desk, or sent by the other channel than the link. */
export const PasscodeDelivery = { FrontDesk: 'front-desk', Sms: 'sms', Email: 'email' } as const;
/** See {@link PasscodeDelivery}. */
export type PasscodeDelivery = (typeof PasscodeDelivery)[keyof typeof PasscodeDelivery];

/** `off` — nobody records; `on-request` — the clinician may record with consent; `required` — every visit is. */
export const RecordingPolicy = { Off: 'off', OnRequest: 'on-request', Required: 'required' } as const;
/** See {@link RecordingPolicy}. */
export type RecordingPolicy = (typeof RecordingPolicy)[keyof typeof RecordingPolicy];

/** Bounds of {@link ClinicSettingValues.linkGraceMinutes}. */
export const LINK_GRACE_MINUTES = { min: 5, max: 24 * 60, default: 30 } as const;

/**
 * Bounds of {@link ClinicSettingValues.idleTimeoutSeconds}: 1 to 60 minutes. HIPAA's automatic logoff
 * (45 CFR 164.312(a)(2)(iii)) names no number; common practice (NIST SP 800-53 AC-11/AC-12, hospital policies)
 * is 15 minutes, and past an hour an unattended workstation in a shared room is no longer protected. Under a
 * minute a clinician reading a chart is signed out mid-sentence, and the staff page's keep-alive in a visit (a
 * third of the timeout) would call identity every few seconds. The deployment's default
 * (HAVEN_IDLE_TIMEOUT_SEC) is not bounded by these: tests run with seconds.
 */
export const IDLE_TIMEOUT_SEC = { min: 60, max: 3600 } as const;

/** The settings a clinic changes at run time. */
export interface ClinicSettingValues {
  /** IANA time zone (`Europe/Berlin`). */
  readonly timeZone: string;
  /** How the passcode of a new patient link reaches the patient. */
  readonly passcodeDelivery: PasscodeDelivery;
  /** Who may record visits. */
  readonly recordingPolicy: RecordingPolicy;
  /** Patients may list and play their own recordings. */
  readonly recordingPatientAccess: boolean;
  /** A patient link issued from now on closes this many minutes after the appointment's end. */
  readonly linkGraceMinutes: number;
  /**
   * Staff sessions with no activity for this many seconds are signed out (identity's sweeper, the gateway's live
   * channel and the staff pages). Absent in the defaults of a service that does not honour it.
   */
  readonly idleTimeoutSeconds?: number;
}

/**
 * The product's defaults of the settings a clinic changes: what applies until an admin saves a value, for every
 * field the service's own environment does not set (session spreads its HAVEN_RECORDING_POLICY over these,
 * scheduling its time zone and passcode delivery, recording its patient access). No idle timeout: each service
 * that honours one has the deployment's HAVEN_IDLE_TIMEOUT_SEC.
 */
export const CLINIC_SETTING_DEFAULTS: ClinicSettingValues = Object.freeze({
  timeZone: 'UTC',
  passcodeDelivery: PasscodeDelivery.FrontDesk,
  recordingPolicy: RecordingPolicy.OnRequest,
  recordingPatientAccess: false,
  linkGraceMinutes: LINK_GRACE_MINUTES.default,
});

/** The settings in force, with when an admin last changed them (ISO 8601; absent while the defaults apply). */
export interface ClinicSettings extends ClinicSettingValues {
  readonly updateTime?: string;
  /**
   * When an admin last saved the idle timeout (ISO 8601): a shortened timeout gives every session that long from
   * this moment, so nobody in a visit is signed out before their page learned the new value.
   */
  readonly idleTimeoutChangeTime?: string;
}

/** What one ClinicSettingsChanged carries: the changed fields only. */
export type ClinicSettingsChange = Partial<ClinicSettingValues>;

/** The fields admins saved so far (a fold of every ClinicSettingsChanged). */
export type SavedClinicSettings = ClinicSettingsChange & {
  readonly updateTime?: string;
  readonly idleTimeoutChangeTime?: string;
};

const isOneOf = <T extends string>(values: Record<string, T>, v: unknown): v is T =>
  typeof v === 'string' && (Object.values(values) as string[]).includes(v);

/** The valid fields of an event's data (anything else is ignored). Pure. */
export function clinicSettingsChangeOf(data: unknown): ClinicSettingsChange {
  const d = (data ?? {}) as Record<string, unknown>;
  const grace = d['linkGraceMinutes'];
  const idle = d['idleTimeoutSeconds'];
  return {
    ...(typeof d['timeZone'] === 'string' && d['timeZone'] !== '' ? { timeZone: d['timeZone'] } : {}),
    ...(isOneOf(PasscodeDelivery, d['passcodeDelivery']) ? { passcodeDelivery: d['passcodeDelivery'] } : {}),
    ...(isOneOf(RecordingPolicy, d['recordingPolicy']) ? { recordingPolicy: d['recordingPolicy'] } : {}),
    ...(typeof d['recordingPatientAccess'] === 'boolean'
      ? { recordingPatientAccess: d['recordingPatientAccess'] }
      : {}),
    ...(typeof grace === 'number' &&
    Number.isInteger(grace) &&
    grace >= LINK_GRACE_MINUTES.min &&
    grace <= LINK_GRACE_MINUTES.max
      ? { linkGraceMinutes: grace }
      : {}),
    ...(typeof idle === 'number' &&
    Number.isInteger(idle) &&
    idle >= IDLE_TIMEOUT_SEC.min &&
    idle <= IDLE_TIMEOUT_SEC.max
      ? { idleTimeoutSeconds: idle }
      : {}),
  };
}

/** Folds a stored event over the saved settings; other event types leave them unchanged. Pure. */
export function evolveClinicSettings(
  saved: SavedClinicSettings,
  event: { readonly type: string; readonly data: unknown; readonly occurredAt?: string },
): SavedClinicSettings {
  if (event.type !== CLINIC_SETTINGS_CHANGED) return saved;
  const change = clinicSettingsChangeOf(event.data);
  return {
    ...saved,
    ...change,
    ...(event.occurredAt !== undefined ? { updateTime: event.occurredAt } : {}),
    ...(event.occurredAt !== undefined && change.idleTimeoutSeconds !== undefined
      ? { idleTimeoutChangeTime: event.occurredAt }
      : {}),
  };
}

/** The settings in force: the saved fields over the deployment's defaults. Pure. */
export function clinicSettingsInForce(
  saved: SavedClinicSettings,
  defaults: ClinicSettingValues,
): ClinicSettings {
  return { ...defaults, ...saved };
}
