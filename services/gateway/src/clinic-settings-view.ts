/**
 * The clinic's settings as the staff pages read them (`GET` / `PUT /api/clinic-settings`). Types only and no
 * imports: the browser app (web/src/admin/settings-card.tsx) imports this file as well, so the wire shape has one
 * definition.
 */

/** How a patient gets the passcode of their link. */
export type PasscodeDeliveryName = 'front-desk' | 'sms' | 'email';

/** Whether visits are recorded: never, when the clinician asks, or always (each still needs consent). */
export type RecordingPolicyName = 'off' | 'on-request' | 'required';

/** `/api/clinic-settings` */
export interface ClinicSettingsView {
  /** An IANA time zone; `UTC` while nobody saved one. */
  readonly timeZone: string;
  readonly updateTime: string | null;
  readonly passcodeDelivery: PasscodeDeliveryName | null;
  /** `null` while nobody saved one: the deployment's HAVEN_RECORDING_POLICY applies. */
  readonly recordingPolicy: RecordingPolicyName | null;
  /** `null` while nobody saved it: the deployment's HAVEN_RECORDING_PATIENT_ACCESS applies. */
  readonly recordingPatientAccess: boolean | null;
  readonly linkGraceMinutes: number | null;
  /** `null` while nobody saved one: the deployment's HAVEN_IDLE_TIMEOUT_SEC (`fromDeployment`) applies. */
  readonly idleTimeoutSec: number | null;
  /** The deployment's defaults (its environment). */
  readonly fromDeployment: { readonly idleTimeoutSec: number };
}
