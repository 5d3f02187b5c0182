/**
 * The admin console's JSON: staff users, an invitation, the usage report (`/api/users`, `/api/usage`), and the
 * dev stack's caught mail (`/api/dev/mail`). Types only;
 * its imports are the other import-free view modules: the browser app (web/src/admin/types.ts) imports this file
 * as well, so each wire shape has one definition.
 */
import type { StaffRoleName } from './account-view';

/** A staff user's state word. */
export type UserStateName = 'invited' | 'active' | 'locked' | 'disabled' | 'unknown';

/** A staff user as the admin console reads it (`GET /api/users`; no credentials). */
export interface StaffUserView {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
  readonly email: string;
  readonly role: StaffRoleName | 'unknown';
  readonly state: UserStateName;
  readonly mfaEnrolled: boolean;
  readonly createTime: string | null;
  readonly lastLoginTime: string | null;
}

/** `GET /api/users`: every staff user. */
export interface StaffUserListView {
  readonly users: readonly StaffUserView[];
}

/** `POST /api/users`: the invitation, shown once. */
export interface InvitationView {
  readonly user: StaffUserView | null;
  readonly invitationToken: string;
  readonly invitationExpireTime: string | null;
  /** The page that activates it; the token rides in the fragment, so it never reaches a server log. */
  readonly activationPath: string;
}

/** `POST /api/auth/activate`: the username the invited person signs in with from now on. */
export interface ActivationView {
  readonly username: string;
}

/** Appointment counts of `GET /api/usage`. */
export interface UsageCountsView {
  readonly appointments: number;
  readonly completed: number;
  readonly noShows: number;
  readonly cancelled: number;
  readonly completedMinutes: number;
}

/** `GET /api/usage`: the clinic's counts and each clinician's (counts only, no PHI). */
export interface UsageReportView {
  readonly total: UsageCountsView;
  readonly clinicians: ReadonlyArray<UsageCountsView & { readonly clinicianId: string }>;
}

/** A message the dev stack's mail catcher caught (`GET /api/dev/mail`; the dev stack only). */
export interface CaughtMailView {
  readonly id: string;
  /** The recipients, comma-separated. */
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly receivedAt: string;
}

/** `GET /api/dev/mail`: the newest caught messages first. */
export interface CaughtMailListView {
  readonly messages: readonly CaughtMailView[];
}
