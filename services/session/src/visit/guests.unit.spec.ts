import { NotFoundError, PermissionError, PreconditionError } from '@haven/errors';
import { given } from '@haven/testing';
import { visitAccess, type Caller, type VisitCommand } from './decide';
import {
  evolve,
  hostsOf,
  initialVisitState,
  VisitEventType,
  type VisitEvent,
  type VisitState,
} from './visit';
import { callers, opened, visitSpec as spec } from './testing';

const { patient } = callers;

const AT = '2026-11-26T10:10:00.000Z';
const host: Caller = { kind: 'user', id: 'clin-1', role: 'clinician' };
const second: Caller = { kind: 'user', id: 'clin-2', role: 'clinician' };
const interpreter: Caller = { kind: 'user', id: 'int-1', role: 'front_desk' };
const stranger: Caller = { kind: 'user', id: 'clin-9', role: 'clinician' };

const invite = (
  caller: Caller,
  principal: string,
  role: 'clinician' | 'interpreter' | 'family',
): VisitCommand => ({
  type: 'InviteGuest',
  data: { caller, principal, role },
});
const invited = (
  principal: string,
  role: 'clinician' | 'interpreter' | 'family',
  by = 'users/clin-1',
): VisitEvent => ({
  type: VisitEventType.GuestInvited,
  data: { visitId: 'apt-1', principal, role, invitedBy: by },
});
const arrived = (
  participantId: string,
  principal: string,
  role: 'clinician' | 'interpreter' | 'family',
): VisitEvent => ({
  type: VisitEventType.GuestArrivedInLobby,
  data: { visitId: 'apt-1', participantId, principal, role },
});
const admitted = (
  participantId: string,
  principal: string,
  role: 'clinician' | 'interpreter' | 'family' | 'patient',
  by = 'users/clin-1',
): VisitEvent => ({
  type: VisitEventType.ParticipantAdmitted,
  data: {
    visitId: 'apt-1',
    participantId,
    principal,
    role,
    admittedBy: by,
    admission: `n-${participantId}`,
    tokenHash: 'h',
  },
});
const hostJoined = admitted('p-host', 'users/clin-1', 'clinician');
const secondInvited = invited('users/clin-2', 'clinician');
const secondWaiting = arrived('p-second', 'users/clin-2', 'clinician');
const secondIn = admitted('p-second', 'users/clin-2', 'clinician');
const patientWaiting: VisitEvent = {
  type: VisitEventType.PatientArrivedInLobby,
  data: { visitId: 'apt-1', participantId: 'p-pat', principal: 'patients/pp-1', role: 'patient' },
};
const grant = (caller: Caller, participantId: string, mode: 'share' | 'handover'): VisitCommand => ({
  type: 'GrantHost',
  data: { caller, participantId, mode },
});
const granted: VisitEvent = {
  type: VisitEventType.HostGranted,
  data: { visitId: 'apt-1', principal: 'users/clin-2', grantedBy: 'users/clin-1' },
};
const revokedFirst: VisitEvent = {
  type: VisitEventType.HostRevoked,
  data: { visitId: 'apt-1', principal: 'users/clin-1', revokedBy: 'users/clin-1' },
};
const fold = (events: VisitEvent[]): VisitState => events.reduce<VisitState>(evolve, initialVisitState);
const body = (events: VisitEvent[]) => fold(events) as Extract<VisitState, { status: 'open' }>;

describe('when the host invites a guest', () => {
  it('records the invitation with the guest’s role', () =>
    given(spec, [opened])
      .when(invite(host, 'users/int-1', 'interpreter'))
      .then([invited('users/int-1', 'interpreter')]));
  it('does nothing when the same guest is invited again with the same role', () =>
    given(spec, [opened, invited('users/int-1', 'interpreter')])
      .when(invite(host, 'users/int-1', 'interpreter'))
      .then([]));
  it('refuses an invitation by a clinician who is not a host', () =>
    given(spec, [opened])
      .when(invite(stranger, 'users/int-1', 'interpreter'))
      .thenThrows(PermissionError));
  it('refuses an invitation by the patient', () =>
    given(spec, [opened])
      .when(invite(patient, 'users/int-1', 'interpreter'))
      .thenThrows(PermissionError));
  it('refuses to invite anything but a staff user', () =>
    given(spec, [opened])
      .when(invite(host, 'patients/pp-2', 'family'))
      .thenThrows(PreconditionError, /users/));
  it('refuses to invite a host as a guest', () =>
    given(spec, [opened])
      .when(invite(host, 'users/clin-1', 'clinician'))
      .thenThrows(PreconditionError));
  it('refuses a role that is not a guest role', () =>
    given(spec, [opened])
      .when({ type: 'InviteGuest', data: { caller: host, principal: 'users/x', role: 'patient' as never } })
      .thenThrows(PreconditionError, /not a guest role/));
});

