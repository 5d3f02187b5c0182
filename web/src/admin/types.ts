/** The gateway's JSON for the admin console (services/gateway/src/routes/users.ts, message-templates.ts). */
import type { Role } from '../staff/types';

/** A staff user's state word. */
export type UserState = 'invited' | 'active' | 'locked' | 'disabled' | 'unknown';

/** GET /api/users */
export interface StaffUser {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
  readonly email: string;
  readonly role: Role | 'unknown';
  readonly state: UserState;
  readonly mfaEnrolled: boolean;
  readonly createTime: string | null;
  readonly lastLoginTime: string | null;
}

/** POST /api/users: the invitation, shown once. */
export interface Invitation {
  readonly user: StaffUser | null;
  readonly invitationToken: string;
  readonly invitationExpireTime: string | null;
  readonly activationPath: string;
}

/** Appointment counts of GET /api/usage. */
export interface UsageCounts {
  readonly appointments: number;
  readonly completed: number;
  readonly noShows: number;
  readonly cancelled: number;
  readonly completedMinutes: number;
}

/** GET /api/usage */
export interface UsageReport {
  readonly total: UsageCounts;
  readonly clinicians: ReadonlyArray<UsageCounts & { readonly clinicianId: string }>;
}
