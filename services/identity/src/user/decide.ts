/**
 * User commands and decide(): pure. Anything that needs I/O or slow crypto (argon2 verification,
 * password-history comparison, TOTP checks, token hashing) is done by the handler first and handed
 * in as a precomputed result, so this file stays deterministic and fast to test.
 */
import {
  AlreadyExistsError,
  NotFoundError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
} from '@haven/errors';
import { type LockoutPolicy, lockDurationMs } from './lockout';
import {
  type LoginFailureReason,
  type Role,
  type UserProfile,
  type UserEvent,
  type UserState,
  type ExistingUser,
  LoginFailureReason as Reason,
  isLocked,
  isRole,
} from './user';

/** A new user as a command names them (checked and normalized into a UserProfile). */
export type NewUser = { userId: string; username: string; email: string; role: string; displayName: string };

export type InviteUser = {
  type: 'InviteUser';
  data: NewUser & {
    inviteTokenHash: string;
    inviteExpiresAt: number;
    now: number;
  };
};
/** Create an active user for an approved SSO account (no password, no invitation). */
export type ProvisionUser = {
  type: 'ProvisionUser';
  data: NewUser & { ssoAccountId: string; now: number };
};
/** Accept an invitation; the handler has already checked the new password against the policy. */
export type ActivateUser = { type: 'ActivateUser'; data: { inviteTokenHash: string; now: number } };
export type DeactivateUser = {
  type: 'DeactivateUser';
  data: { actorId: string; reason: string; now: number };
};
export type ReactivateUser = { type: 'ReactivateUser'; data: { now: number } };
export type ChangeUserRole = { type: 'ChangeUserRole'; data: { actorId: string; role: string; now: number } };
export type ChangePassword = {
  type: 'ChangePassword';
  data: {
    /** `self`: the user proved the current password; `admin_reset`: an admin set it. */
    verification: { kind: 'self'; currentPasswordValid: boolean } | { kind: 'admin_reset' };
    /** True when the new password matches one of the last N hashes (computed by the handler). */
    reusesRecentPassword: boolean;
    now: number;
  };
};
export type RecordLoginSuccess = {
  type: 'RecordLoginSuccess';
  data: { sessionId: string; mfa: boolean; now: number };
};
export type RecordLoginFailure = {
  type: 'RecordLoginFailure';
  data: { reason: Exclude<LoginFailureReason, 'account_locked'>; policy: LockoutPolicy; now: number };
};
/**
 * `secretStored`: the credential stream has stored the new secret already, so this step records what it can and
 * never refuses (a deactivation or confirmation that raced in between wins; the enrollment stays answered).
 */
export type StartTotpEnrollment = {
  type: 'StartTotpEnrollment';
  data: { now: number; secretStored?: boolean };
};
export type ConfirmTotp = { type: 'ConfirmTotp'; data: { codeValid: boolean; now: number } };
export type ResetMfa = { type: 'ResetMfa'; data: { by: string; now: number } };
/** A recovery code was consumed at login (the handler matched it); `remaining` unused codes are left. */
export type RecordRecoveryCodeUse = {
  type: 'RecordRecoveryCodeUse';
  data: { remaining: number; now: number };
};

/** Every command of the User aggregate. */
export type UserCommand =
  | InviteUser
  | ProvisionUser
  | ActivateUser
  | DeactivateUser
  | ReactivateUser
  | ChangeUserRole
  | ChangePassword
  | RecordLoginSuccess
  | RecordLoginFailure
  | StartTotpEnrollment
  | ConfirmTotp
  | ResetMfa
  | RecordRecoveryCodeUse;

const USERNAME = /^[a-z0-9][a-z0-9._@+-]{2,253}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const iso = (ms: number): string => new Date(ms).toISOString();

function existing(state: UserState): ExistingUser {
  if (state.status === 'none') throw new NotFoundError('user not found');
  return state;
}

/** Constant-time comparison of two equal-length hex digests (pure, no node:crypto). */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Decides which events a command produces in the given state.
 * Throws ValidationError on bad input, NotFoundError when the user does not exist,
 * AlreadyExistsError when inviting a user that exists, PreconditionError when the user is not in a state
 * that allows the command, and
 * UnauthenticatedError when a proof (invite token, current password) is wrong.
 * A rejected command produces no events.
 */
export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  if (command.type === 'InviteUser') return invite(command.data, state);
  if (command.type === 'ProvisionUser') return provision(command.data, state);
  return onExisting(command, existing(state));
}

