import { NotFoundError, PermissionError, PreconditionError } from '@haven/errors';
import { given } from '@haven/testing';
import { decide, visitAccess, type Caller, type VisitCommand } from './decide';
import {
  evolve,
  initialVisitState,
  inMediaCount,
  VisitEventType,
  type VisitEvent,
  type VisitState,
} from './visit';
import { admitted, arrived, callers, ended, opened, visitData as data, visitSpec as spec } from './testing';

const { clinician, otherClinician, frontDesk, patient, strayPatient } = callers;

const open: VisitCommand = { type: 'OpenVisit', data };
const AT = '2026-11-26T10:10:00.000Z';
const end: VisitCommand = {
  type: 'EndVisit',
  data: { reason: 'ended_by_clinician', caller: clinician, at: AT },
};
const joinLobby: VisitCommand = { type: 'JoinLobby', data: { caller: patient, participantId: 'p-pat' } };
const admit: VisitCommand = {
  type: 'AdmitParticipant',
  data: { caller: clinician, participantId: 'p-pat', admission: 'nonce-1', tokenHash: 'hash-1' },
};
const locked: VisitEvent = { type: VisitEventType.Locked, data: { visitId: 'apt-1' } };
const kicked: VisitEvent = {
  type: VisitEventType.ParticipantKicked,
  data: { visitId: 'apt-1', participantId: 'p-pat', principal: 'patients/pp-1', allowRejoin: true },
};
const joinedMedia = (feedId: number, at: string): VisitEvent => ({
  type: VisitEventType.ParticipantJoinedMedia,
  data: { visitId: 'apt-1', participantId: 'p-pat', feedId, at },
});
const leftMedia = (feedId: number, at: string): VisitEvent => ({
  type: VisitEventType.ParticipantLeftMedia,
  data: { visitId: 'apt-1', participantId: 'p-pat', feedId, at, reason: 'leaving' },
});
const fold = (events: VisitEvent[]): VisitState => events.reduce<VisitState>(evolve, initialVisitState);

describe('when no visit exists', () => {
  it('opens it', () => given(spec).when(open).then([opened]));
  it('refuses to end it', () =>
    given(spec)
      .when(end)
      .thenThrows(PreconditionError, /not open/));
  it('refuses a lobby arrival with NOT_FOUND', () => given(spec).when(joinLobby).thenThrows(NotFoundError));
});

