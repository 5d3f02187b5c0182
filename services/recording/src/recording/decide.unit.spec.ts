import { NotFoundError, PreconditionError, ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import { decide, recordingAccess, type RecordingCommand } from './decide';
import {
  evolve,
  initialRecordingState,
  RecordingEventType,
  type RecordingEvent,
  type RecordingState,
} from './recording';

const spec = { decide, evolve, initialState: initialRecordingState };
const registration = {
  recordingId: 'rec-1',
  visitId: 'apt-1',
  clinicianId: 'clin-1',
  patientId: 'pat-1',
  janusNode: 'janus-0',
  room: 4242,
  startTime: '2026-12-06T10:00:00.000Z',
};
const register: RecordingCommand = { type: 'RegisterRecording', data: registration };
const registered: RecordingEvent = { type: RecordingEventType.Registered, data: registration };
const stopData = { recordingId: 'rec-1', rawFilePrefix: 'rec-1/', stopTime: '2026-12-06T10:10:00.000Z' };
const start: RecordingCommand = { type: 'StartProcessing', data: stopData };
const started: RecordingEvent = { type: RecordingEventType.ProcessingStarted, data: stopData };
const media = {
  keyId: 'key-1',
  wrappedKey: 'd3JhcHBlZA',
  kekId: 'kek-1',
  objectKey: 'recordings/rec-1.henc',
  chunkSize: 65536,
  sizeBytes: 1000,
  ciphertextSizeBytes: 2100,
  ciphertextSha256: 'ab'.repeat(32),
  contentType: 'video/webm',
  durationMs: 600_000,
  tracks: { audio: 2, video: 2 },
};
const complete: RecordingCommand = { type: 'CompleteProcessing', data: media };
const encrypted: RecordingEvent = {
  type: RecordingEventType.Encrypted,
  data: { recordingId: 'rec-1', visitId: 'apt-1', clinicianId: 'clin-1', patientId: 'pat-1', ...media },
};
const fail: RecordingCommand = { type: 'FailProcessing', data: { reason: 'NO_RAW_FILES' } };
const failed: RecordingEvent = {
  type: RecordingEventType.ProcessingFailed,
  data: { recordingId: 'rec-1', reason: 'NO_RAW_FILES' },
};
const fold = (events: RecordingEvent[]): RecordingState =>
  events.reduce<RecordingState>(evolve, initialRecordingState);

describe('when no recording exists', () => {
  it('registers it on RecordingStarted', () => given(spec).when(register).then([registered]));
  it('refuses to process it with NOT_FOUND', () => given(spec).when(start).thenThrows(NotFoundError));
  it('refuses an outcome with NOT_FOUND', () => given(spec).when(complete).thenThrows(NotFoundError));
});

describe('when the recording is being recorded', () => {
  it('registers nothing on a repeated RecordingStarted', () =>
    given(spec, [registered]).when(register).then([]));
  it('starts processing on RecordingStopped', () => given(spec, [registered]).when(start).then([started]));
  it('keeps the partial flag of a crash-stopped recording', () =>
    given(spec, [registered])
      .when({ type: 'StartProcessing', data: { ...stopData, partial: true } })
      .then([{ type: RecordingEventType.ProcessingStarted, data: { ...stopData, partial: true } }]));
  it('refuses raw files outside its own folder', () =>
    given(spec, [registered])
      .when({ type: 'StartProcessing', data: { ...stopData, rawFilePrefix: 'rec-2/' } })
      .thenThrows(ValidationError));
  it('refuses an outcome before it stopped', () =>
    given(spec, [registered])
      .when(complete)
      .thenThrows(PreconditionError, /recording, not processing/));
  it('is in state recording', () => expect(fold([registered]).status).toBe('recording'));
});

describe('when the recording is processing', () => {
  const history = [registered, started];
  it('ignores a repeated RecordingStopped', () => given(spec, history).when(start).then([]));
  it('reports progress forward only', () => {
    given(spec, history)
      .when({ type: 'ReportProgress', data: { percent: 40.7 } })
      .then([{ type: RecordingEventType.ProcessingProgressed, data: { recordingId: 'rec-1', percent: 40 } }]);
    const at40: RecordingEvent = {
      type: RecordingEventType.ProcessingProgressed,
      data: { recordingId: 'rec-1', percent: 40 },
    };
    given(spec, [...history, at40])
      .when({ type: 'ReportProgress', data: { percent: 30 } })
      .then([]);
  });
  it('refuses a percentage out of range', () =>
    given(spec, history)
      .when({ type: 'ReportProgress', data: { percent: 101 } })
      .thenThrows(ValidationError));
  it('becomes available when encrypted', () => {
    given(spec, history).when(complete).then([encrypted]);
    const state = fold([...history, encrypted]);
    expect(state.status).toBe('available');
    expect(state.status === 'available' && state.media.objectKey).toBe('recordings/rec-1.henc');
  });
  it('fails with a reason', () => {
    given(spec, history).when(fail).then([failed]);
    const state = fold([...history, failed]);
    expect(state.status === 'failed' && state.reason).toBe('NO_RAW_FILES');
  });
  it('records a recovery after a crash and starts counting again', () => {
    const recovered: RecordingEvent = {
      type: RecordingEventType.ProcessingRecovered,
      data: {
        recordingId: 'rec-1',
        action: 'resumed',
        rawFiles: 4,
        intermediatesRemoved: 2,
        partialObjectsRemoved: 1,
      },
    };
    given(spec, history)
      .when({
        type: 'RecoverProcessing',
        data: { action: 'resumed', rawFiles: 4, intermediatesRemoved: 2, partialObjectsRemoved: 1 },
      })
      .then([recovered]);
    const state = fold([...history, recovered]);
    expect(state.status === 'processing' && [state.recoveries, state.percent]).toEqual([1, 0]);
  });
});

describe('when the recording is finished', () => {
  it('refuses a second outcome once available', () =>
    given(spec, [registered, started, encrypted])
      .when(fail)
      .thenThrows(PreconditionError, /available/));
  it('refuses a recovery once failed', () =>
    given(spec, [registered, started, failed])
      .when({
        type: 'RecoverProcessing',
        data: { action: 'discarded', rawFiles: 0, intermediatesRemoved: 0, partialObjectsRemoved: 0 },
      })
      .thenThrows(PreconditionError, /failed/));
  it('ignores a late RecordingStopped', () =>
    given(spec, [registered, started, encrypted]).when(start).then([]));
});

describe('who may read a recording', () => {
  const state = fold([registered]);
  it('lets the visit’s clinician', () =>
    expect(recordingAccess(state, { kind: 'user', id: 'clin-1', role: 'clinician' })).toBe('clinician'));
  it('refuses another clinician', () =>
    expect(recordingAccess(state, { kind: 'user', id: 'clin-2', role: 'clinician' })).toBe('none'));
  it('refuses the front desk even with the clinician’s id', () =>
    expect(recordingAccess(state, { kind: 'user', id: 'clin-1', role: 'front_desk' })).toBe('none'));
  it('lets an admin read the metadata', () =>
    expect(recordingAccess(state, { kind: 'user', id: 'adm-1', role: 'admin' })).toBe('admin'));
  it('refuses a patient', () =>
    expect(recordingAccess(state, { kind: 'patient', id: 'pat-1' })).toBe('none'));
});
