/**
 * Test support for the visit's given/when/then specs (unit tests only): the decider spec, one visit of
 * appointment `apt-1` with clinician `clin-1` and patient `pat-1`, the callers the specs play, and the events of
 * its usual beginning (opened, the patient's device in the lobby, admitted) and end.
 */
import { decide, type Caller } from './decide';
import { evolve, initialVisitState, VisitEventType, type VisitEvent } from './visit';

export const visitSpec = { decide, evolve, initialState: initialVisitState };

export const visitData = {
  visitId: 'apt-1',
  appointmentId: 'apt-1',
  clinicianId: 'clin-1',
  patientId: 'pat-1',
  janusNode: 'janus-0',
  room: 4242,
  startTime: '2026-11-26T10:00:00.000Z',
  endTime: '2026-11-26T10:30:00.000Z',
};

/** The visit's clinician, a clinician of another visit, the front desk, the patient, another visit's patient. */
export const callers: Readonly<
  Record<'clinician' | 'otherClinician' | 'frontDesk' | 'patient' | 'strayPatient', Caller>
> = {
  clinician: { kind: 'user', id: 'clin-1', role: 'clinician' },
  otherClinician: { kind: 'user', id: 'clin-2', role: 'clinician' },
  frontDesk: { kind: 'user', id: 'fd-1', role: 'front_desk' },
  patient: { kind: 'patient', id: 'pp-1', visit: 'visits/apt-1' },
  strayPatient: { kind: 'patient', id: 'pp-9', visit: 'visits/apt-9' },
};

/** A sealed part as the decider sees it (the ciphertext is opaque to it). */
export const sealedPhi = { subject: 'pat-1', keyId: 'k1', ciphertext: 'c2VhbGVk' };

export const opened: VisitEvent = { type: VisitEventType.Opened, data: visitData };
export const arrived: VisitEvent = {
  type: VisitEventType.PatientArrivedInLobby,
  data: { visitId: 'apt-1', participantId: 'p-pat', principal: 'patients/pp-1', role: 'patient' },
};
export const admitted: VisitEvent = {
  type: VisitEventType.ParticipantAdmitted,
  data: {
    visitId: 'apt-1',
    participantId: 'p-pat',
    principal: 'patients/pp-1',
    role: 'patient',
    admittedBy: 'users/clin-1',
    admission: 'nonce-1',
    tokenHash: 'hash-1',
  },
};
export const ended: VisitEvent = {
  type: VisitEventType.Ended,
  data: { visitId: 'apt-1', reason: 'ended_by_clinician' },
};
