import { given, iso } from '@haven/testing';
import { NotFoundError, PreconditionError } from '@haven/errors';
import { decideSsoAccount, mapRole, refusalOf, type SignInWithSso, type SsoAccountCommand } from './decide';
import {
  evolveSsoAccount,
  initialSsoAccountState,
  MAX_REMEMBERED_NONCES,
  type SsoAccountEvent,
  type SsoSignInRefused,
} from './sso-account';

const spec = { decide: decideSsoAccount, evolve: evolveSsoAccount, initialState: initialSsoAccountState };
const T0 = Date.parse('2026-04-01T08:00:00.000Z');
const H = (c: string) => c.repeat(64);
const profile = {
  providerId: 'northside',
  issuer: 'https://idp.northside.example',
  subject: 'u-4711',
  email: 'ada@northside.example',
  displayName: 'Ada Lovelace',
  username: 'ada@northside.example',
};
const roles = [
  { group: 'haven-admins', role: 'admin' as const },
  { group: 'clinicians', role: 'clinician' as const },
];
const signIn = (over: Partial<SignInWithSso['data']> = {}): SsoAccountCommand => ({
  type: 'SignInWithSso',
  data: {
    accountId: 'acc1',
    profile,
    groups: ['staff', 'clinicians'],
    roles,
    nonceHash: H('a'),
    linkedUserActive: true,
    sessionId: 's1',
    now: T0,
    ...over,
  },
});
const requested: SsoAccountEvent = {
  type: 'SsoAccountRequested',
  data: { ...profile, accountId: 'acc1', requestedRole: 'clinician', at: iso(T0) },
};
const pendingRefusal = (nonce: string): SsoAccountEvent => ({
  type: 'SsoSignInRefused',
  data: { accountId: 'acc1', reason: 'approval_pending', nonceHash: nonce, at: iso(T0) },
});
const approved: SsoAccountEvent = {
  type: 'SsoAccountApproved',
  data: { accountId: 'acc1', userId: 'sso-acc1', role: 'clinician', by: 'admin-1', at: iso(T0 + 1000) },
};

describe('mapRole', () => {
  it('gives the role of the first mapping whose group the user is in', () => {
    expect(mapRole(['clinicians', 'haven-admins'], roles)).toBe('admin');
    expect(mapRole(['clinicians'], roles)).toBe('clinician');
  });
  it('gives nothing for groups no mapping names (group names are exact)', () => {
    expect(mapRole(['Clinicians', 'staff'], roles)).toBeUndefined();
    expect(mapRole([], roles)).toBeUndefined();
  });
});

