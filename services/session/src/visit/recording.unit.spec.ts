/**
 * The recording consent gate of a visit, given/when/then: who must consent, when recording may start, what stops
 * it, and who may enter a recorded visit.
 */
import { PermissionError, PreconditionError } from '@haven/errors';
import { given } from '@haven/testing';
import type { VisitCommand } from './decide';
import { callers, opened, visitSpec as spec } from './testing';
import {
  evolve,
  initialVisitState,
  readyToRecord,
  VisitEventType,
  type RecordingPolicy,
  type VisitEvent,
  type VisitState,
} from './visit';

const T0 = '2026-11-26T10:05:00.000Z';
const T1 = '2026-11-26T10:20:00.000Z';
const { clinician, otherClinician, patient } = callers;

const admittedClinician: VisitEvent = {
  type: VisitEventType.ParticipantAdmitted,
  data: {
    visitId: 'apt-1',
    participantId: 'p-clin',
    principal: 'users/clin-1',
    role: 'clinician',
    admittedBy: 'users/clin-1',
    admission: 'n-c',
    tokenHash: 'h-c',
  },
};
const arrived = (participantId: string): VisitEvent => ({
  type: VisitEventType.PatientArrivedInLobby,
  data: { visitId: 'apt-1', participantId, principal: 'patients/pp-1', role: 'patient' },
});
const admitted = (
  participantId: string,
  nonce = `n-${participantId}`,
  hash = `h-${participantId}`,
): VisitEvent => ({
  type: VisitEventType.ParticipantAdmitted,
  data: {
    visitId: 'apt-1',
    participantId,
    principal: 'patients/pp-1',
    role: 'patient',
    admittedBy: 'users/clin-1',
    admission: nonce,
    tokenHash: hash,
  },
});
const consent = (participantId: string, granted: boolean, principal = 'patients/pp-1'): VisitEvent => ({
  type: VisitEventType.ConsentRecorded,
  data: { visitId: 'apt-1', participantId, principal, scope: 'recording', granted },
});
const clinicianConsent = consent('p-clin', true, 'users/clin-1');
const requested = (awaiting: string[], policy: RecordingPolicy = 'on-request'): VisitEvent => ({
  type: VisitEventType.RecordingRequested,
  data: { visitId: 'apt-1', requestedBy: 'users/clin-1', policy, awaiting },
});
const started = (consented: string[]): VisitEvent => ({
  type: VisitEventType.RecordingStarted,
  data: {
    visitId: 'apt-1',
    recordingId: 'rec-1',
    janusNode: 'janus-0',
    room: 4242,
    clinicianId: 'clin-1',
    patientId: 'pat-1',
    startTime: T0,
    consented,
  },
});
const stopped = (reason: string, partial = false): VisitEvent =>
  ({
    type: VisitEventType.RecordingStopped,
    data: {
      visitId: 'apt-1',
      recordingId: 'rec-1',
      janusNode: 'janus-0',
      room: 4242,
      rawFilePrefix: 'rec-1/',
      startTime: T0,
      stopTime: T1,
      reason,
      partial,
    },
  }) as VisitEvent;

const refusedBy = (role: 'patient' | 'clinician'): VisitEvent => ({
  type: VisitEventType.RecordingRequestEnded,
  data: { visitId: 'apt-1', reason: 'consent_refused', refusedBy: role },
});
const cancelled: VisitEvent = {
  type: VisitEventType.RecordingRequestEnded,
  data: { visitId: 'apt-1', reason: 'cancelled_by_clinician', cancelledBy: 'users/clin-1' },
};
const cancel = (caller = clinician): VisitCommand => ({ type: 'CancelRecording', data: { caller } });

const request = (policy: RecordingPolicy = 'on-request', caller = clinician): VisitCommand => ({
  type: 'RequestRecording',
  data: { caller, participantId: 'p-clin', policy },
});
const begin: VisitCommand = { type: 'BeginRecording', data: { recordingId: 'rec-1', at: T0 } };
const patientConsents = (granted: boolean, participantId = 'p-a'): VisitCommand => ({
  type: 'RecordConsent',
  data: { caller: patient, participantId, granted, at: T1 },
});
const admit = (participantId: string, policy: RecordingPolicy = 'on-request'): VisitCommand => ({
  type: 'AdmitParticipant',
  data: { caller: clinician, participantId, admission: 'n', tokenHash: 'h', policy },
});
const fold = (events: VisitEvent[]): VisitState => events.reduce<VisitState>(evolve, initialVisitState);

/** Clinician and one patient device (p-a) in the room. */
const inRoom = [opened, admittedClinician, arrived('p-a'), admitted('p-a')];
/** …and recording, both having consented. */
const recording = [
  ...inRoom,
  consent('p-a', true),
  clinicianConsent,
  requested([]),
  started(['p-clin', 'p-a']),
];

