import { session } from '@haven/proto';
import { patientStatus, visitView } from './visit-view';

const admitted = session.Participant.fromPartial({
  name: 'visits/v1/participants/p1',
  principal: 'patients/pat1',
  role: session.ParticipantRole.PARTICIPANT_ROLE_PATIENT,
  state: session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
  device: 1,
});
const visit = (callerParticipant: string, participants = [admitted]) =>
  session.Visit.fromPartial({
    name: 'visits/v1',
    state: session.VisitState.VISIT_STATE_IN_PROGRESS,
    participants,
    callerParticipant,
  });

describe('patientStatus', () => {
  it('is the caller’s own entry', () => {
    expect(patientStatus(visit('visits/v1/participants/p1'))).toBe('admitted');
  });

  it('is not_joined for a device of the same patient that is not in the visit yet', () => {
    // The first device was admitted; a second redemption of the link has no entry until it enters the lobby.
    expect(patientStatus(visit(''))).toBe('not_joined');
  });

  it('is ended once the visit ended, whoever asks', () => {
    const ended = session.Visit.fromPartial({ ...visit(''), state: session.VisitState.VISIT_STATE_ENDED });
    expect(patientStatus(ended)).toBe('ended');
  });
});

describe('visitView', () => {
  it('marks the caller’s own entry, so a clinician who handed host rights over is not listed to remove', () => {
    const me = session.Participant.fromPartial({
      name: 'visits/v1/participants/p-me',
      principal: 'users/cara',
      role: session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN,
      state: session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
    });
    const v = session.Visit.fromPartial({
      ...visit('visits/v1/participants/p-me', [admitted, me]),
      hosts: ['users/dan'],
    });
    expect(visitView(v).participants.map((p) => [p.id, p.self, p.host])).toEqual([
      ['p1', false, false],
      ['p-me', true, false],
    ]);
  });
});
