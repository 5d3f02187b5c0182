import { ValidationError } from '@haven/errors';
import { commandOfSessionEvent } from './session-follower';

const at = '2026-12-06T10:00:00.000Z';

describe('what a session event means for the recording service', () => {
  it('reads RecordingStarted with resource names (the proto fields)', () => {
    expect(
      commandOfSessionEvent({
        type: 'haven.session.v1.RecordingStarted',
        occurredAt: at,
        data: {
          visit: 'visits/v1',
          recording: 'recordings/r1',
          janusNode: 'janus-0',
          room: '77',
          clinician: 'users/c1',
          patient: 'patients/p1',
        },
      }),
    ).toEqual({
      recordingId: 'r1',
      command: {
        type: 'RegisterRecording',
        data: {
          recordingId: 'r1',
          visitId: 'v1',
          clinicianId: 'c1',
          patientId: 'p1',
          janusNode: 'janus-0',
          room: 77,
          startTime: at,
        },
      },
    });
  });

  it('reads RecordingStopped with ids, keeping the partial flag', () => {
    expect(
      commandOfSessionEvent({
        type: 'haven.session.v1.RecordingStopped',
        occurredAt: at,
        data: { visitId: 'v1', recordingId: 'r1', rawFilePrefix: 'r1/', partial: true },
      }),
    ).toEqual({
      recordingId: 'r1',
      command: {
        type: 'StartProcessing',
        data: { recordingId: 'r1', rawFilePrefix: 'r1/', stopTime: at, partial: true },
      },
    });
  });

  it('refuses an id that could leave the recordings folder', () => {
    expect(() =>
      commandOfSessionEvent({
        type: 'haven.session.v1.RecordingStopped',
        occurredAt: at,
        data: { recording: 'recordings/../etc' },
      }),
    ).toThrow(ValidationError);
  });

  it('ignores the other session events', () => {
    expect(
      commandOfSessionEvent({ type: 'haven.session.v1.VisitOpened', occurredAt: at, data: {} }),
    ).toBeUndefined();
  });
});
