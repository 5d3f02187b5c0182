/**
 * SsoAccount commands and decide(): pure. The handler verifies the ID token (signature, issuer, audience, expiry,
 * nonce) and loads the linked user first, and hands in the results; this file decides who the token's subject is
 * to Haven: a pending request, a refusal, or a sign-in with the role the provider's groups map to.
 */
import { NotFoundError, PreconditionError } from '@haven/errors';
import type { Role } from '../user/user';
import {
  SsoRefusalReason,
  type SsoAccountEvent,
  type SsoAccountState,
  type SsoProfile,
  type SsoSignInRefused,
} from './sso-account';

/** One provider's group → role table, first match wins. */
export type RoleMappings = readonly { readonly group: string; readonly role: Role }[];

/** How many of a refused token's groups the refusal records. */
export const MAX_RECORDED_GROUPS = 20;

export type SignInWithSso = {
  type: 'SignInWithSso';
  data: {
    accountId: string;
    /** The verified ID token's claims. */
    profile: SsoProfile;
    /** The verified token's groups claim. */
    groups: readonly string[];
    roles: RoleMappings;
    /** SHA-256 (hex) of the token's nonce. */
    nonceHash: string;
    /** The linked user's status, loaded by the handler when the account is approved. */
    linkedUserActive: boolean;
    /** The id the new session will have. */
    sessionId: string;
    now: number;
  };
};
export type ApproveSsoAccount = {
  type: 'ApproveSsoAccount';
  data: { userId: string; role?: Role; by: string; now: number };
};
export type RejectSsoAccount = {
  type: 'RejectSsoAccount';
  data: { reason: string; by: string; now: number };
};

/** Every command of the SsoAccount aggregate. */
export type SsoAccountCommand = SignInWithSso | ApproveSsoAccount | RejectSsoAccount;

const iso = (ms: number): string => new Date(ms).toISOString();

/** The role the first mapping whose group the user is in gives, or undefined when none does. */
export function mapRole(groups: readonly string[], roles: RoleMappings): Role | undefined {
  const member = new Set(groups);
  return roles.find((m) => member.has(m.group))?.role;
}

/**
 * Decides which events a command produces. A sign-in never throws: its refusals are events
 * (`SsoSignInRefused`, see {@link refusalOf}). Approve and reject throw NotFoundError for an account no sign-in
 * asked for, PreconditionError when the account is not pending (a retried approval of the same user is no-op).
 */
export function decideSsoAccount(command: SsoAccountCommand, state: SsoAccountState): SsoAccountEvent[] {
  switch (command.type) {
    case 'SignInWithSso':
      return signIn(command.data, state);
    case 'ApproveSsoAccount':
      return approve(command.data, state);
    case 'RejectSsoAccount':
      return reject(command.data, state);
  }
}

function signIn(d: SignInWithSso['data'], state: SsoAccountState): SsoAccountEvent[] {
  const at = iso(d.now);
  const refused = (reason: SsoRefusalReason, groups?: string[]): SsoSignInRefused => ({
    type: 'SsoSignInRefused',
    data: {
      accountId: d.accountId,
      reason,
      ...(groups ? { groups } : {}),
      nonceHash: d.nonceHash,
      at,
    },
  });
  if (state.usedNonces.includes(d.nonceHash)) return [refused(SsoRefusalReason.Replayed)];
  const role = mapRole(d.groups, d.roles);
  if (role === undefined)
    return [refused(SsoRefusalReason.NoMappedRole, d.groups.slice(0, MAX_RECORDED_GROUPS))];
  switch (state.status) {
    case 'none':
      return [
        {
          type: 'SsoAccountRequested',
          data: { ...d.profile, accountId: d.accountId, requestedRole: role, at },
        },
        refused(SsoRefusalReason.ApprovalPending),
      ];
    case 'pending':
      return [refused(SsoRefusalReason.ApprovalPending)];
    case 'rejected':
      return [refused(SsoRefusalReason.Rejected)];
    case 'approved':
      if (state.userId === null || !d.linkedUserActive) return [refused(SsoRefusalReason.UserInactive)];
      return [
        {
          type: 'SsoSignInSucceeded',
          data: {
            accountId: d.accountId,
            userId: state.userId,
            sessionId: d.sessionId,
            role,
            nonceHash: d.nonceHash,
            at,
          },
        },
      ];
  }
}

function approve(d: ApproveSsoAccount['data'], state: SsoAccountState): SsoAccountEvent[] {
  if (state.status === 'none') throw new NotFoundError('SSO account not found');
  if (state.status === 'approved' && state.userId === d.userId) return [];
  if (state.status !== 'pending') throw new PreconditionError(`the SSO account is ${state.status}`);
  return [
    {
      type: 'SsoAccountApproved',
      data: {
        accountId: state.accountId,
        userId: d.userId,
        role: d.role ?? state.requestedRole,
        by: d.by,
        at: iso(d.now),
      },
    },
  ];
}

function reject(d: RejectSsoAccount['data'], state: SsoAccountState): SsoAccountEvent[] {
  if (state.status === 'none') throw new NotFoundError('SSO account not found');
  if (state.status === 'rejected') return [];
  if (state.status === 'approved')
    throw new PreconditionError('the SSO account is approved: deactivate its user instead');
  return [
    {
      type: 'SsoAccountRejected',
      data: { accountId: state.accountId, reason: d.reason.slice(0, 500), by: d.by, at: iso(d.now) },
    },
  ];
}

/** The refusal among a sign-in's events, or undefined when it succeeded. */
export function refusalOf(events: readonly SsoAccountEvent[]): SsoSignInRefused | undefined {
  return events.find((e): e is SsoSignInRefused => e.type === 'SsoSignInRefused');
}
