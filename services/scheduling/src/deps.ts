import type { EventStore, SnapshotStore } from '@haven/eventstore';
import type { PatientKeyStore } from '@haven/crypto';
import type { ClinicSettingValues, Logger, PasscodeDelivery } from '@haven/service';
import type { PatientTokenSigner } from './link/patient-token';
import type { SchedulingReadModel } from './read-model';

/** Clinic settings that change how scheduling behaves. */
export interface SchedulingSettings {
  /** Every patient link also asks for the date of birth (HAVEN_REQUIRE_DOB_CHECK). */
  readonly requireDobCheck: boolean;
  /** Base of the join URL handed out with a link (HAVEN_PUBLIC_URL); the token goes in the fragment. */
  readonly publicUrl: string;
  /**
   * The clinic's IANA time zone: messages name times in it. The clinic settings' when an admin saved one (the
   * service reads it through the read model on every use), else HAVEN_CLINIC_TIME_ZONE.
   */
  readonly timeZone: string;
  /**
   * How the passcode of a new link reaches the patient: the clinic settings' when an admin saved one, else
   * HAVEN_PASSCODE_DELIVERY; with `sms` or `email` the passcode is kept sealed with the link token for the
   * outbox. Default `front-desk`: the passcode is never kept.
   */
  readonly passcodeDelivery?: PasscodeDelivery;
  /** A new patient link closes this many minutes after the appointment's end (clinic settings; default 30). */
  readonly linkGraceMinutes?: number;
  /**
   * The deployment's defaults of the clinic settings (HAVEN_CLINIC_TIME_ZONE, HAVEN_PASSCODE_DELIVERY, …) and
   * whether the passcode can go by SMS or e-mail at all (both HAVEN_SMTP_URL and an SMS provider configured).
   */
  readonly clinic?: { readonly defaults: ClinicSettingValues; readonly canSendPasscode: boolean };
}

/** What the scheduling handlers need from the outside world. */
export interface SchedulingDeps {
  readonly store: EventStore;
  readonly clock: () => Date;
  /** Per-patient data keys: PHI is sealed with the patient's own key. */
  readonly keys: PatientKeyStore;
  readonly logger: Logger;
  readonly settings: SchedulingSettings;
  readonly patientTokens: PatientTokenSigner;
  readonly readModel: SchedulingReadModel;
  /** Snapshots of long streams (clinician schedules). */
  readonly snapshots: SnapshotStore;
}
