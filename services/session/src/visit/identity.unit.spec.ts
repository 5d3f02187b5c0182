import { PermissionError, PreconditionError } from '@haven/errors';
import { given } from '@haven/testing';
import type { Caller } from './decide';
import { opened, visitSpec as spec } from './testing';
import { evolve, initialVisitState, VisitEventType, type VisitEvent, type VisitState } from './visit';

const host: Caller = { kind: 'user', id: 'clin-1', role: 'clinician' };
const stranger: Caller = { kind: 'user', id: 'clin-9', role: 'clinician' };
const patient: Caller = { kind: 'patient', id: 'pat-1', visit: 'visits/apt-1' };
const confirm = (caller: Caller) => ({
  type: 'ConfirmIdentity' as const,
  data: { caller, method: 'date_of_birth' as const },
});
const confirmed: VisitEvent = {
  type: VisitEventType.IdentityConfirmed,
  data: { visitId: 'apt-1', patient: 'patients/pat-1', confirmedBy: 'users/clin-1', method: 'date_of_birth' },
};

describe('when the host confirms the patient’s identity', () => {
  it('records who and how, and no date of birth', () =>
    given(spec, [opened]).when(confirm(host)).then([confirmed]));
  it('records it once: a second confirmation changes nothing', () =>
    given(spec, [opened, confirmed]).when(confirm(host)).then([]));
  it('keeps who confirmed, how and when in the visit', () => {
    const state = [opened, { ...confirmed, occurredAt: '2026-11-26T10:03:00.000Z' }].reduce<VisitState>(
      evolve,
      initialVisitState,
    );
    expect(state.status === 'open' && state.identity).toEqual({
      confirmedBy: 'users/clin-1',
      method: 'date_of_birth',
      at: '2026-11-26T10:03:00.000Z',
    });
  });
  it('refuses anyone but a host, an unknown method and an ended visit', () => {
    given(spec, [opened]).when(confirm(stranger)).thenThrows(PermissionError);
    given(spec, [opened]).when(confirm(patient)).thenThrows(PermissionError);
    given(spec, [opened])
      .when({ type: 'ConfirmIdentity', data: { caller: host, method: 'guess' as never } })
      .thenThrows(PreconditionError, /not an identity method/);
    given(spec, [
      opened,
      { type: VisitEventType.Ended, data: { visitId: 'apt-1', reason: 'ended_by_clinician' } },
    ])
      .when(confirm(host))
      .thenThrows(PreconditionError);
  });
});