describe('when the clinician asks to record and the patient has not consented', () => {
  it('records the clinician’s consent and the request, awaiting the patient', () =>
    given(spec, inRoom)
      .when(request())
      .then([clinicianConsent, requested(['p-a'])]));
  it('is not ready to record until the patient consents', () => {
    expect(readyToRecord(fold([...inRoom, clinicianConsent, requested(['p-a'])]))).toBe(false);
    expect(readyToRecord(fold([...inRoom, clinicianConsent, requested(['p-a']), consent('p-a', true)]))).toBe(
      true,
    );
  });
  it('refuses to begin recording before everyone consented', () =>
    given(spec, [...inRoom, clinicianConsent, requested(['p-a'])])
      .when(begin)
      .thenThrows(PreconditionError, /consented/));
  it('ends the request when the patient refuses, naming their role only (both are events)', () => {
    const history = [...inRoom, clinicianConsent, requested(['p-a'])];
    given(spec, history)
      .when(patientConsents(false))
      .then([consent('p-a', false), refusedBy('patient')]);
    const state = fold([...history, consent('p-a', false), refusedBy('patient')]);
    expect(readyToRecord(state)).toBe(false);
    expect(state.status === 'open' ? state.recordingRequest : 'not open').toBeUndefined();
  });
  it('ends the request when the clinician takes back their own consent', () =>
    given(spec, [...inRoom, clinicianConsent, requested(['p-a'])])
      .when({
        type: 'RecordConsent',
        data: { caller: clinician, participantId: 'p-clin', granted: false, at: T1 },
      })
      .then([consent('p-clin', false, 'users/clin-1'), refusedBy('clinician')]));
  it('keeps the request when someone still waiting to be let in refuses', () =>
    given(spec, [...inRoom, clinicianConsent, requested(['p-a']), arrived('p-b')])
      .when(patientConsents(false, 'p-b'))
      .then([consent('p-b', false)]));
  it('a consent after the refusal does not start anything: the clinician asks again', () => {
    const history = [
      ...inRoom,
      clinicianConsent,
      requested(['p-a']),
      consent('p-a', false),
      refusedBy('patient'),
    ];
    expect(readyToRecord(fold([...history, consent('p-a', true)]))).toBe(false);
    given(spec, [...history, consent('p-a', true)])
      .when(request())
      .then([requested([])]);
  });
});

describe('when the clinician cancels a pending request', () => {
  const pending = [...inRoom, clinicianConsent, requested(['p-a'])];
  it('ends it (an event naming who cancelled)', () => given(spec, pending).when(cancel()).then([cancelled]));
  it('is not ready to record afterwards, even when the patient then consents', () =>
    expect(readyToRecord(fold([...pending, cancelled, consent('p-a', true)]))).toBe(false));
  it('refuses another clinician', () =>
    given(spec, pending).when(cancel(otherClinician)).thenThrows(PermissionError));
  it('refuses a patient', () => given(spec, pending).when(cancel(patient)).thenThrows(PermissionError));
  it('refuses when nothing is pending', () =>
    given(spec, inRoom)
      .when(cancel())
      .thenThrows(PreconditionError, /no recording request is pending/));
  it('refuses while recording: that is a stop', () =>
    given(spec, recording)
      .when(cancel())
      .thenThrows(PreconditionError, /stop the recording/));
  it('refuses twice', () =>
    given(spec, [...pending, cancelled])
      .when(cancel())
      .thenThrows(PreconditionError, /no recording request is pending/));
});

describe('when everyone present has consented', () => {
  const history = [...inRoom, consent('p-a', true), clinicianConsent, requested([])];
  it('begins recording, naming who consented', () =>
    given(spec, history)
      .when(begin)
      .then([started(['p-clin', 'p-a'])]));
  it('asks nothing twice: a second request while one is pending records nothing', () =>
    given(spec, history).when(request()).then([]));
});

describe('who may ask to record', () => {
  it('refuses another clinician', () =>
    given(spec, inRoom).when(request('on-request', otherClinician)).thenThrows(PermissionError));
  it('refuses when the clinic’s policy is off', () =>
    given(spec, inRoom).when(request('off')).thenThrows(PreconditionError, /off/));
  it('refuses a clinician who has not joined the visit', () =>
    given(spec, [opened, arrived('p-a'), admitted('p-a')])
      .when(request())
      .thenThrows(PreconditionError, /join the visit/));
  it('refuses a patient stopping the recording', () =>
    given(spec, recording)
      .when({
        type: 'StopRecording',
        data: { caller: patient, reason: 'stopped_by_clinician', at: T1 },
      })
      .thenThrows(PermissionError));
  it('refuses to record twice', () =>
    given(spec, recording)
      .when(request())
      .thenThrows(PreconditionError, /already/));
});