describe('when the visit is open', () => {
  it('does nothing on a repeated open (the booking event was redelivered)', () =>
    given(spec, [opened]).when(open).then([]));
  it('ends it for its clinician', () => given(spec, [opened]).when(end).then([ended]));
  it('refuses to let another clinician end it', () =>
    given(spec, [opened])
      .when({ type: 'EndVisit', data: { reason: 'ended_by_clinician', caller: otherClinician, at: AT } })
      .thenThrows(PermissionError));
  it('puts the visit’s patient in the lobby', () => given(spec, [opened]).when(joinLobby).then([arrived]));
  it('is idempotent for a patient already waiting', () =>
    given(spec, [opened, arrived]).when(joinLobby).then([]));
  it('refuses a patient whose token is for another visit', () =>
    given(spec, [opened])
      .when({ type: 'JoinLobby', data: { caller: strayPatient, participantId: 'p-x' } })
      .thenThrows(PermissionError, /not for this visit/));
  it('refuses a front-desk user in the lobby', () =>
    given(spec, [opened])
      .when({ type: 'JoinLobby', data: { caller: frontDesk, participantId: 'p-x' } })
      .thenThrows(PermissionError));
  it('admits a waiting patient (token hash only in the event)', () =>
    given(spec, [opened, arrived]).when(admit).then([admitted]));
  it('refuses admission by another clinician', () =>
    given(spec, [opened, arrived])
      .when({ ...admit, data: { ...admit.data, caller: otherClinician } })
      .thenThrows(PermissionError));
  it('refuses to admit someone who is not in the lobby', () =>
    given(spec, [opened]).when(admit).thenThrows(NotFoundError));
  it('refuses to admit twice', () =>
    given(spec, [opened, arrived, admitted])
      .when(admit)
      .thenThrows(PreconditionError, /admitted, not waiting/));
  it('denies a waiting patient', () =>
    given(spec, [opened, arrived])
      .when({ type: 'DenyParticipant', data: { caller: clinician, participantId: 'p-pat' } })
      .then([
        {
          type: VisitEventType.ParticipantDenied,
          data: { visitId: 'apt-1', participantId: 'p-pat', principal: 'patients/pp-1' },
        },
      ]));
  it('kicks an admitted patient', () =>
    given(spec, [opened, arrived, admitted])
      .when({
        type: 'KickParticipant',
        data: { caller: clinician, participantId: 'p-pat', allowRejoin: true },
      })
      .then([kicked]));
  it('admits the clinician implicitly, once', () => {
    const admitSelf: VisitCommand = {
      type: 'AdmitClinician',
      data: { caller: clinician, participantId: 'p-clin', admission: 'n2', tokenHash: 'h2' },
    };
    const events = decide(admitSelf, fold([opened]));
    expect(events).toEqual([
      expect.objectContaining({
        type: VisitEventType.ParticipantAdmitted,
        data: expect.objectContaining({ role: 'clinician', principal: 'users/clin-1' }) as unknown,
      }),
    ]);
    given(spec, [opened, ...events])
      .when(admitSelf)
      .then([]);
  });
  it('refuses to kick the clinician', () => {
    const self: VisitEvent = {
      type: VisitEventType.ParticipantAdmitted,
      data: {
        ...admitted.data,
        participantId: 'p-clin',
        principal: 'users/clin-1',
        role: 'clinician',
      } as never,
    };
    given(spec, [opened, self])
      .when({
        type: 'KickParticipant',
        data: { caller: clinician, participantId: 'p-clin', allowRejoin: false },
      })
      .thenThrows(PreconditionError, /cannot be kicked/);
  });
  it('records the patient’s consent', () =>
    given(spec, [opened, arrived])
      .when({
        type: 'RecordConsent',
        data: { caller: patient, participantId: 'p-pat', granted: true, at: AT },
      })
      .then([
        {
          type: VisitEventType.ConsentRecorded,
          data: {
            visitId: 'apt-1',
            participantId: 'p-pat',
            principal: 'patients/pp-1',
            scope: 'recording',
            granted: true,
          },
        },
      ]));
  it('refuses a clinician recording the patient’s consent for them', () =>
    given(spec, [opened, arrived])
      .when({
        type: 'RecordConsent',
        data: { caller: clinician, participantId: 'p-pat', granted: true, at: AT },
      })
      .thenThrows(PermissionError, /only their own/));
  it('locks it for its clinician only', () => {
    given(spec, [opened])
      .when({ type: 'LockVisit', data: { caller: clinician } })
      .then([locked]);
    given(spec, [opened])
      .when({ type: 'LockVisit', data: { caller: otherClinician } })
      .thenThrows(PermissionError);
  });
});

describe('when the visit is locked', () => {
  it('refuses to admit', () =>
    given(spec, [opened, arrived, locked])
      .when(admit)
      .thenThrows(PreconditionError, /visit is locked/));
  it('refuses new lobby arrivals', () =>
    given(spec, [opened, locked])
      .when(joinLobby)
      .thenThrows(PreconditionError, /locked/));
  it('refuses to lock again', () =>
    given(spec, [opened, locked])
      .when({ type: 'LockVisit', data: { caller: clinician } })
      .thenThrows(PreconditionError, /already locked/));
  it('admits again once unlocked', () =>
    given(spec, [opened, arrived, locked, { type: VisitEventType.Unlocked, data: { visitId: 'apt-1' } }])
      .when(admit)
      .then([admitted]));
});

describe('when a participant was kicked', () => {
  it('needs a new lobby arrival and admission to come back', () => {
    given(spec, [opened, arrived, admitted, kicked])
      .when(admit)
      .thenThrows(PreconditionError, /kicked/);
    given(spec, [opened, arrived, admitted, kicked]).when(joinLobby).then([arrived]);
  });
  it('refuses the lobby when rejoining is not allowed', () =>
    given(spec, [opened, arrived, admitted, { ...kicked, data: { ...kicked.data, allowRejoin: false } }])
      .when(joinLobby)
      .thenThrows(PreconditionError, /removed/));
});