describe('when an invited guest comes', () => {
  it('puts them in the lobby as their own entry, with their role', () =>
    given(spec, [opened, invited('users/int-1', 'interpreter')])
      .when({ type: 'JoinLobby', data: { caller: interpreter, participantId: 'p-int' } })
      .then([arrived('p-int', 'users/int-1', 'interpreter')]));
  it('refuses a staff user nobody invited', () =>
    given(spec, [opened])
      .when({ type: 'JoinLobby', data: { caller: stranger, participantId: 'p-x' } })
      .thenThrows(PermissionError));
  it('refuses a guest of a locked visit', () =>
    given(spec, [
      opened,
      invited('users/int-1', 'interpreter'),
      { type: VisitEventType.Locked, data: { visitId: 'apt-1' } },
    ])
      .when({ type: 'JoinLobby', data: { caller: interpreter, participantId: 'p-int' } })
      .thenThrows(PreconditionError, /locked/));
  it('lets the host admit or deny each separately', () => {
    const lobby = [
      opened,
      invited('users/int-1', 'interpreter'),
      arrived('p-int', 'users/int-1', 'interpreter'),
      patientWaiting,
    ];
    given(spec, lobby)
      .when({
        type: 'AdmitParticipant',
        data: { caller: host, participantId: 'p-int', admission: 'n-p-int', tokenHash: 'h' },
      })
      .then([admitted('p-int', 'users/int-1', 'interpreter')]);
    given(spec, lobby)
      .when({ type: 'DenyParticipant', data: { caller: host, participantId: 'p-int' } })
      .then([
        {
          type: VisitEventType.ParticipantDenied,
          data: { visitId: 'apt-1', participantId: 'p-int', principal: 'users/int-1' },
        },
      ]);
    const state = body([...lobby, admitted('p-int', 'users/int-1', 'interpreter')]);
    expect(state.participants['p-int']?.status).toBe('admitted');
    expect(state.participants['p-pat']?.status).toBe('waiting');
  });
  it('does not let a guest admit anyone', () =>
    given(spec, [opened, secondInvited, secondWaiting, secondIn, patientWaiting])
      .when({
        type: 'AdmitParticipant',
        data: { caller: second, participantId: 'p-pat', admission: 'n', tokenHash: 'h' },
      })
      .thenThrows(PermissionError, /host/));
  it('lets the guest see the visit, and nobody else', () => {
    const state = body([opened, invited('users/int-1', 'interpreter')]);
    expect(visitAccess(state, interpreter)).toBe('guest');
    expect(visitAccess(state, stranger)).toBe('none');
    expect(visitAccess(state, host)).toBe('clinician');
    expect(visitAccess(state, patient)).toBe('patient');
  });
  it('lets the host remove a guest clinician who is not a host', () =>
    given(spec, [opened, secondInvited, secondWaiting, secondIn])
      .when({
        type: 'KickParticipant',
        data: { caller: host, participantId: 'p-second', allowRejoin: false },
      })
      .then([
        {
          type: VisitEventType.ParticipantKicked,
          data: {
            visitId: 'apt-1',
            participantId: 'p-second',
            principal: 'users/clin-2',
            allowRejoin: false,
          },
        },
      ]));
});