describe('while recording', () => {
  it('stops at once when someone present withdraws consent (both events in one append)', () =>
    given(spec, recording)
      .when(patientConsents(false))
      .then([consent('p-a', false), stopped('consent_withdrawn')]));
  it('stops when the clinician withdraws their own consent', () =>
    given(spec, recording)
      .when({
        type: 'RecordConsent',
        data: { caller: clinician, participantId: 'p-clin', granted: false, at: T1 },
      })
      .then([consent('p-clin', false, 'users/clin-1'), stopped('consent_withdrawn')]));
  it('refuses to admit a late joiner who has not consented', () =>
    given(spec, [...recording, arrived('p-b')])
      .when(admit('p-b'))
      .thenThrows(PreconditionError, /being recorded.*consent/));
  it('admits a late joiner who consented from the lobby', () => {
    const history = [...recording, arrived('p-b'), consent('p-b', true)];
    given(spec, history)
      .when(admit('p-b'))
      .then([admitted('p-b', 'n', 'h')]);
  });
  it('keeps recording when a waiting participant refuses (they stay out)', () =>
    given(spec, [...recording, arrived('p-b')])
      .when(patientConsents(false, 'p-b'))
      .then([consent('p-b', false)]));
  it('keeps recording when a participant who consented leaves', () => {
    const left: VisitEvent = {
      type: VisitEventType.ParticipantLeft,
      data: { visitId: 'apt-1', participantId: 'p-a', principal: 'patients/pp-1' },
    };
    const state = fold([...recording, left]);
    expect(state.status === 'open' && state.recording?.recordingId).toBe('rec-1');
  });
  it('stops when the clinician stops it', () =>
    given(spec, recording)
      .when({ type: 'StopRecording', data: { caller: clinician, reason: 'stopped_by_clinician', at: T1 } })
      .then([stopped('stopped_by_clinician')]));
  it('stops, partial, when the media node was lost', () =>
    given(spec, recording)
      .when({ type: 'StopRecording', data: { reason: 'media_node_lost', at: T1, partial: true } })
      .then([stopped('media_node_lost', true)]));
  it('stops before the visit ends', () =>
    given(spec, recording)
      .when({ type: 'EndVisit', data: { reason: 'ended_by_clinician', caller: clinician, at: T1 } })
      .then([
        stopped('visit_ended'),
        { type: VisitEventType.Ended, data: { visitId: 'apt-1', reason: 'ended_by_clinician' } },
      ]));
  it('records a participant’s acknowledgement of the notice', () =>
    given(spec, recording)
      .when({ type: 'AcknowledgeRecordingNotice', data: { caller: patient, participantId: 'p-a' } })
      .then([
        {
          type: VisitEventType.RecordingNoticeAcknowledged,
          data: { visitId: 'apt-1', participantId: 'p-a', principal: 'patients/pp-1', recordingId: 'rec-1' },
        },
      ]));
});

describe('when not recording', () => {
  it('refuses to stop', () =>
    given(spec, inRoom)
      .when({ type: 'StopRecording', data: { caller: clinician, reason: 'stopped_by_clinician', at: T1 } })
      .thenThrows(PreconditionError, /not being recorded/));
  it('refuses an acknowledgement', () =>
    given(spec, inRoom)
      .when({ type: 'AcknowledgeRecordingNotice', data: { caller: patient, participantId: 'p-a' } })
      .thenThrows(PreconditionError, /not being recorded/));
  it('admits without consent under the on-request policy', () =>
    given(spec, [opened, admittedClinician, arrived('p-a')])
      .when(admit('p-a'))
      .then([admitted('p-a', 'n', 'h')]));
});

describe('when the clinic requires recording', () => {
  it('refuses to admit anyone who has not consented', () =>
    given(spec, [opened, admittedClinician, arrived('p-a')])
      .when(admit('p-a', 'required'))
      .thenThrows(PreconditionError, /records every visit/));
  it('asks for the recording with the clinician’s admission (their consent)', () =>
    given(spec, [opened])
      .when({
        type: 'AdmitClinician',
        data: {
          caller: clinician,
          participantId: 'p-clin',
          admission: 'n-c',
          tokenHash: 'h-c',
          policy: 'required',
        },
      })
      .then([clinicianConsent, requested([], 'required'), admittedClinician]));
  it('is ready to record once the consenting patient is admitted', () => {
    const history = [
      opened,
      clinicianConsent,
      requested([], 'required'),
      admittedClinician,
      arrived('p-a'),
      consent('p-a', true),
      admitted('p-a'),
    ];
    expect(readyToRecord(fold(history))).toBe(true);
  });
});
