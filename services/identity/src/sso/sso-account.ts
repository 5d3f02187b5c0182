/**
 * The SsoAccount aggregate (`identity.sso-account-<id>`): one staff member as a clinic's OpenID provider knows
 * them, the pair (issuer, subject), and its way to a Haven user: requested by a first sign-in, approved (or
 * rejected) by an admin, then signed in with. Pure: no I/O, no Node builtins.
 *
 * Events carry no token: the ID token's nonce appears only as a SHA-256 digest (to refuse a replayed token).
 */
import type { Role } from '../user/user';

/** Why an SSO sign-in was refused, as recorded in `SsoSignInRefused`. */
export const SsoRefusalReason = {
  /** A first sign-in (or a later one) while an admin has not approved the account. */
  ApprovalPending: 'approval_pending',
  /** An admin rejected the account. */
  Rejected: 'rejected',
  /** None of the user's groups maps to a Haven role at this provider. */
  NoMappedRole: 'no_mapped_role',
  /** The linked user is deactivated (or gone). */
  UserInactive: 'user_inactive',
  /** The ID token's nonce was used by an earlier sign-in. */
  Replayed: 'replayed',
} as const;
export type SsoRefusalReason = (typeof SsoRefusalReason)[keyof typeof SsoRefusalReason];

/** `identity.sso-account-<id>`. */
export function ssoAccountStream(accountId: string): string {
  return `identity.sso-account-${accountId}`;
}

/** The directory of SSO account ids, in creation order (ListSsoAccounts). */
export const SSO_DIRECTORY_STREAM = 'identity.directory-sso-accounts';

/** The verified claims of a sign-in, as recorded with the request. */
export interface SsoProfile {
  readonly providerId: string;
  readonly issuer: string;
  readonly subject: string;
  readonly email: string;
  readonly displayName: string;
  readonly username: string;
}

export type SsoAccountRequested = {
  type: 'SsoAccountRequested';
  data: SsoProfile & { accountId: string; requestedRole: Role; at: string };
};
export type SsoAccountApproved = {
  type: 'SsoAccountApproved';
  data: { accountId: string; userId: string; role: Role; by: string; at: string };
};
export type SsoAccountRejected = {
  type: 'SsoAccountRejected';
  data: { accountId: string; reason: string; by: string; at: string };
};
export type SsoSignInSucceeded = {
  type: 'SsoSignInSucceeded';
  data: { accountId: string; userId: string; sessionId: string; role: Role; nonceHash: string; at: string };
};
export type SsoSignInRefused = {
  type: 'SsoSignInRefused';
  data: {
    accountId: string;
    reason: SsoRefusalReason;
    /** The groups the token carried when no group mapped (to tell the admin what the IdP sends). */
    groups?: string[];
    nonceHash: string;
    at: string;
  };
};

/** Every event of the SsoAccount aggregate. */
export type SsoAccountEvent =
  SsoAccountRequested | SsoAccountApproved | SsoAccountRejected | SsoSignInSucceeded | SsoSignInRefused;

/** How many used nonce digests an account remembers (ID tokens live minutes; sign-ins are rare). */
export const MAX_REMEMBERED_NONCES = 100;

export interface ExistingSsoAccount extends SsoProfile {
  readonly status: 'pending' | 'approved' | 'rejected';
  readonly accountId: string;
  readonly requestedRole: Role;
  /** The linked user, once approved. */
  readonly userId: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Digests of nonces already presented (newest last). */
  readonly usedNonces: readonly string[];
}
/** `none` may still remember nonces: refusals of an unknown subject with no mapped role are recorded too. */
export type SsoAccountState =
  { readonly status: 'none'; readonly usedNonces: readonly string[] } | ExistingSsoAccount;

export const initialSsoAccountState: SsoAccountState = { status: 'none', usedNonces: [] };

const remember = (nonces: readonly string[], nonceHash: string): readonly string[] =>
  [...nonces, nonceHash].slice(-MAX_REMEMBERED_NONCES);

/** Folds one event into the state. */
export function evolveSsoAccount(state: SsoAccountState, event: SsoAccountEvent): SsoAccountState {
  const at = Date.parse(event.data.at);
  switch (event.type) {
    case 'SsoAccountRequested': {
      const { at: _at, ...d } = event.data;
      return {
        ...d,
        status: 'pending',
        userId: null,
        createdAt: at,
        updatedAt: at,
        usedNonces: state.usedNonces,
      };
    }
    case 'SsoSignInRefused':
    case 'SsoSignInSucceeded':
      return state.status === 'none'
        ? { ...state, usedNonces: remember(state.usedNonces, event.data.nonceHash) }
        : { ...state, usedNonces: remember(state.usedNonces, event.data.nonceHash), updatedAt: at };
    case 'SsoAccountApproved':
      if (state.status === 'none') return state;
      return { ...state, status: 'approved', userId: event.data.userId, updatedAt: at };
    case 'SsoAccountRejected':
      if (state.status === 'none') return state;
      return { ...state, status: 'rejected', updatedAt: at };
  }
}

/** Folds a whole stream. */
export function foldSsoAccount(events: readonly SsoAccountEvent[]): SsoAccountState {
  return events.reduce(evolveSsoAccount, initialSsoAccountState);
}
