/**
 * The User aggregate: events, state and evolve. Pure: no I/O, no Node builtins.
 *
 * A user's stream is `identity.user-<userId>`. Its events never carry a password, a password
 * hash, a TOTP secret or an invite token: secrets live in the credential stream
 * (`identity.credential-<userId>`, see ../credential/credential.ts) which is never published on
 * the bus. Invite tokens appear here only as a SHA-256 digest of a 256-bit random token.
 */
import { ROLES, Role } from '@haven/auth';

/** Staff roles (the access policy's own list). Patients and service accounts are principals, not users with a role. */
export { ROLES, Role };

/** True when `value` names a {@link Role}. */
export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Why a login attempt failed, as recorded in `LoginFailed`. */
export const LoginFailureReason = {
  BadPassword: 'bad_password',
  BadMfaCode: 'bad_mfa_code',
  AccountLocked: 'account_locked',
  NotActive: 'not_active',
} as const;
export type LoginFailureReason = (typeof LoginFailureReason)[keyof typeof LoginFailureReason];

/** `identity.user-<userId>`. */
export function userStream(userId: string): string {
  return `identity.user-${userId}`;
}

/** Who a new user is: what UserInvited and UserProvisioned both record. */
export type UserProfile = {
  userId: string;
  /** Unique login name, lower case. */
  username: string;
  email: string;
  role: Role;
  displayName: string;
};

export type UserInvited = {
  type: 'UserInvited';
  data: UserProfile & {
    /** Hex SHA-256 of the invite token; the token itself is handed to the invitee only. */
    inviteTokenHash: string;
    inviteExpiresAt: string;
    at: string;
  };
};
/** A user created active by an SSO account's approval: no password, they sign in at their clinic's IdP. */
export type UserProvisioned = {
  type: 'UserProvisioned';
  data: UserProfile & {
    /** The SSO account it came from (`ssoAccounts/{id}` without the collection). */
    ssoAccountId: string;
    at: string;
  };
};
export type UserActivated = { type: 'UserActivated'; data: { userId: string; at: string } };
export type UserDeactivated = {
  type: 'UserDeactivated';
  data: { userId: string; reason: string; at: string };
};
export type UserReactivated = { type: 'UserReactivated'; data: { userId: string; at: string } };
export type UserRoleChanged = {
  type: 'UserRoleChanged';
  data: { userId: string; from: Role; to: Role; at: string };
};
export type PasswordChanged = {
  type: 'PasswordChanged';
  data: { userId: string; by: 'self' | 'activation' | 'admin_reset'; at: string };
};
export type LoginSucceeded = {
  type: 'LoginSucceeded';
  data: { userId: string; sessionId: string; mfa: boolean; at: string };
};
export type LoginFailed = {
  type: 'LoginFailed';
  data: { userId: string; reason: LoginFailureReason; consecutiveFailures: number; at: string };
};
export type AccountLocked = {
  type: 'AccountLocked';
  data: { userId: string; lockedUntil: string; consecutiveFailures: number; at: string };
};
export type MfaEnrollmentStarted = {
  type: 'MfaEnrollmentStarted';
  data: { userId: string; method: 'totp'; at: string };
};
export type MfaEnrolled = { type: 'MfaEnrolled'; data: { userId: string; method: 'totp'; at: string } };
export type MfaReset = { type: 'MfaReset'; data: { userId: string; by: string; at: string } };
/** A one-time recovery code replaced the TOTP code at login (never the code itself). */
export type RecoveryCodeUsed = {
  type: 'RecoveryCodeUsed';
  data: { userId: string; remaining: number; at: string };
};

/** Every event of the User aggregate. */
export type UserEvent =
  | UserInvited
  | UserProvisioned
  | UserActivated
  | UserDeactivated
  | UserReactivated
  | UserRoleChanged
  | PasswordChanged
  | LoginSucceeded
  | LoginFailed
  | AccountLocked
  | MfaEnrollmentStarted
  | MfaEnrolled
  | MfaReset
  | RecoveryCodeUsed;

/** The event type names, for mapping to `haven.identity.v1.<Type>`. */
export type UserEventType = UserEvent['type'];

export type UserStatus = 'invited' | 'active' | 'deactivated';

