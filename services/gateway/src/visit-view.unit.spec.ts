import { session } from '@haven/proto';
import { ownDevicesIn, patientStatus, rosterView, visitView } from './visit-view';

const admitted = session.Participant.fromPartial({
  name: 'visits/v1/participants/p1',
  principal: 'patients/pat1',
  role: session.ParticipantRole.PARTICIPANT_ROLE_PATIENT,
  state: session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
  device: 1,
});
/** An admitted clinician, `principal`, as participant `id` of visits/v1 (`extra` adds fields). */
const admittedClinician = (id: string, principal: string, extra: Partial<session.Participant> = {}) =>
  session.Participant.fromPartial({
    name: `visits/v1/participants/${id}`,
    principal,
    role: session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN,
    state: session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
    ...extra,
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
    const me = admittedClinician('p-me', 'users/cara');
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

describe('ownDevicesIn', () => {
  const entry = (id: string, principal: string, state: session.ParticipantState, device: number) =>
    session.Participant.fromPartial({
      name: `visits/v1/participants/${id}`,
      principal,
      role: session.ParticipantRole.PARTICIPANT_ROLE_PATIENT,
      state,
      device,
    });
  const ADMITTED = session.ParticipantState.PARTICIPANT_STATE_ADMITTED;
  const WAITING = session.ParticipantState.PARTICIPANT_STATE_WAITING;

  it('names the caller’s own other devices that are in, and nobody else’s', () => {
    const v = visit('visits/v1/participants/p3', [
      entry('p1', 'patients/pat1', ADMITTED, 1),
      entry('p2', 'guests/g1', ADMITTED, 1),
      entry('p3', 'patients/pat1', WAITING, 3),
      entry('p4', 'patients/pat1', WAITING, 2),
    ]);
    expect(ownDevicesIn(v)).toEqual([1]);
  });

  it('is empty for a caller not in the visit yet (no principal to compare)', () => {
    expect(ownDevicesIn(visit('', [entry('p1', 'patients/pat1', ADMITTED, 1)]))).toEqual([]);
  });
});

describe('names in the visit reads', () => {
  const clinician = admittedClinician('c1', 'users/u1', { displayName: 'Dr. Amara Okafor' });
  // Whatever a display_name says for a patient or a link guest, no read passes it on.
  const named = (p: session.Participant) =>
    session.Participant.fromPartial({ ...p, displayName: 'Maria Lopez' });
  const guest = session.Participant.fromPartial({
    name: 'visits/v1/participants/g1',
    principal: 'guests/g1',
    role: session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER,
    state: session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
  });
  const v = visit('visits/v1/participants/g1', [clinician, named(admitted), named(guest)]);

  it('gives the tiles a staff member’s name, never a patient’s or a guest’s', () => {
    expect(rosterView(v).map((e) => [e.kind, e.name])).toEqual([
      ['clinician', 'Dr. Amara Okafor'],
      ['patient', undefined],
      ['interpreter', undefined],
    ]);
    expect(visitView(v).participants.map((p) => p.name)).toEqual(['Dr. Amara Okafor', null, null]);
  });
});
