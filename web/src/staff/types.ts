/**
 * The gateway's JSON as the staff app reads it (services/gateway/src/routes/). Where the gateway has an
 * import-free module for a shape (`*-view.ts`), the type is imported from there; the rest is written out here,
 * since the gateway's other modules pull in Node and gRPC types (ADR 0010).
 */
import type { RecordingLiveMessage } from '../recording/recording-bus';
import type { ParticipantView, VisitCountsView } from '../../../services/gateway/src/staff-visit-view';

export type {
  AppointmentStateName as AppointmentState,
  AppointmentView as Appointment,
  BookingView as Booking,
  ClinicianView as Clinician,
  PatientLinkView as PatientLink,
  PatientView as Patient,
  WaitingView,
} from '../../../services/gateway/src/appointment-view';
export type {
  IdentityConfirmationView as IdentityConfirmation,
  InvitedGuestView as InvitedGuest,
  ParticipantView as Participant,
  VisitDetailView as VisitDetail,
  VisitSummaryView as VisitSummary,
} from '../../../services/gateway/src/staff-visit-view';

/** A staff role. */
export type Role = 'admin' | 'clinician' | 'front_desk' | 'auditor';

/** GET /api/me (no role yet: the account still has to enrol a second factor). */
export interface Me {
  readonly role?: Role | '';
  readonly idleTimeoutSec?: number;
}

/** POST /api/auth/login */
export interface LoginResult {
  readonly mfaEnrollmentRequired?: boolean;
  readonly passwordChangeRequired?: boolean;
  readonly user: { readonly role: Role };
}

/** POST /api/auth/totp/enroll */
export interface TotpEnrollment {
  readonly qr: string;
  readonly secret: string;
  readonly otpauthUri: string;
}

/** What the gateway's live channel sends staff. */
export type StaffLiveMessage =
  | (VisitCountsView & {
      readonly type: 'visit';
      readonly visitId: string;
      readonly status: string;
      readonly locked: boolean;
    })
  | { readonly type: 'lobby'; readonly visitId: string; readonly participants: readonly ParticipantView[] }
  | { readonly type: 'ended'; readonly visitId: string }
  | RecordingLiveMessage
  | { readonly type: 'hello' };

/** GET /api/audit/head */
export interface LedgerHead {
  readonly treeSize: number | string;
  readonly rootHash: string;
  readonly signedAt: string | null;
  readonly algorithm: string;
  readonly keyId: string;
}

/** One ledger entry (GET /api/audit/events). */
export interface LedgerEntry {
  readonly id: string;
  readonly leafIndex: number | string;
  readonly occurredAt: string | null;
  readonly type: string;
  /** The actor's role for staff, their id otherwise. */
  readonly actor: string;
  /** The actor's id (user, patient or service). */
  readonly actorId?: string;
  /** What the entry is about, e.g. `recordings/<id>` for a recording viewed; empty when not known. */
  readonly subject?: string;
  readonly patientId: string;
}

/** A passkey of the signed-in user. */
export interface Passkey {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly lastUsedAt?: string | null;
}

/** An SSO account waiting for approval. */
export interface SsoAccount {
  readonly id: string;
  readonly email: string;
  readonly displayName?: string;
  readonly identityProvider: string;
  readonly requestedRole: string;
}

/** The words the page uses for the roles. */
export const ROLE_LABELS: Readonly<Record<string, string>> = {
  admin: 'administrator',
  clinician: 'clinician',
  front_desk: 'front desk',
  auditor: 'auditor',
};