/** The data of each command on a user that exists, by command type. */
type OnExisting = { [C in Exclude<UserCommand, InviteUser | ProvisionUser> as C['type']]: C['data'] };

/** The decision of each command on a user that exists. */
const ON_EXISTING: {
  readonly [K in keyof OnExisting]: (data: OnExisting[K], user: ExistingUser) => UserEvent[];
} = {
  ActivateUser: activate,
  DeactivateUser: deactivate,
  ReactivateUser: reactivate,
  ChangeUserRole: changeRole,
  ChangePassword: changePassword,
  RecordLoginSuccess: loginSucceeded,
  RecordLoginFailure: loginFailed,
  StartTotpEnrollment: startTotpEnrollment,
  ConfirmTotp: confirmTotp,
  RecordRecoveryCodeUse: recoveryCodeUsed,
  ResetMfa: resetMfa,
};

function onExisting<K extends keyof OnExisting>(
  command: { readonly type: K; readonly data: OnExisting[K] },
  user: ExistingUser,
): UserEvent[] {
  return ON_EXISTING[command.type](command.data, user);
}

/**
 * A new user's profile as UserInvited and UserProvisioned record it: username and email trimmed and lower case,
 * the display name trimmed. Throws ValidationError (username, email, role, display name).
 */
function newUserProfile(d: NewUser): UserProfile {
  const violations: { field: string; description: string }[] = [];
  const email = d.email.trim().toLowerCase();
  const username = d.username.trim().toLowerCase();
  if (!USERNAME.test(username)) {
    violations.push({
      field: 'username',
      description: '3–254 characters: letters, digits and . _ @ + -',
    });
  }
  if (!EMAIL.test(email) || email.length > 254)
    violations.push({ field: 'email', description: 'must be an email address' });
  if (!isRole(d.role))
    violations.push({
      field: 'role',
      description: 'must be one of admin, clinician, front_desk, auditor',
    });
  if (d.displayName.length > 200)
    violations.push({ field: 'display_name', description: 'at most 200 characters' });
  if (violations.length > 0) throw new ValidationError(violations);
  return { userId: d.userId, username, email, role: d.role as Role, displayName: d.displayName.trim() };
}

function invite(d: InviteUser['data'], state: UserState): UserEvent[] {
  if (state.status !== 'none') throw new AlreadyExistsError('user already exists');
  const data = {
    ...newUserProfile(d),
    inviteTokenHash: d.inviteTokenHash,
    inviteExpiresAt: iso(d.inviteExpiresAt),
    at: iso(d.now),
  };
  return [{ type: 'UserInvited', data }];
}

function provision(d: ProvisionUser['data'], state: UserState): UserEvent[] {
  // A retried approval finds its user already provisioned: nothing more to record.
  if (state.status !== 'none') return [];
  const data = { ...newUserProfile(d), ssoAccountId: d.ssoAccountId, at: iso(d.now) };
  return [{ type: 'UserProvisioned', data }];
}

function activate(d: ActivateUser['data'], s: ExistingUser): UserEvent[] {
  if (s.status !== 'invited') throw new PreconditionError('user is not awaiting activation');
  if (s.inviteTokenHash === null || !digestsEqual(s.inviteTokenHash, d.inviteTokenHash)) {
    throw new UnauthenticatedError('invalid invite token');
  }
  if (s.inviteExpiresAt !== null && s.inviteExpiresAt <= d.now)
    throw new PreconditionError('invite token expired');
  return [
    { type: 'UserActivated', data: { userId: s.userId, at: iso(d.now) } },
    { type: 'PasswordChanged', data: { userId: s.userId, by: 'activation', at: iso(d.now) } },
  ];
}

function deactivate(d: DeactivateUser['data'], s: ExistingUser): UserEvent[] {
  if (d.actorId === s.userId) throw new PreconditionError('you cannot deactivate your own account');
  if (s.status === 'deactivated') return [];
  return [
    {
      type: 'UserDeactivated',
      data: { userId: s.userId, reason: d.reason.slice(0, 500), at: iso(d.now) },
    },
  ];
}

function reactivate(d: ReactivateUser['data'], s: ExistingUser): UserEvent[] {
  if (s.status !== 'deactivated') return [];
  if (s.activatedAt === null) throw new PreconditionError('user never activated; invite again');
  return [{ type: 'UserReactivated', data: { userId: s.userId, at: iso(d.now) } }];
}