describe('SsoAccount', () => {
  describe('when an unknown subject signs in for the first time', () => {
    it('asks for an account with the mapped role and refuses until an admin approves', () => {
      given(spec, [])
        .when(signIn())
        .then([requested, pendingRefusal(H('a'))]);
    });

    it('refuses a user none of whose groups maps to a role, recording the groups, and asks for nothing', () => {
      const events = given(spec, [])
        .when(signIn({ groups: ['staff', 'volunteers'] }))
        .result();
      expect(events).toEqual([
        {
          type: 'SsoSignInRefused',
          data: {
            accountId: 'acc1',
            reason: 'no_mapped_role',
            groups: ['staff', 'volunteers'],
            nonceHash: H('a'),
            at: iso(T0),
          },
        },
      ]);
    });
  });

  describe('when the account is pending', () => {
    it('refuses again without asking twice', () => {
      given(spec, [requested, pendingRefusal(H('a'))])
        .when(signIn({ nonceHash: H('b') }))
        .then([pendingRefusal(H('b'))]);
    });
  });

  describe('when the account is approved', () => {
    const approvedHistory = [requested, pendingRefusal(H('a')), approved];

    it('signs the linked user in with the role the groups map to now', () => {
      given(spec, approvedHistory)
        .when(signIn({ nonceHash: H('b'), groups: ['haven-admins'] }))
        .then([
          {
            type: 'SsoSignInSucceeded',
            data: {
              accountId: 'acc1',
              userId: 'sso-acc1',
              sessionId: 's1',
              role: 'admin',
              nonceHash: H('b'),
              at: iso(T0),
            },
          },
        ]);
    });

    it('refuses a token whose nonce an earlier sign-in used (a replayed ID token)', () => {
      const events = given(spec, approvedHistory)
        .when(signIn({ nonceHash: H('a') }))
        .result();
      expect(refusalOf(events)?.data.reason).toBe('replayed');
      expect(events).toHaveLength(1);
    });

    it('refuses when the linked user is deactivated', () => {
      const events = given(spec, approvedHistory)
        .when(signIn({ nonceHash: H('c'), linkedUserActive: false }))
        .result();
      expect(refusalOf(events)?.data.reason).toBe('user_inactive');
    });

    it('refuses a user who left every mapped group', () => {
      const events = given(spec, approvedHistory)
        .when(signIn({ nonceHash: H('c'), groups: ['staff'] }))
        .result();
      expect(refusalOf(events)?.data.reason).toBe('no_mapped_role');
    });

    it('treats a retried approval of the same user as done, another user as a conflict', () => {
      given(spec, approvedHistory)
        .when({ type: 'ApproveSsoAccount', data: { userId: 'sso-acc1', by: 'admin-1', now: T0 } })
        .then([]);
      given(spec, approvedHistory)
        .when({ type: 'ApproveSsoAccount', data: { userId: 'other', by: 'admin-1', now: T0 } })
        .thenThrows(PreconditionError);
    });

    it('cannot be rejected (its user is deactivated instead)', () => {
      given(spec, approvedHistory)
        .when({ type: 'RejectSsoAccount', data: { reason: 'x', by: 'admin-1', now: T0 } })
        .thenThrows(PreconditionError, /deactivate/);
    });
  });

  describe('when an admin decides on a pending account', () => {
    it('approves with the requested role, or the one the admin chose', () => {
      given(spec, [requested])
        .when({
          type: 'ApproveSsoAccount',
          data: { userId: 'sso-acc1', by: 'admin-1', now: T0 + 1000 },
        })
        .then([approved]);
      const events = given(spec, [requested])
        .when({
          type: 'ApproveSsoAccount',
          data: { userId: 'sso-acc1', role: 'auditor', by: 'admin-1', now: T0 },
        })
        .result();
      expect(events[0]?.data).toMatchObject({ role: 'auditor' });
    });

    it('rejects, and the account’s sign-ins are refused from then on', () => {
      const rejected: SsoAccountEvent = {
        type: 'SsoAccountRejected',
        data: { accountId: 'acc1', reason: 'not staff', by: 'admin-1', at: iso(T0) },
      };
      given(spec, [requested])
        .when({ type: 'RejectSsoAccount', data: { reason: 'not staff', by: 'admin-1', now: T0 } })
        .then([rejected]);
      const events = given(spec, [requested, rejected])
        .when(signIn({ nonceHash: H('d') }))
        .result();
      expect(refusalOf(events)?.data.reason).toBe('rejected');
      given(spec, [requested, rejected])
        .when({ type: 'ApproveSsoAccount', data: { userId: 'sso-acc1', by: 'admin-1', now: T0 } })
        .thenThrows(PreconditionError);
    });

    it('finds no account no sign-in asked for', () => {
      given(spec, [])
        .when({ type: 'ApproveSsoAccount', data: { userId: 'u', by: 'admin-1', now: T0 } })
        .thenThrows(NotFoundError);
      given(spec, [])
        .when({ type: 'RejectSsoAccount', data: { reason: '', by: 'admin-1', now: T0 } })
        .thenThrows(NotFoundError);
    });
  });

  it('remembers the last nonces of refused and accepted sign-ins alike, even before an account exists', () => {
    const refusals: SsoSignInRefused[] = Array.from({ length: MAX_REMEMBERED_NONCES + 1 }, (_, i) => ({
      type: 'SsoSignInRefused',
      data: {
        accountId: 'acc1',
        reason: 'no_mapped_role',
        nonceHash: i.toString(16).padStart(64, '0'),
        at: iso(T0),
      },
    }));
    const last = refusals[refusals.length - 1]!.data.nonceHash;
    expect(
      refusalOf(
        given(spec, refusals)
          .when(signIn({ nonceHash: last }))
          .result(),
      )?.data.reason,
    ).toBe('replayed');
    const state = refusals.reduce(evolveSsoAccount, initialSsoAccountState);
    expect(state.usedNonces).toHaveLength(MAX_REMEMBERED_NONCES);
  });
});
