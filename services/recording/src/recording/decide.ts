/**
 * Commands of the Recording aggregate and the pure decide(). The session's RecordingStarted / RecordingStopped
 * become RegisterRecording / StartProcessing (repeated deliveries decide nothing); the pipeline reports
 * progress, recovery after a crash, and the outcome (CompleteProcessing / FailProcessing).
 */
import { NotFoundError, PreconditionError, ValidationError } from '@haven/errors';
import {
  RecordingEventType,
  type FailureReason,
  type KnownRecording,
  type RecordingEncrypted,
  type RecordingEvent,
  type RecordingProcessingRecovered,
  type RecordingProcessingStarted,
  type RecordingRegistered,
  type RecordingState,
} from './recording';
import { decideAccess, type AccessCommand } from './access';

export interface RegisterRecording {
  readonly type: 'RegisterRecording';
  readonly data: RecordingRegistered['data'];
}

export interface StartProcessing {
  readonly type: 'StartProcessing';
  readonly data: RecordingProcessingStarted['data'];
}

export interface ReportProgress {
  readonly type: 'ReportProgress';
  readonly data: { readonly percent: number };
}

export interface RecoverProcessing {
  readonly type: 'RecoverProcessing';
  readonly data: Omit<RecordingProcessingRecovered['data'], 'recordingId'>;
}

export interface CompleteProcessing {
  readonly type: 'CompleteProcessing';
  readonly data: Omit<RecordingEncrypted['data'], 'recordingId' | 'visitId' | 'clinicianId' | 'patientId'>;
}

export interface FailProcessing {
  readonly type: 'FailProcessing';
  readonly data: { readonly reason: FailureReason };
}

export type RecordingCommand =
  | AccessCommand
  | RegisterRecording
  | StartProcessing
  | ReportProgress
  | RecoverProcessing
  | CompleteProcessing
  | FailProcessing;

/** Who calls: enough of the principal to decide access. */
export interface Caller {
  readonly kind: string;
  readonly id: string;
  readonly role?: string;
}

/**
 * What a caller may do with a recording's metadata: `clinician` (the visit's own), `admin` (any: legal holds,
 * retention, deletion — metadata only, never the media) or `none`.
 */
export type RecordingAccess = 'clinician' | 'admin' | 'none';

/** The access of `caller` to `state`: the visit's clinician, or an admin; front desk and other clinicians none. */
export function recordingAccess(state: RecordingState, caller: Caller): RecordingAccess {
  if (state.status === 'none') return 'none';
  if (caller.kind === 'user' && caller.role === 'clinician' && caller.id === state.clinicianId) {
    return 'clinician';
  }
  if (caller.kind === 'user' && caller.role === 'admin') return 'admin';
  return 'none';
}

function requireProcessing(state: RecordingState, what: string): KnownRecording & { status: 'processing' } {
  if (state.status === 'none') throw new NotFoundError('recording not found');
  if (state.status !== 'processing') {
    throw new PreconditionError(`cannot ${what}: the recording is ${state.status}, not processing`);
  }
  return state;
}

export function decide(command: RecordingCommand, state: RecordingState): readonly RecordingEvent[] {
  switch (command.type) {
    case 'RegisterRecording':
      // A repeated RecordingStarted (at-least-once delivery) registers nothing new.
      if (state.status !== 'none') return [];
      return [{ type: RecordingEventType.Registered, data: command.data }];
    case 'StartProcessing': {
      if (state.status === 'none') throw new NotFoundError('recording not found');
      if (state.status !== 'recording') return [];
      const expected = `${state.recordingId}/`;
      if (command.data.rawFilePrefix !== expected) {
        throw new ValidationError([{ field: 'raw_file_prefix', description: `must be ${expected}` }]);
      }
      return [{ type: RecordingEventType.ProcessingStarted, data: command.data }];
    }
    case 'ReportProgress': {
      const s = requireProcessing(state, 'report progress');
      const percent = Math.floor(command.data.percent);
      if (!(percent >= 0 && percent <= 100)) {
        throw new ValidationError([{ field: 'percent', description: 'must be 0–100' }]);
      }
      if (percent <= (s.percent ?? 0)) return [];
      return [
        { type: RecordingEventType.ProcessingProgressed, data: { recordingId: s.recordingId, percent } },
      ];
    }
    case 'RecoverProcessing': {
      const s = requireProcessing(state, 'recover');
      return [
        {
          type: RecordingEventType.ProcessingRecovered,
          data: { recordingId: s.recordingId, ...command.data },
        },
      ];
    }
    case 'CompleteProcessing': {
      const s = requireProcessing(state, 'complete');
      return [
        {
          type: RecordingEventType.Encrypted,
          data: {
            recordingId: s.recordingId,
            visitId: s.visitId,
            clinicianId: s.clinicianId,
            patientId: s.patientId,
            ...command.data,
          },
        },
      ];
    }
    case 'FailProcessing': {
      const s = requireProcessing(state, 'fail');
      return [
        { type: RecordingEventType.ProcessingFailed, data: { recordingId: s.recordingId, ...command.data } },
      ];
    }
    default:
      return decideAccess(command, state);
  }
}
