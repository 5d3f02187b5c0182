import { commandWith, given, iso } from '@haven/testing';
import {
  AlreadyExistsError,
  NotFoundError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
} from '@haven/errors';
import { decideUser, type UserCommand } from './decide';
import { DEFAULT_LOCKOUT_POLICY, lockDurationMs } from './lockout';
import { evolveUser, foldUser, initialUserState, type UserEvent } from './user';

const spec = { decide: decideUser, evolve: evolveUser, initialState: initialUserState };

const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const HASH = 'a'.repeat(64);
const invited: UserEvent = {
  type: 'UserInvited',
  data: {
    userId: 'u1',
    username: 'dr.rivera@demo.clinic',
    email: 'dr.rivera@demo.clinic',
    role: 'clinician',
    displayName: 'Dr Rivera',
    inviteTokenHash: HASH,
    inviteExpiresAt: iso(T0 + 86_400_000),
    at: iso(T0),
  },
};
const activated: UserEvent[] = [
  { type: 'UserActivated', data: { userId: 'u1', at: iso(T0 + 1000) } },
  { type: 'PasswordChanged', data: { userId: 'u1', by: 'activation', at: iso(T0 + 1000) } },
];
const active = [invited, ...activated];
const failure = (n: number, at = T0 + 10_000): UserEvent => ({
  type: 'LoginFailed',
  data: { userId: 'u1', reason: 'bad_password', consecutiveFailures: n, at: iso(at) },
});
const fail = (now: number): UserCommand => ({
  type: 'RecordLoginFailure',
  data: { reason: 'bad_password', policy: DEFAULT_LOCKOUT_POLICY, now },
});