describe('media events from Janus', () => {
  const at = '2026-11-26T10:05:00.000Z';
  const joined = (feedId: number): VisitCommand => ({
    type: 'RecordMediaJoined',
    data: { participantId: 'p-pat', feedId, at },
  });
  it('records an admitted participant joining the room', () =>
    given(spec, [opened, arrived, admitted])
      .when(joined(77))
      .then([joinedMedia(77, at)]));
  it('ignores a retransmitted join', () =>
    given(spec, [opened, arrived, admitted, joinedMedia(77, at)])
      .when(joined(77))
      .then([]));
  it('records a second feed (screen share) beside the camera', () =>
    given(spec, [opened, arrived, admitted, joinedMedia(77, at)])
      .when(joined(78))
      .then([joinedMedia(78, at)]));
  it('refuses a third feed of a patient (the service kicks it)', () =>
    given(spec, [opened, arrived, admitted, joinedMedia(77, at), joinedMedia(78, at)])
      .when(joined(79))
      .thenThrows(PermissionError, /more than 2 feeds/));
  it('makes room for another feed once one left', () =>
    given(spec, [opened, arrived, admitted, joinedMedia(77, at), joinedMedia(78, at), leftMedia(77, at)])
      .when(joined(79))
      .then([joinedMedia(79, at)]));
  it('refuses a feed of someone waiting, kicked or unknown (the service kicks it)', () => {
    given(spec, [opened, arrived])
      .when(joined(77))
      .thenThrows(PermissionError, /not admitted/);
    given(spec, [opened, arrived, admitted, kicked])
      .when(joined(77))
      .thenThrows(PermissionError, /not admitted/);
    given(spec, [opened])
      .when({ type: 'RecordMediaJoined', data: { participantId: 'p-nobody', feedId: 1, at } })
      .thenThrows(PermissionError, /not admitted/);
  });
  it('records leaving by feed id', () =>
    given(spec, [opened, arrived, admitted, joinedMedia(77, at)])
      .when({ type: 'RecordMediaLeft', data: { feedId: 77, at, reason: 'leaving' } })
      .then([leftMedia(77, at)]));
  it('tracks every feed of a participant until the last one leaves', () => {
    const two = fold([opened, arrived, admitted, joinedMedia(77, at), joinedMedia(78, at)]);
    expect(two.status === 'open' && two.participants['p-pat']?.feeds).toEqual([77, 78]);
    const one = evolve(two, leftMedia(77, at));
    expect(one.status === 'open' && one.participants['p-pat']?.feeds).toEqual([78]);
    expect(inMediaCount(one)).toBe(1);
    const none = evolve(one, leftMedia(78, at));
    expect(inMediaCount(none)).toBe(0);
    expect(none.status === 'open' && none.idleSince).toBe(at);
  });
  it('counts who is in the room', () => {
    expect(inMediaCount(fold([opened, arrived, admitted, joinedMedia(77, at)]))).toBe(1);
    expect(inMediaCount(fold([opened, arrived, admitted, joinedMedia(77, at), leftMedia(77, at)]))).toBe(0);
  });
});

describe('idle visits', () => {
  const idle = (now: string): VisitCommand => ({ type: 'EndIdleVisit', data: { now, idleMinutes: 10 } });
  const idleEnd: VisitEvent = { type: VisitEventType.Ended, data: { visitId: 'apt-1', reason: 'idle' } };
  it('end when nobody joined within N minutes of the start', () =>
    given(spec, [opened]).when(idle('2026-11-26T10:10:00.000Z')).then([idleEnd]));
  it('stay open before N minutes', () =>
    given(spec, [opened]).when(idle('2026-11-26T10:09:59.000Z')).then([]));
  it('stay open while someone is in the room', () =>
    given(spec, [opened, arrived, admitted, joinedMedia(1, '2026-11-26T10:01:00.000Z')])
      .when(idle('2026-11-26T11:00:00.000Z'))
      .then([]));
  it('count from when the last participant left the room', () => {
    const history = [
      opened,
      arrived,
      admitted,
      joinedMedia(1, '2026-11-26T10:01:00.000Z'),
      leftMedia(1, '2026-11-26T10:20:00.000Z'),
    ];
    given(spec, history).when(idle('2026-11-26T10:29:00.000Z')).then([]);
    given(spec, history).when(idle('2026-11-26T10:30:00.000Z')).then([idleEnd]);
  });
});

describe('when the visit has ended', () => {
  const history = [opened, arrived, admitted, ended];
  it('refuses to end it again', () =>
    given(spec, history)
      .when(end)
      .thenThrows(PreconditionError, /already ended/));
  it('does not reopen it', () => given(spec, history).when(open).then([]));
  it.each<[string, VisitCommand]>([
    ['lobby', joinLobby],
    ['admit', admit],
    ['lock', { type: 'LockVisit', data: { caller: clinician } }],
    [
      'kick',
      { type: 'KickParticipant', data: { caller: clinician, participantId: 'p-pat', allowRejoin: true } },
    ],
    [
      'consent',
      { type: 'RecordConsent', data: { caller: patient, participantId: 'p-pat', granted: true, at: AT } },
    ],
  ])('refuses %s', (_, command) => given(spec, history).when(command).thenThrows(PreconditionError, /ended/));
  it('ignores media events and idle checks', () => {
    given(spec, history)
      .when({ type: 'RecordMediaJoined', data: { participantId: 'p-pat', feedId: 1, at: data.endTime } })
      .then([]);
    given(spec, history)
      .when({ type: 'EndIdleVisit', data: { now: '2027-01-01T00:00:00.000Z', idleMinutes: 1 } })
      .then([]);
  });
  it('marks everyone who was present as left', () => {
    const state = fold(history);
    expect(state.status).toBe('ended');
    if (state.status === 'ended') expect(state.participants['p-pat']?.status).toBe('left');
  });
});

