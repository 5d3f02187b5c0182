import { given } from '@haven/testing';
import { AlreadyExistsError, PreconditionError, ValidationError } from '@haven/errors';
import { decideServiceAccount, type ServiceAccountCommand } from './decide';
import {
  evolveServiceAccount,
  initialServiceAccountState,
  type ServiceAccountEvent,
} from './service-account';

const spec = {
  decide: decideServiceAccount,
  evolve: evolveServiceAccount,
  initialState: initialServiceAccountState,
};
const NOW = Date.parse('2026-03-01T10:00:00Z');
const create = (scopes: string[], displayName = 'EHR'): ServiceAccountCommand => ({
  type: 'CreateServiceAccount',
  data: { serviceAccountId: 'ehr-1', displayName, scopes, now: NOW },
});
const rotate: ServiceAccountCommand = { type: 'RotateServiceAccountSecret', data: { now: NOW + 60_000 } };
const created: ServiceAccountEvent = {
  type: 'ServiceAccountCreated',
  data: {
    serviceAccountId: 'ehr-1',
    displayName: 'EHR',
    clientId: 'ehr-1',
    scopes: ['audit.events.read', 'session.visits.write'],
    at: new Date(NOW).toISOString(),
  },
};

describe('when there is no service account', () => {
  it('creates one with sorted unique scopes and no secret', () => {
    given(spec, [])
      .when(create(['session.visits.write', 'audit.events.read', 'session.visits.write']))
      .then([created]);
  });

  it('refuses no scopes, malformed or reserved scopes, and an empty name', () => {
    given(spec, []).when(create([])).thenThrows(ValidationError);
    given(spec, [])
      .when(create(['Session.Write']))
      .thenThrows(ValidationError);
    given(spec, [])
      .when(create(['breakglass']))
      .thenThrows(ValidationError);
    given(spec, [])
      .when(create(['identity.mfa.enroll']))
      .thenThrows(ValidationError);
    given(spec, [])
      .when(create(['session.visits.write'], ' '))
      .thenThrows(ValidationError);
  });

  it('refuses to rotate a secret', () => {
    given(spec, [])
      .when(rotate)
      .thenThrows(PreconditionError, /not found/);
  });
});

describe('when the service account exists', () => {
  it('refuses to create it again', () => {
    given(spec, [created])
      .when(create(['audit.events.read']))
      .thenThrows(AlreadyExistsError, /already exists/);
  });

  it('rotates its secret', () => {
    given(spec, [created])
      .when(rotate)
      .then([
        {
          type: 'ServiceAccountSecretRotated',
          data: { serviceAccountId: 'ehr-1', at: new Date(NOW + 60_000).toISOString() },
        },
      ]);
  });
});