function changeRole(d: ChangeUserRole['data'], s: ExistingUser): UserEvent[] {
  if (!isRole(d.role)) {
    throw new ValidationError([
      { field: 'role', description: 'must be one of admin, clinician, front_desk, auditor' },
    ]);
  }
  if (s.status === 'deactivated') throw new PreconditionError('user is deactivated');
  if (d.actorId === s.userId) throw new PreconditionError('you cannot change your own role');
  if (s.role === d.role) return [];
  return [{ type: 'UserRoleChanged', data: { userId: s.userId, from: s.role, to: d.role, at: iso(d.now) } }];
}

function changePassword(d: ChangePassword['data'], s: ExistingUser): UserEvent[] {
  if (s.status !== 'active') throw new PreconditionError('user is not active');
  if (d.verification.kind === 'self' && !d.verification.currentPasswordValid) {
    throw new UnauthenticatedError('current password is wrong');
  }
  if (d.reusesRecentPassword) {
    throw new ValidationError([
      { field: 'new_password', description: 'must not reuse one of your recent passwords' },
    ]);
  }
  const by = d.verification.kind === 'self' ? 'self' : 'admin_reset';
  return [{ type: 'PasswordChanged', data: { userId: s.userId, by, at: iso(d.now) } }];
}

function loginSucceeded(d: RecordLoginSuccess['data'], s: ExistingUser): UserEvent[] {
  if (s.status !== 'active') throw new PreconditionError('user is not active');
  if (isLocked(s, d.now)) throw new PreconditionError('account is locked');
  return [
    {
      type: 'LoginSucceeded',
      data: { userId: s.userId, sessionId: d.sessionId, mfa: d.mfa, at: iso(d.now) },
    },
  ];
}

function loginFailed(d: RecordLoginFailure['data'], s: ExistingUser): UserEvent[] {
  if (isLocked(s, d.now)) {
    // Attempts during a lock are recorded but neither counted nor extend the lock.
    return [
      {
        type: 'LoginFailed',
        data: {
          userId: s.userId,
          reason: Reason.AccountLocked,
          consecutiveFailures: s.consecutiveFailures,
          at: iso(d.now),
        },
      },
    ];
  }
  const failures = s.consecutiveFailures + 1;
  const events: UserEvent[] = [
    {
      type: 'LoginFailed',
      data: { userId: s.userId, reason: d.reason, consecutiveFailures: failures, at: iso(d.now) },
    },
  ];
  const lockMs = lockDurationMs(d.policy, failures);
  if (lockMs > 0) {
    events.push({
      type: 'AccountLocked',
      data: {
        userId: s.userId,
        lockedUntil: iso(d.now + lockMs),
        consecutiveFailures: failures,
        at: iso(d.now),
      },
    });
  }
  return events;
}

function startTotpEnrollment(d: StartTotpEnrollment['data'], s: ExistingUser): UserEvent[] {
  if (d.secretStored === true && (s.status !== 'active' || s.mfa !== 'none')) return [];
  if (s.status !== 'active') throw new PreconditionError('user is not active');
  if (s.mfa === 'totp') throw new PreconditionError('TOTP already enrolled; reset it first');
  // A new secret for a pending enrollment changes nothing here (the credential stream records it): so a
  // retried or concurrent enrollment cannot fail on this stream after its secret was stored.
  if (s.mfa === 'pending') return [];
  return [{ type: 'MfaEnrollmentStarted', data: { userId: s.userId, method: 'totp', at: iso(d.now) } }];
}

function confirmTotp(d: ConfirmTotp['data'], s: ExistingUser): UserEvent[] {
  if (s.mfa !== 'pending') throw new PreconditionError('no TOTP enrollment in progress');
  if (!d.codeValid) throw new ValidationError([{ field: 'code', description: 'code does not match' }]);
  return [{ type: 'MfaEnrolled', data: { userId: s.userId, method: 'totp', at: iso(d.now) } }];
}

function recoveryCodeUsed(d: RecordRecoveryCodeUse['data'], s: ExistingUser): UserEvent[] {
  if (s.mfa !== 'totp') throw new PreconditionError('MFA is not enrolled');
  return [
    {
      type: 'RecoveryCodeUsed',
      data: { userId: s.userId, remaining: Math.max(0, d.remaining), at: iso(d.now) },
    },
  ];
}

function resetMfa(d: ResetMfa['data'], s: ExistingUser): UserEvent[] {
  if (s.mfa === 'none') return [];
  return [{ type: 'MfaReset', data: { userId: s.userId, by: d.by, at: iso(d.now) } }];
}