describe('visitAccess', () => {
  it('knows the clinician the visit names and the patient whose token is for it, and nobody else', () => {
    expect(visitAccess(data, clinician)).toBe('clinician');
    expect(visitAccess(data, patient)).toBe('patient');
    expect(visitAccess(data, otherClinician)).toBe('none');
    expect(visitAccess(data, frontDesk)).toBe('none');
    expect(visitAccess(data, strayPatient)).toBe('none');
    // The clinician's id under another role, or the visit claim on a user: neither is access.
    expect(visitAccess(data, { kind: 'user', id: 'clin-1', role: 'admin' })).toBe('none');
    expect(visitAccess(data, { kind: 'user', id: 'pp-1', visit: 'visits/apt-1' })).toBe('none');
  });
});

describe('when one patient link is open on two devices', () => {
  // Each redemption of the link is its own device (its token's sid) and its own participant.
  const secondDevice: Caller = { ...patient, sessionId: 'redemption-2' };
  const arrivedSecond: VisitEvent = {
    type: VisitEventType.PatientArrivedInLobby,
    data: { visitId: 'apt-1', participantId: 'p-pat-2', principal: 'patients/pp-1', role: 'patient' },
  };
  const join2: VisitCommand = { type: 'JoinLobby', data: { caller: secondDevice, participantId: 'p-pat-2' } };
  const admit2: VisitCommand = {
    type: 'AdmitParticipant',
    data: { caller: clinician, participantId: 'p-pat-2', admission: 'nonce-2', tokenHash: 'hash-2' },
  };
  const participant = (events: VisitEvent[], id: string) => {
    const state = fold(events);
    return state.status === 'none' ? undefined : state.participants[id];
  };

  it('puts the second device in the lobby as its own entry while the first waits', () =>
    given(spec, [opened, arrived]).when(join2).then([arrivedSecond]));

  it('puts the second device in the lobby while the first is already admitted', () =>
    given(spec, [opened, arrived, admitted]).when(join2).then([arrivedSecond]));

  it('numbers the devices: first, then second, and keeps the number on a return to the lobby', () => {
    expect(participant([opened, arrived, arrivedSecond], 'p-pat')?.device).toBe(1);
    expect(participant([opened, arrived, arrivedSecond], 'p-pat-2')?.device).toBe(2);
    expect(participant([opened, arrived, arrivedSecond, kicked, arrived], 'p-pat')?.device).toBe(1);
  });

  it('admits only the device the clinician admits: the other keeps waiting', () => {
    const events = [opened, arrived, arrivedSecond, admitted];
    expect(participant(events, 'p-pat')?.status).toBe('admitted');
    expect(participant(events, 'p-pat-2')?.status).toBe('waiting');
  });

  it('admits the second device on its own, with its own admission', () =>
    given(spec, [opened, arrived, arrivedSecond, admitted])
      .when(admit2)
      .then([
        {
          type: VisitEventType.ParticipantAdmitted,
          data: {
            visitId: 'apt-1',
            participantId: 'p-pat-2',
            principal: 'patients/pp-1',
            role: 'patient',
            admittedBy: 'users/clin-1',
            admission: 'nonce-2',
            tokenHash: 'hash-2',
          },
        },
      ]));

  it('denies the second device and leaves the admitted first one in the visit', () => {
    const denied: VisitEvent = {
      type: VisitEventType.ParticipantDenied,
      data: { visitId: 'apt-1', participantId: 'p-pat-2', principal: 'patients/pp-1' },
    };
    given(spec, [opened, arrived, arrivedSecond, admitted])
      .when({ type: 'DenyParticipant', data: { caller: clinician, participantId: 'p-pat-2' } })
      .then([denied]);
    expect(participant([opened, arrived, arrivedSecond, admitted, denied], 'p-pat')?.status).toBe('admitted');
  });

  it('refuses media feeds of the second device while only the first is admitted', () =>
    given(spec, [opened, arrived, arrivedSecond, admitted])
      .when({
        type: 'RecordMediaJoined',
        data: { participantId: 'p-pat-2', feedId: 77, at: '2026-11-26T10:01:00.000Z' },
      })
      .thenThrows(PermissionError, /not admitted/));
});
