import { evolveAccess, type AccessEvent, type AccessFacts, type DeletionReason } from './access';

/**
 * The Recording aggregate: one per recording of a visit. Stream `recording.recording-<id>`.
 * Lifecycle: RECORDING (Janus writes raw files) → PROCESSING (raw files → one WebM → encrypted object) →
 * AVAILABLE | FAILED; DELETED (crypto-shredded) comes from the access side.
 * Pure: no I/O. Event data carries ids, sizes, codes and times only, never PHI.
 */

export const RecordingEventType = {
  Registered: 'haven.recording.v1.RecordingRegistered',
  ProcessingStarted: 'haven.recording.v1.RecordingProcessingStarted',
  ProcessingProgressed: 'haven.recording.v1.RecordingProcessingProgressed',
  ProcessingRecovered: 'haven.recording.v1.RecordingProcessingRecovered',
  Encrypted: 'haven.recording.v1.RecordingEncrypted',
  ProcessingFailed: 'haven.recording.v1.RecordingProcessingFailed',
} as const;

/** Why processing failed: a code, never free text with PHI (proto `RecordingProcessingFailed.reason`). */
export const FailureReason = {
  NoRawFiles: 'NO_RAW_FILES',
  ConversionFailed: 'CONVERSION_FAILED',
  NoSpace: 'NO_SPACE',
  StoreFailed: 'STORE_FAILED',
  EncryptionFailed: 'ENCRYPTION_FAILED',
  RawFilesLost: 'RAW_FILES_LOST',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

/** What a restarted service did with the leftovers of an interrupted processing run. */
export const RecoveryAction = {
  /** The raw files were still there: partial output was discarded and processing starts again. */
  Resumed: 'resumed',
  /** The raw files were gone: partial output was discarded and the recording fails. */
  Discarded: 'discarded',
} as const;
export type RecoveryAction = (typeof RecoveryAction)[keyof typeof RecoveryAction];

/** What a recording is registered with: the facts of the session's RecordingStarted. */
export interface RecordingRegistration {
  readonly recordingId: string;
  readonly visitId: string;
  readonly clinicianId: string;
  /** The patient's opaque id (not PHI): lets the audit log answer "everything about this patient". */
  readonly patientId: string;
  readonly janusNode: string;
  readonly room: number;
  /** When Janus started writing (ISO time). */
  readonly startTime: string;
}

export interface RecordingRegistered {
  readonly type: typeof RecordingEventType.Registered;
  readonly data: RecordingRegistration;
}

export interface RecordingProcessingStarted {
  readonly type: typeof RecordingEventType.ProcessingStarted;
  readonly data: {
    readonly recordingId: string;
    /** `<id>/`: the raw files are every `*.mjr` in that folder of the shared recordings directory. */
    readonly rawFilePrefix: string;
    readonly stopTime: string;
    /** The session saw Janus stop writing abnormally (a crash): what was written is processed. */
    readonly partial?: boolean;
    /** The recording-service process that took the work (its host name): the one to recover it after a crash. */
    readonly processor?: string;
  };
}

export interface RecordingProcessingProgressed {
  readonly type: typeof RecordingEventType.ProcessingProgressed;
  readonly data: { readonly recordingId: string; readonly percent: number };
}

export interface RecordingProcessingRecovered {
  readonly type: typeof RecordingEventType.ProcessingRecovered;
  readonly data: {
    readonly recordingId: string;
    readonly action: RecoveryAction;
    /** What was found and removed: counts of raw files, plaintext intermediates, partial ciphertext objects. */
    readonly rawFiles: number;
    readonly intermediatesRemoved: number;
    readonly partialObjectsRemoved: number;
    /** The process that recovered it (and, when resumed, processes it now). */
    readonly processor?: string;
  };
}

/** The stored media of an AVAILABLE recording. */
export interface RecordingMedia {
  /** Id of the data key (fresh per recording). */
  readonly keyId: string;
  /** The data key wrapped by the KMS (base64url), KMS context `{ recording: "recordings/<id>" }`. */
  readonly wrappedKey: string;
  readonly kekId: string;
  readonly objectKey: string;
  readonly chunkSize: number;
  /** Plaintext (WebM) size in bytes. */
  readonly sizeBytes: number;
  readonly ciphertextSizeBytes: number;
  readonly ciphertextSha256: string;
  readonly contentType: string;
  readonly durationMs: number;
}

export interface RecordingEncrypted {
  readonly type: typeof RecordingEventType.Encrypted;
  readonly data: {
    readonly recordingId: string;
    readonly visitId: string;
    readonly clinicianId: string;
    readonly patientId: string;
    /** The tracks muxed: audio and video per participant feed. */
    readonly tracks: { readonly audio: number; readonly video: number };
  } & RecordingMedia;
}

export interface RecordingProcessingFailed {
  readonly type: typeof RecordingEventType.ProcessingFailed;
  readonly data: { readonly recordingId: string; readonly reason: FailureReason };
}

export type RecordingEvent =
  | AccessEvent
  | RecordingRegistered
  | RecordingProcessingStarted
  | RecordingProcessingProgressed
  | RecordingProcessingRecovered
  | RecordingEncrypted
  | RecordingProcessingFailed;

export interface RecordingBody extends AccessFacts, RecordingRegistration {
  readonly createdAt?: string;
  readonly stopTime?: string;
  readonly rawFilePrefix?: string;
  readonly partial?: boolean;
  /** Processing progress, 0–100 (PROCESSING only). */
  readonly percent?: number;
  /** How many times processing was restarted after a crash. */
  readonly recoveries?: number;
  /** The process doing the processing (PROCESSING only). */
  readonly processor?: string;
  /** When the last event of the recording happened (ISO time), when known: how long processing went quiet. */
  readonly lastEventAt?: string;
}

export type RecordingState =
  | { readonly status: 'none' }
  | ({ readonly status: 'recording' } & RecordingBody)
  | ({ readonly status: 'processing' } & RecordingBody & { readonly rawFilePrefix: string })
  | ({ readonly status: 'available' } & RecordingBody & { readonly media: RecordingMedia })
  | ({ readonly status: 'failed'; readonly reason: FailureReason } & RecordingBody)
  | ({
      readonly status: 'deleted';
      readonly reason: DeletionReason;
      readonly deletedAt?: string;
    } & RecordingBody);

export type KnownRecording = Exclude<RecordingState, { status: 'none' }>;

export const initialRecordingState: RecordingState = { status: 'none' };

/** The stream of a recording. */
export function recordingStream(recordingId: string): string {
  return `recording.recording-${recordingId}`;
}

/** Folds one event into the state; unknown types are ignored. `occurredAt` of a stored envelope is used when present. */
export function evolve(state: RecordingState, event: { type: string; data: unknown }): RecordingState {
  const next = evolveEvent(state, event);
  const at = (event as { occurredAt?: unknown }).occurredAt;
  return next.status !== 'none' && typeof at === 'string' ? { ...next, lastEventAt: at } : next;
}

function evolveEvent(state: RecordingState, event: { type: string; data: unknown }): RecordingState {
  const e = event as RecordingEvent;
  const at = (event as { occurredAt?: unknown }).occurredAt;
  if (e.type === RecordingEventType.Registered) {
    if (state.status !== 'none') return state;
    const { recordingId, visitId, clinicianId, patientId, janusNode, room, startTime } = e.data;
    return {
      status: 'recording',
      recordingId,
      visitId,
      clinicianId,
      patientId,
      janusNode,
      room,
      startTime,
      ...(typeof at === 'string' ? { createdAt: at } : {}),
    };
  }
  if (state.status === 'none') return state;
  switch (e.type) {
    case RecordingEventType.ProcessingStarted: {
      if (state.status !== 'recording') return state;
      const { rawFilePrefix, stopTime, partial, processor } = e.data;
      return {
        ...state,
        status: 'processing',
        rawFilePrefix,
        stopTime,
        percent: 0,
        ...(partial ? { partial: true } : {}),
        ...(processor !== undefined ? { processor } : {}),
      };
    }
    case RecordingEventType.ProcessingProgressed:
      return state.status === 'processing' ? { ...state, percent: e.data.percent } : state;
    case RecordingEventType.ProcessingRecovered:
      return state.status === 'processing'
        ? {
            ...state,
            percent: 0,
            recoveries: (state.recoveries ?? 0) + 1,
            ...(e.data.processor !== undefined ? { processor: e.data.processor } : {}),
          }
        : state;
    case RecordingEventType.Encrypted: {
      if (state.status !== 'processing') return state;
      const { recordingId: _r, visitId: _v, clinicianId: _c, patientId: _p, tracks: _t, ...media } = e.data;
      const { percent: _percent, processor: _processor, ...rest } = state;
      return { ...rest, status: 'available', media };
    }
    case RecordingEventType.ProcessingFailed: {
      if (state.status !== 'processing') return state;
      const { percent: _percent, processor: _processor, ...rest } = state;
      return { ...rest, status: 'failed', reason: e.data.reason };
    }
    default:
      return evolveAccess(state, event, typeof at === 'string' ? at : undefined);
  }
}
