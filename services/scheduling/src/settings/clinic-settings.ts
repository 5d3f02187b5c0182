/**
 * The clinic's settings as events: one stream, `scheduling.clinic_settings-clinic`, of ClinicSettingsChanged events, each
 * carrying the fields it changed; the settings in force are the deployment's defaults (environment) with every
 * change folded over them. Pure.
 */

/** The event type. */
export const CLINIC_SETTINGS_CHANGED = 'haven.scheduling.v1.ClinicSettingsChanged';
/** The stream. */
export const CLINIC_SETTINGS_STREAM = 'scheduling.clinic_settings-clinic';

/** The settings a clinic changes at run time. */
export interface ClinicSettings {
  /** IANA time zone (`Europe/Berlin`). */
  readonly timeZone: string;
  /** When an admin last changed them (ISO 8601); absent while the defaults apply. */
  readonly updateTime?: string;
}

/** What one ClinicSettingsChanged carries: the changed fields only. */
export type ClinicSettingsChange = Partial<Pick<ClinicSettings, 'timeZone'>>;

/** Folds a stored event over the settings; other event types leave them unchanged. */
export function evolveClinicSettings(
  state: ClinicSettings,
  event: { readonly type: string; readonly data: unknown; readonly occurredAt?: string },
): ClinicSettings {
  if (event.type !== CLINIC_SETTINGS_CHANGED) return state;
  const data = (event.data ?? {}) as Record<string, unknown>;
  return {
    ...state,
    ...(typeof data['timeZone'] === 'string' && data['timeZone'] !== ''
      ? { timeZone: data['timeZone'] }
      : {}),
    ...(event.occurredAt !== undefined ? { updateTime: event.occurredAt } : {}),
  };
}