describe('User decider', () => {
  describe('InviteUser', () => {
    const invite = commandWith<UserCommand, 'InviteUser'>('InviteUser', {
      userId: 'u1',
      username: 'Dr.Rivera@demo.clinic',
      email: ' Dr.Rivera@Demo.Clinic ',
      role: 'clinician',
      displayName: 'Dr Rivera',
      inviteTokenHash: HASH,
      inviteExpiresAt: T0 + 86_400_000,
      now: T0,
    });
    it('invites a new user with a normalised email', () => {
      given(spec, []).when(invite()).then([invited]);
    });
    it('refuses an unknown role and a malformed email together', () => {
      const events = () =>
        given(spec, [])
          .when(invite({ role: 'superuser', email: 'nope', username: 'a b' }))
          .result();
      expect(events).toThrow(ValidationError);
      try {
        events();
      } catch (error) {
        expect((error as ValidationError).violations.map((v) => v.field)).toEqual([
          'username',
          'email',
          'role',
        ]);
      }
    });
    it('refuses to invite twice', () => {
      given(spec, [invited])
        .when(invite())
        .thenThrows(AlreadyExistsError, /already exists/);
    });
  });

  describe('ActivateUser', () => {
    it('activates with the right token and records the first password', () => {
      given(spec, [invited])
        .when({ type: 'ActivateUser', data: { inviteTokenHash: HASH, now: T0 + 1000 } })
        .then(activated);
    });
    it('refuses a wrong token', () => {
      given(spec, [invited])
        .when({ type: 'ActivateUser', data: { inviteTokenHash: 'b'.repeat(64), now: T0 + 1000 } })
        .thenThrows(UnauthenticatedError);
    });
    it('refuses an expired invite', () => {
      given(spec, [invited])
        .when({ type: 'ActivateUser', data: { inviteTokenHash: HASH, now: T0 + 86_400_001 } })
        .thenThrows(PreconditionError, /expired/);
    });
    it('refuses to activate twice', () => {
      given(spec, active)
        .when({ type: 'ActivateUser', data: { inviteTokenHash: HASH, now: T0 + 2000 } })
        .thenThrows(PreconditionError);
    });
    it('refuses an unknown user', () => {
      given(spec, [])
        .when({ type: 'ActivateUser', data: { inviteTokenHash: HASH, now: T0 } })
        .thenThrows(NotFoundError);
    });
  });

  describe('DeactivateUser and ChangeUserRole', () => {
    it('deactivates, and a second deactivation is a no-op', () => {
      const deactivated: UserEvent = {
        type: 'UserDeactivated',
        data: { userId: 'u1', reason: 'left', at: iso(T0 + 5000) },
      };
      const cmd: UserCommand = {
        type: 'DeactivateUser',
        data: { actorId: 'admin', reason: 'left', now: T0 + 5000 },
      };
      given(spec, active).when(cmd).then([deactivated]);
      given(spec, [...active, deactivated])
        .when(cmd)
        .then([]);
    });
    it('refuses to deactivate yourself', () => {
      given(spec, active)
        .when({ type: 'DeactivateUser', data: { actorId: 'u1', reason: '', now: T0 } })
        .thenThrows(PreconditionError, /own account/);
    });
    it('changes the role', () => {
      given(spec, active)
        .when({ type: 'ChangeUserRole', data: { actorId: 'admin', role: 'front_desk', now: T0 + 5000 } })
        .then([
          {
            type: 'UserRoleChanged',
            data: { userId: 'u1', from: 'clinician', to: 'front_desk', at: iso(T0 + 5000) },
          },
        ]);
    });
    it('does nothing for the same role and refuses an unknown one', () => {
      given(spec, active)
        .when({ type: 'ChangeUserRole', data: { actorId: 'admin', role: 'clinician', now: T0 } })
        .then([]);
      given(spec, active)
        .when({ type: 'ChangeUserRole', data: { actorId: 'admin', role: 'root', now: T0 } })
        .thenThrows(ValidationError);
    });
  });

  describe('ChangePassword', () => {
    const change = (currentPasswordValid: boolean, reusesRecentPassword: boolean): UserCommand => ({
      type: 'ChangePassword',
      data: { verification: { kind: 'self', currentPasswordValid }, reusesRecentPassword, now: T0 + 9000 },
    });
    it('changes the password when the current one is proven', () => {
      given(spec, active)
        .when(change(true, false))
        .then([{ type: 'PasswordChanged', data: { userId: 'u1', by: 'self', at: iso(T0 + 9000) } }]);
    });
    it('refuses a wrong current password', () => {
      given(spec, active).when(change(false, false)).thenThrows(UnauthenticatedError);
    });
    it('refuses reuse of a recent password', () => {
      given(spec, active)
        .when(change(true, true))
        .thenThrows(ValidationError, /recent passwords/);
    });
    it('refuses for a user who has not activated', () => {
      given(spec, [invited]).when(change(true, false)).thenThrows(PreconditionError);
    });
  });

  describe('login failures and lockout', () => {
    it('counts a failure', () => {
      given(spec, active)
        .when(fail(T0 + 10_000))
        .then([failure(1)]);
    });
    it('locks for one minute on the fifth failure', () => {
      given(spec, [...active, failure(1), failure(2), failure(3), failure(4)])
        .when(fail(T0 + 10_000))
        .then([
          failure(5),
          {
            type: 'AccountLocked',
            data: {
              userId: 'u1',
              lockedUntil: iso(T0 + 70_000),
              consecutiveFailures: 5,
              at: iso(T0 + 10_000),
            },
          },
        ]);
    });
    it('records attempts during a lock without counting them', () => {
      const locked: UserEvent = {
        type: 'AccountLocked',
        data: { userId: 'u1', lockedUntil: iso(T0 + 70_000), consecutiveFailures: 5, at: iso(T0 + 10_000) },
      };
      given(spec, [...active, failure(5), locked])
        .when(fail(T0 + 20_000))
        .then([
          {
            type: 'LoginFailed',
            data: { userId: 'u1', reason: 'account_locked', consecutiveFailures: 5, at: iso(T0 + 20_000) },
          },
        ]);
    });
    it('doubles the lock after it expires, and refuses success while locked', () => {
      const locked: UserEvent = {
        type: 'AccountLocked',
        data: { userId: 'u1', lockedUntil: iso(T0 + 70_000), consecutiveFailures: 5, at: iso(T0 + 10_000) },
      };
      const events = given(spec, [...active, failure(5), locked])
        .when(fail(T0 + 80_000))
        .result();
      expect(events[1]).toEqual({
        type: 'AccountLocked',
        data: {
          userId: 'u1',
          lockedUntil: iso(T0 + 80_000 + 120_000),
          consecutiveFailures: 6,
          at: iso(T0 + 80_000),
        },
      });
      given(spec, [...active, failure(5), locked])
        .when({ type: 'RecordLoginSuccess', data: { sessionId: 's1', mfa: false, now: T0 + 30_000 } })
        .thenThrows(PreconditionError, /locked/);
    });
    it('caps the back-off at one hour', () => {
      expect(lockDurationMs(DEFAULT_LOCKOUT_POLICY, 4)).toBe(0);
      expect(lockDurationMs(DEFAULT_LOCKOUT_POLICY, 5)).toBe(60_000);
      expect(lockDurationMs(DEFAULT_LOCKOUT_POLICY, 7)).toBe(240_000);
      expect(lockDurationMs(DEFAULT_LOCKOUT_POLICY, 11)).toBe(3_600_000);
      expect(lockDurationMs(DEFAULT_LOCKOUT_POLICY, 500)).toBe(3_600_000);
      expect(lockDurationMs({ threshold: 3, baseLockMs: 10, multiplier: 3, maxLockMs: 1000 }, 5)).toBe(90);
    });
    it('a success resets the count and remembers the session', () => {
      const state = foldUser([
        ...active,
        failure(3),
        { type: 'LoginSucceeded', data: { userId: 'u1', sessionId: 's1', mfa: false, at: iso(T0 + 20_000) } },
      ]);
      expect(state).toMatchObject({
        consecutiveFailures: 0,
        sessionIds: ['s1'],
        lockedUntil: null,
        updatedAt: T0 + 20_000,
      });
    });
  });

  describe('TOTP', () => {
    const started: UserEvent = {
      type: 'MfaEnrollmentStarted',
      data: { userId: 'u1', method: 'totp', at: iso(T0) },
    };
    it('enrolls after a correct code', () => {
      given(spec, active)
        .when({ type: 'StartTotpEnrollment', data: { now: T0 } })
        .then([started]);
      given(spec, [...active, started])
        .when({ type: 'ConfirmTotp', data: { codeValid: true, now: T0 } })
        .then([{ type: 'MfaEnrolled', data: { userId: 'u1', method: 'totp', at: iso(T0) } }]);
    });
    it('records nothing when an enrollment is already pending (the new secret lives in the credential stream)', () => {
      given(spec, [...active, started])
        .when({ type: 'StartTotpEnrollment', data: { now: T0 } })
        .then([]);
    });
    it('records what it can once the secret is stored, and never refuses then', () => {
      const deactivated = {
        type: 'UserDeactivated',
        data: { userId: 'u1', reason: '', at: iso(T0) },
      } as const;
      given(spec, [...active, deactivated])
        .when({ type: 'StartTotpEnrollment', data: { now: T0, secretStored: true } })
        .then([]);
      given(spec, active)
        .when({ type: 'StartTotpEnrollment', data: { now: T0, secretStored: true } })
        .then([started]);
    });
    it('refuses to start an enrollment once TOTP is enrolled', () => {
      given(spec, [
        ...active,
        started,
        { type: 'MfaEnrolled', data: { userId: 'u1', method: 'totp', at: iso(T0) } },
      ])
        .when({ type: 'StartTotpEnrollment', data: { now: T0 } })
        .thenThrows(PreconditionError);
    });
    it('refuses a wrong code and a confirmation without enrollment', () => {
      given(spec, [...active, started])
        .when({ type: 'ConfirmTotp', data: { codeValid: false, now: T0 } })
        .thenThrows(ValidationError);
      given(spec, active)
        .when({ type: 'ConfirmTotp', data: { codeValid: true, now: T0 } })
        .thenThrows(PreconditionError);
    });
    it('reset clears an enrollment and is a no-op without one', () => {
      given(spec, [...active, started])
        .when({ type: 'ResetMfa', data: { by: 'admin', now: T0 } })
        .then([{ type: 'MfaReset', data: { userId: 'u1', by: 'admin', at: iso(T0) } }]);
      given(spec, active)
        .when({ type: 'ResetMfa', data: { by: 'admin', now: T0 } })
        .then([]);
    });
  });
});