describe('host rights', () => {
  const present = [opened, hostJoined, secondInvited, secondWaiting, secondIn];

  it('starts with the visit’s own clinician as the only host', () => {
    expect(hostsOf(body([opened]))).toEqual(['users/clin-1']);
  });
  it('are shared with a second clinician: both may admit, remove, record and end', () => {
    given(spec, present)
      .when(grant(host, 'p-second', 'share'))
      .then([granted]);
    const state = body([...present, granted]);
    expect(hostsOf(state)).toEqual(['users/clin-1', 'users/clin-2']);
    expect(visitAccess(state, second)).toBe('clinician');
    expect(visitAccess(state, host)).toBe('clinician');
    given(spec, [...present, granted, patientWaiting])
      .when({
        type: 'AdmitParticipant',
        data: { caller: second, participantId: 'p-pat', admission: 'n-p-pat', tokenHash: 'h' },
      })
      .then([admitted('p-pat', 'patients/pp-1', 'patient', 'users/clin-2')]);
    given(spec, [...present, granted])
      .when({ type: 'EndVisit', data: { reason: 'ended_by_clinician', caller: second, at: AT } })
      .then([{ type: VisitEventType.Ended, data: { visitId: 'apt-1', reason: 'ended_by_clinician' } }]);
    given(spec, [...present, granted])
      .when({
        type: 'RequestRecording',
        data: { caller: second, participantId: 'p-second', policy: 'on-request' },
      })
      .then([
        {
          type: VisitEventType.ConsentRecorded,
          data: {
            visitId: 'apt-1',
            participantId: 'p-second',
            principal: 'users/clin-2',
            scope: 'recording',
            granted: true,
          },
        },
        {
          type: VisitEventType.RecordingRequested,
          data: { visitId: 'apt-1', requestedBy: 'users/clin-2', policy: 'on-request', awaiting: ['p-host'] },
        },
      ]);
  });
  it('are handed over: the second clinician is host, the first is a guest who can no longer end the visit', () => {
    given(spec, present)
      .when(grant(host, 'p-second', 'handover'))
      .then([granted, revokedFirst]);
    const state = body([...present, granted, revokedFirst]);
    expect(hostsOf(state)).toEqual(['users/clin-2']);
    expect(visitAccess(state, host)).toBe('guest');
    given(spec, [...present, granted, revokedFirst])
      .when({ type: 'EndVisit', data: { reason: 'ended_by_clinician', caller: host, at: AT } })
      .thenThrows(PermissionError);
    // The new host may remove the former one, who is a guest now.
    given(spec, [...present, granted, revokedFirst])
      .when({ type: 'KickParticipant', data: { caller: second, participantId: 'p-host', allowRejoin: true } })
      .then([
        {
          type: VisitEventType.ParticipantKicked,
          data: { visitId: 'apt-1', participantId: 'p-host', principal: 'users/clin-1', allowRejoin: true },
        },
      ]);
  });
  it('handing over to someone already a host only ends the caller’s own rights', () =>
    given(spec, [...present, granted])
      .when(grant(host, 'p-second', 'handover'))
      .then([revokedFirst]));
  it('cannot remove a host', () =>
    given(spec, [...present, granted])
      .when({
        type: 'KickParticipant',
        data: { caller: host, participantId: 'p-second', allowRejoin: false },
      })
      .thenThrows(PreconditionError, /host/));
  it('go only to a clinician present in the visit', () => {
    const withInterpreter = [
      ...present,
      invited('users/int-1', 'interpreter'),
      arrived('p-int', 'users/int-1', 'interpreter'),
      admitted('p-int', 'users/int-1', 'interpreter'),
    ];
    given(spec, withInterpreter)
      .when(grant(host, 'p-int', 'share'))
      .thenThrows(PreconditionError, /only to a clinician/);
    given(spec, [opened, hostJoined, secondInvited, secondWaiting])
      .when(grant(host, 'p-second', 'share'))
      .thenThrows(PreconditionError, /not in the visit/);
    given(spec, present)
      .when(grant(host, 'p-host', 'handover'))
      .thenThrows(PreconditionError, /another/);
  });
  it('are given only by a host', () =>
    given(spec, present)
      .when(grant(second, 'p-host', 'share'))
      .thenThrows(PermissionError));
});

