/**
 * The gateway's JSON as the staff app reads it (services/gateway/src/routes/). Where the gateway has an
 * import-free module for a shape (`*-view.ts`), the type is imported from there; the rest is written out here,
 * since the gateway's other modules pull in Node and gRPC types (ADR 0010).
 */

import type { MeView } from '../../../services/gateway/src/account-view';

export type {
  LoginView as LoginResult,
  LogoutView,
  PasskeyListView,
  PasskeyRegisteredView,
  PasskeyRegistrationStartView,
  PasskeySignInStartView,
  PasskeyView as Passkey,
  RecoveryCodesView,
  StaffRoleName as Role,
  SsoAccountListView,
  SsoAccountView as SsoAccount,
  TotpEnrollmentView as TotpEnrollment,
  WebAuthnOptionsView as WebAuthnOptions,
} from '../../../services/gateway/src/account-view';
export type {
  AppointmentListView,
  AppointmentStateName as AppointmentState,
  AppointmentView as Appointment,
  BookingView as Booking,
  ClinicianListView,
  ClinicianView as Clinician,
  PatientCreatedView,
  PatientLinkView as PatientLink,
  PatientListView,
  PatientNameView,
  PatientView as Patient,
  WaitingListView,
  WaitingView,
} from '../../../services/gateway/src/appointment-view';
export type {
  LedgerEntryView as LedgerEntry,
  LedgerHeadView as LedgerHead,
  LedgerPageView as LedgerPage,
} from '../../../services/gateway/src/audit-view';
export type {
  GuestLinkView,
  IdentityCheckView,
  IdentityConfirmationView as IdentityConfirmation,
  IdentityConfirmedView,
  InvitedGuestView as InvitedGuest,
  ParticipantView as Participant,
  VisitDetailView as VisitDetail,
  VisitReadView,
  VisitSummaryListView,
  VisitSummaryView as VisitSummary,
} from '../../../services/gateway/src/staff-visit-view';
export type { StaffLiveMessage } from '../../../services/gateway/src/live-view';

/** Who the page is signed in as: `GET /api/me`, or the sign-in's role when that read failed. */
export type Me = Pick<MeView, 'role'> & Partial<Pick<MeView, 'idleTimeoutSec' | 'sub'>>;

/** The words the page uses for the roles. */
export const ROLE_LABELS: Readonly<Record<string, string>> = {
  admin: 'administrator',
  clinician: 'clinician',
  front_desk: 'front desk',
  auditor: 'auditor',
};
