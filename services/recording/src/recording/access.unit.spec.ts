import { PermissionError, PreconditionError, ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import { AccessEventType, type AccessCommand, type AccessEvent } from './access';
import { decide } from './decide';
import { evolve, initialRecordingState, RecordingEventType, type RecordingEvent } from './recording';

const spec = { decide, evolve, initialState: initialRecordingState };
const ids = { recordingId: 'rec-1', visitId: 'v-1', clinicianId: 'clin-1', patientId: 'pat-1' };
const registered: RecordingEvent = {
  type: RecordingEventType.Registered,
  data: { ...ids, janusNode: 'j', room: 1, startTime: '2026-12-06T10:00:00.000Z' },
};
const started: RecordingEvent = {
  type: RecordingEventType.ProcessingStarted,
  data: { recordingId: 'rec-1', rawFilePrefix: 'rec-1/', stopTime: '2026-12-06T10:10:00.000Z' },
};
const encrypted: RecordingEvent = {
  type: RecordingEventType.Encrypted,
  data: {
    ...ids,
    keyId: 'k',
    wrappedKey: '',
    kekId: 'subject-key:k',
    objectKey: 'rec-1.enc',
    chunkSize: 65536,
    sizeBytes: 10,
    ciphertextSizeBytes: 1100,
    ciphertextSha256: 'ab'.repeat(32),
    contentType: 'video/webm',
    durationMs: 1000,
    tracks: { audio: 1, video: 1 },
  },
};
const available = [registered, started, encrypted];
const clinician = { name: 'users/clin-1', role: 'clinician' } as const;
const patient = { name: 'patients/pat-1', role: 'patient' } as const;
const grant = (viewer: typeof clinician | typeof patient, patientAccess = false): AccessCommand => ({
  type: 'GrantPlayback',
  data: {
    viewer,
    grantId: 'g-1',
    tokenSha256: 'h1',
    purpose: 'PHI_ACCESS_PURPOSE_TREATMENT',
    expireTime: '2026-12-06T12:05:00.000Z',
    patientAccess,
    method: 'm',
  },
});
const granted: AccessEvent = {
  type: AccessEventType.PlaybackGranted,
  data: {
    recordingId: 'rec-1',
    patientId: 'pat-1',
    grantId: 'g-1',
    tokenSha256: 'h1',
    purpose: 'PHI_ACCESS_PURPOSE_TREATMENT',
    expireTime: '2026-12-06T12:05:00.000Z',
    viewer: 'users/clin-1',
    viewerRole: 'clinician',
  },
};
const view = (now: string, viewer = clinician): AccessCommand => ({
  type: 'RecordView',
  data: { viewer, tokenSha256: 'h1', now, offset: 0, length: 10, method: 'm' },
});
const hold: AccessCommand = { type: 'PlaceLegalHold', data: { reason: 'case 17' } };
const held: AccessEvent = {
  type: AccessEventType.LegalHoldPlaced,
  data: { recordingId: 'rec-1', reason: 'case 17' },
};
const del: AccessCommand = { type: 'DeleteRecording', data: { reason: 'REQUESTED' } };
const deleted: AccessEvent = {
  type: AccessEventType.Deleted,
  data: { recordingId: 'rec-1', reason: 'REQUESTED', objectKey: 'rec-1.enc' },
};

describe('when the recording is available', () => {
  it('grants its clinician playback, with the PHI access in the same append', () => {
    const events = given(spec, available).when(grant(clinician)).result();
    expect(events.map((e) => e.type)).toEqual([AccessEventType.PlaybackGranted, AccessEventType.PhiAccessed]);
    expect(events[1]?.data).toMatchObject({
      who: 'users/clin-1',
      patientId: 'pat-1',
      what: 'recordings/rec-1',
    });
  });
  it('refuses its patient unless the clinic allows it', () =>
    given(spec, available).when(grant(patient)).thenThrows(PermissionError));
  it('grants its patient when the clinic allows it', () => {
    const events = given(spec, available).when(grant(patient, true)).result();
    expect(events[0]?.data).toMatchObject({ viewer: 'patients/pat-1', viewerRole: 'patient' });
  });
  it('refuses another patient even when the clinic allows patients', () =>
    given(spec, available)
      .when(grant({ name: 'patients/pat-2', role: 'patient' } as never, true))
      .thenThrows(PermissionError));
  it('records a view with an unexpired grant', () => {
    const events = given(spec, [...available, granted])
      .when(view('2026-12-06T12:00:00.000Z'))
      .result();
    expect(events[0]).toMatchObject({
      type: AccessEventType.Viewed,
      data: { grantId: 'g-1', purpose: 'PHI_ACCESS_PURPOSE_TREATMENT', offset: 0, length: 10 },
    });
  });
  it('refuses a view once the grant expired', () =>
    given(spec, [...available, granted])
      .when(view('2026-12-06T12:05:00.000Z'))
      .thenThrows(PermissionError));
  it('refuses a view by someone the grant is not for', () =>
    given(spec, [...available, granted])
      .when(view('2026-12-06T12:00:00.000Z', { name: 'users/clin-2', role: 'clinician' } as never))
      .thenThrows(PermissionError));
  it('refuses a legal hold without a reason', () =>
    given(spec, available)
      .when({ type: 'PlaceLegalHold', data: { reason: ' ' } })
      .thenThrows(ValidationError));
  it('deletes it', () => given(spec, available).when(del).then([deleted]));
});

describe('when the recording is under legal hold', () => {
  it('refuses deletion', () =>
    given(spec, [...available, held])
      .when(del)
      .thenThrows(PreconditionError));
  it('refuses a second hold', () =>
    given(spec, [...available, held])
      .when(hold)
      .thenThrows(PreconditionError));
  it('deletes it once released', () =>
    given(spec, [
      ...available,
      held,
      { type: AccessEventType.LegalHoldReleased, data: { recordingId: 'rec-1' } },
    ])
      .when(del)
      .then([deleted]));
});

describe('when the recording is still processing', () => {
  it('refuses deletion', () => given(spec, [registered, started]).when(del).thenThrows(PreconditionError));
  it('refuses playback', () =>
    given(spec, [registered, started]).when(grant(clinician)).thenThrows(PreconditionError));
});

describe('when the recording was deleted', () => {
  it('refuses playback, holds and a second deletion', () => {
    given(spec, [...available, deleted])
      .when(grant(clinician))
      .thenThrows(PreconditionError);
    given(spec, [...available, deleted])
      .when(hold)
      .thenThrows(PreconditionError);
    given(spec, [...available, deleted])
      .when(del)
      .thenThrows(PreconditionError);
  });
});

describe('when the recording’s patient is erased', () => {
  const erase: AccessCommand = { type: 'ErasePatientRecording', data: {} };
  const held: AccessEvent = {
    type: AccessEventType.LegalHoldPlaced,
    data: { recordingId: 'rec-1', reason: 'case 7' },
  };
  it('crypto-shreds an available recording with reason PATIENT_SHREDDED', () =>
    given(spec, available)
      .when(erase)
      .then([
        {
          type: AccessEventType.Deleted,
          data: { recordingId: 'rec-1', reason: 'PATIENT_SHREDDED', objectKey: 'rec-1.enc' },
        },
      ]));
  it('records the erasure as blocked under legal hold, once', () => {
    const blocked: AccessEvent = {
      type: AccessEventType.ErasureBlocked,
      data: { recordingId: 'rec-1', patientId: 'pat-1', blocker: 'LEGAL_HOLD' },
    };
    given(spec, [...available, held])
      .when(erase)
      .then([blocked]);
    given(spec, [...available, held, blocked])
      .when(erase)
      .then([]);
  });
  it('records a recording still processing as blocked (not finished)', () =>
    given(spec, [registered, started])
      .when(erase)
      .then([
        {
          type: AccessEventType.ErasureBlocked,
          data: { recordingId: 'rec-1', patientId: 'pat-1', blocker: 'NOT_FINISHED' },
        },
      ]));
  it('does nothing to a recording already deleted', () =>
    given(spec, [
      ...available,
      {
        type: AccessEventType.Deleted,
        data: { recordingId: 'rec-1', reason: 'REQUESTED', objectKey: 'rec-1.enc' },
      },
    ])
      .when(erase)
      .then([]));
});