/** What a user's stream folds into. `undefined` fields are simply absent. */
export interface ExistingUser {
  readonly status: UserStatus;
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly displayName: string;
  readonly role: Role;
  readonly inviteTokenHash: string | null;
  readonly inviteExpiresAt: number | null;
  readonly createdAt: number;
  readonly activatedAt: number | null;
  readonly passwordChangedAt: number | null;
  /** Failed password attempts since the last success. */
  readonly consecutiveFailures: number;
  readonly lockedUntil: number | null;
  readonly mfa: 'none' | 'pending' | 'totp';
  /** Recent session ids (newest last, at most {@link MAX_TRACKED_SESSIONS}), for revocation. */
  readonly sessionIds: readonly string[];
  readonly lastLoginAt: number | null;
  /** Time of the last event. */
  readonly updatedAt: number;
}
export type UserState = { readonly status: 'none' } | ExistingUser;

/** How many session ids a user's state remembers for revocation. */
export const MAX_TRACKED_SESSIONS = 50;

export const initialUserState: UserState = { status: 'none' };

/** A user created at `at` (invited or provisioned): never signed in, no MFA, nothing locked. */
function createdUser(
  d: UserProfile,
  at: number,
): Omit<ExistingUser, 'status' | 'inviteTokenHash' | 'inviteExpiresAt' | 'activatedAt'> {
  return {
    userId: d.userId,
    username: d.username,
    email: d.email,
    displayName: d.displayName,
    role: d.role,
    createdAt: at,
    passwordChangedAt: null,
    consecutiveFailures: 0,
    lockedUntil: null,
    mfa: 'none',
    sessionIds: [],
    lastLoginAt: null,
    updatedAt: at,
  };
}

/** Folds one event into the state. Unknown transitions keep the state (events are facts). */
export function evolveUser(state: UserState, event: UserEvent): UserState {
  const at = Date.parse(event.data.at);
  if (event.type === 'UserInvited') {
    const d = event.data;
    return {
      ...createdUser(d, at),
      status: 'invited',
      inviteTokenHash: d.inviteTokenHash,
      inviteExpiresAt: Date.parse(d.inviteExpiresAt),
      activatedAt: null,
    };
  }
  if (event.type === 'UserProvisioned') {
    if (state.status !== 'none') return state;
    return {
      ...createdUser(event.data, at),
      status: 'active',
      inviteTokenHash: null,
      inviteExpiresAt: null,
      activatedAt: at,
    };
  }
  if (state.status === 'none') return state;
  return { ...evolveExisting(state, event), updatedAt: at };
}

function evolveExisting(
  state: ExistingUser,
  event: Exclude<UserEvent, UserInvited | UserProvisioned>,
): ExistingUser {
  const at = Date.parse(event.data.at);
  switch (event.type) {
    case 'UserActivated':
      return { ...state, status: 'active', activatedAt: at, inviteTokenHash: null, inviteExpiresAt: null };
    case 'UserDeactivated':
      return { ...state, status: 'deactivated' };
    case 'UserReactivated':
      return { ...state, status: 'active', consecutiveFailures: 0, lockedUntil: null };
    case 'UserRoleChanged':
      return { ...state, role: event.data.to };
    case 'PasswordChanged':
      return { ...state, passwordChangedAt: at };
    case 'LoginSucceeded':
      return {
        ...state,
        consecutiveFailures: 0,
        lockedUntil: null,
        lastLoginAt: at,
        sessionIds: [...state.sessionIds, event.data.sessionId].slice(-MAX_TRACKED_SESSIONS),
      };
    case 'LoginFailed':
      return { ...state, consecutiveFailures: event.data.consecutiveFailures };
    case 'AccountLocked':
      return { ...state, lockedUntil: Date.parse(event.data.lockedUntil) };
    case 'MfaEnrollmentStarted':
      return state.mfa === 'totp' ? state : { ...state, mfa: 'pending' };
    case 'MfaEnrolled':
      return { ...state, mfa: 'totp' };
    case 'MfaReset':
      return { ...state, mfa: 'none' };
    case 'RecoveryCodeUsed':
      return state;
  }
}

/** Folds a whole stream. */
export function foldUser(events: readonly UserEvent[]): UserState {
  return events.reduce(evolveUser, initialUserState);
}

/** True while the account is locked at `now` (epoch ms). */
export function isLocked(state: UserState, now: number): boolean {
  return state.status !== 'none' && state.lockedUntil !== null && state.lockedUntil > now;
}