describe('a guest without an account (a one-time link)', () => {
  const linkGuest: Caller = { kind: 'guest', id: 'g-1', visit: 'visits/apt-1' };
  const otherVisit: Caller = { kind: 'guest', id: 'g-1', visit: 'visits/apt-2' };
  const family = invited('guests/g-1', 'family');
  const waiting = arrived('p-g1', 'guests/g-1', 'family');
  const revoked: VisitEvent = {
    type: VisitEventType.GuestRevoked,
    data: { visitId: 'apt-1', principal: 'guests/g-1', revokedBy: 'users/clin-1' },
  };
  it('is invited by a host as an interpreter or family member, never as a clinician', () => {
    given(spec, [opened])
      .when(invite(host, 'guests/g-1', 'family'))
      .then([family]);
    given(spec, [opened])
      .when(invite(host, 'guests/g-1', 'clinician'))
      .thenThrows(PreconditionError, /staff account/);
  });
  it('waits in the lobby as their own entry with their role, with a token for this visit only', () => {
    given(spec, [opened, family])
      .when({ type: 'JoinLobby', data: { caller: linkGuest, participantId: 'p-g1' } })
      .then([waiting]);
    given(spec, [opened, family])
      .when({ type: 'JoinLobby', data: { caller: otherVisit, participantId: 'p-g1' } })
      .thenThrows(PermissionError);
    given(spec, [opened])
      .when({ type: 'JoinLobby', data: { caller: linkGuest, participantId: 'p-g1' } })
      .thenThrows(PermissionError);
  });
  it('is admitted on their own and cannot do what only a host does', () => {
    given(spec, [opened, hostJoined, family, waiting])
      .when({
        type: 'AdmitParticipant',
        data: { caller: linkGuest, participantId: 'p-g1', admission: 'n', tokenHash: 'h' },
      })
      .thenThrows(PermissionError);
    given(spec, [opened, hostJoined, family, waiting, admitted('p-g1', 'guests/g-1', 'family')])
      .when(invite(linkGuest, 'guests/g-2', 'family'))
      .thenThrows(PermissionError);
    given(spec, [opened, hostJoined, family, waiting, admitted('p-g1', 'guests/g-1', 'family')])
      .when({
        type: 'KickParticipant',
        data: { caller: linkGuest, participantId: 'p-host', allowRejoin: false },
      })
      .thenThrows(PermissionError);
  });
  it('records only their own consent', () =>
    given(spec, [opened, hostJoined, family, waiting, admitted('p-g1', 'guests/g-1', 'family')])
      .when({
        type: 'RecordConsent',
        data: { caller: linkGuest, participantId: 'p-host', granted: true, at: AT },
      })
      .thenThrows(PermissionError));
  it('when revoked, is removed for good at once and is nobody to the visit afterwards', () => {
    const inVisit = [opened, hostJoined, family, waiting, admitted('p-g1', 'guests/g-1', 'family')];
    given(spec, inVisit)
      .when({ type: 'RevokeGuest', data: { caller: host, principal: 'guests/g-1' } })
      .then([
        revoked,
        {
          type: VisitEventType.ParticipantKicked,
          data: { visitId: 'apt-1', participantId: 'p-g1', principal: 'guests/g-1', allowRejoin: false },
        },
      ]);
    const after = body([
      ...inVisit,
      revoked,
      {
        type: VisitEventType.ParticipantKicked,
        data: { visitId: 'apt-1', participantId: 'p-g1', principal: 'guests/g-1', allowRejoin: false },
      },
    ]);
    expect(visitAccess(after, linkGuest)).toBe('none');
    expect(after.participants['p-g1']?.status).toBe('kicked');
    given(spec, [...inVisit, revoked])
      .when({ type: 'JoinLobby', data: { caller: linkGuest, participantId: 'p-g1' } })
      .thenThrows(PermissionError);
  });
  it('is revoked before using the link: only the invitation ends', () =>
    given(spec, [opened, family])
      .when({ type: 'RevokeGuest', data: { caller: host, principal: 'guests/g-1' } })
      .then([revoked]));
  it('is revoked only by a host, and only when invited', () => {
    given(spec, [opened, family])
      .when({ type: 'RevokeGuest', data: { caller: stranger, principal: 'guests/g-1' } })
      .thenThrows(PermissionError);
    given(spec, [opened, family])
      .when({ type: 'RevokeGuest', data: { caller: linkGuest, principal: 'guests/g-1' } })
      .thenThrows(PermissionError);
    given(spec, [opened])
      .when({ type: 'RevokeGuest', data: { caller: host, principal: 'guests/g-9' } })
      .thenThrows(NotFoundError);
  });
});

describe('a device check reported on arrival', () => {
  const check = { camera: true, microphone: false, speaker: true, permission: 'granted' as const };
  it('travels with the patient’s arrival and stays on their entry (devices and permission only)', () => {
    given(spec, [opened])
      .when({ type: 'JoinLobby', data: { caller: patient, participantId: 'p-pat', deviceCheck: check } })
      .then([
        {
          type: VisitEventType.PatientArrivedInLobby,
          data: {
            visitId: 'apt-1',
            participantId: 'p-pat',
            principal: 'patients/pp-1',
            role: 'patient',
            deviceCheck: check,
          },
        },
      ]);
    const state = body([
      opened,
      {
        type: VisitEventType.PatientArrivedInLobby,
        data: { ...(patientWaiting.data as object), deviceCheck: check } as never,
      },
    ]);
    expect(state.participants['p-pat']?.deviceCheck).toEqual(check);
  });
});
