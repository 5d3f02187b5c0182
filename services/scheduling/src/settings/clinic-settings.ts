/**
 * The clinic's settings as events: one stream, `scheduling.clinic_settings-clinic`, of ClinicSettingsChanged events, each
 * carrying the fields it changed; the settings in force are the deployment's defaults (environment) with every
 * change folded over them. The fold is shared with the services that honour them (`@haven/service`). Pure.
 */
export {
  CLINIC_SETTING_DEFAULTS,
  CLINIC_SETTINGS_CHANGED,
  CLINIC_SETTINGS_STREAM,
  IDLE_TIMEOUT_SEC,
  LINK_GRACE_MINUTES,
  PasscodeDelivery,
  RecordingPolicy,
  clinicSettingsInForce,
  evolveClinicSettings,
} from '@haven/service';
export type {
  ClinicSettingValues,
  ClinicSettings,
  ClinicSettingsChange,
  SavedClinicSettings,
} from '@haven/service';
