import { commandWith, given } from '@haven/testing';
import { ValidationError } from '@haven/errors';
import { decideUser, type UserCommand } from './decide';
import { evolveUser, foldUser, initialUserState, type UserEvent } from './user';

const spec = { decide: decideUser, evolve: evolveUser, initialState: initialUserState };
const T0 = Date.parse('2026-04-01T08:00:00.000Z');
const provision = commandWith<UserCommand, 'ProvisionUser'>('ProvisionUser', {
  userId: 'sso-acc1',
  username: 'Ada@Northside.example',
  email: 'Ada@Northside.example',
  role: 'clinician',
  displayName: ' Ada Lovelace ',
  ssoAccountId: 'acc1',
  now: T0,
});
const provisioned: UserEvent = {
  type: 'UserProvisioned',
  data: {
    userId: 'sso-acc1',
    username: 'ada@northside.example',
    email: 'ada@northside.example',
    role: 'clinician',
    displayName: 'Ada Lovelace',
    ssoAccountId: 'acc1',
    at: new Date(T0).toISOString(),
  },
};

describe('when an approved SSO account provisions its user', () => {
  it('creates the user active, without a password or an invitation', () => {
    given(spec, []).when(provision()).then([provisioned]);
    const state = foldUser([provisioned]);
    expect(state).toMatchObject({
      status: 'active',
      role: 'clinician',
      passwordChangedAt: null,
      mfa: 'none',
    });
  });

  it('records nothing when a retried approval finds the user there', () => {
    given(spec, [provisioned]).when(provision()).then([]);
  });

  it('refuses bad fields like an invitation does', () => {
    given(spec, [])
      .when(provision({ role: 'patient', email: 'nope' }))
      .thenThrows(ValidationError);
  });

  it('lets the provisioned user sign in and be deactivated like any other', () => {
    given(spec, [provisioned])
      .when({ type: 'RecordLoginSuccess', data: { sessionId: 's1', mfa: false, now: T0 + 1 } })
      .then([
        {
          type: 'LoginSucceeded',
          data: { userId: 'sso-acc1', sessionId: 's1', mfa: false, at: new Date(T0 + 1).toISOString() },
        },
      ]);
  });
});
