/**
 * The access side of the Recording aggregate: playback grants, views, legal hold, deletion (crypto-shredding).
 * Events on the recording's stream next to the lifecycle ones (./recording.ts folds them through
 * {@link evolveAccess}); the pure decisions are {@link decideAccess}. Ids, times, codes only: never PHI.
 */
import { NotFoundError, PermissionError, PreconditionError, ValidationError } from '@haven/errors';
import type { KnownRecording, RecordingBody, RecordingState } from './recording';

export const AccessEventType = {
  PlaybackGranted: 'haven.recording.v1.RecordingPlaybackGranted',
  Viewed: 'haven.recording.v1.RecordingViewed',
  PhiAccessed: 'haven.events.v1.PhiAccessed',
  LegalHoldPlaced: 'haven.recording.v1.RecordingLegalHoldPlaced',
  LegalHoldReleased: 'haven.recording.v1.RecordingLegalHoldReleased',
  Deleted: 'haven.recording.v1.RecordingDeleted',
  ErasureBlocked: 'haven.recording.v1.RecordingErasureBlocked',
} as const;

/** Why a recording was deleted (proto `RecordingDeletionReason`). */
export const DeletionReason = {
  Requested: 'REQUESTED',
  RetentionExpired: 'RETENTION_EXPIRED',
  /** The patient was erased (scheduling's PatientErased). */
  PatientShredded: 'PATIENT_SHREDDED',
} as const;
export type DeletionReason = (typeof DeletionReason)[keyof typeof DeletionReason];

/** Who watches: `users/<id>` (the visit's clinician) or `patients/<id>` (the recording's patient). */
export interface Viewer {
  readonly name: string;
  readonly role: 'clinician' | 'patient';
}

/** A playback grant as the aggregate keeps it (the token itself is never stored, only its SHA-256). */
export interface PlaybackGrant {
  readonly grantId: string;
  readonly viewer: string;
  readonly viewerRole: Viewer['role'];
  readonly purpose: string;
  readonly expireTime: string;
  readonly tokenSha256: string;
}

export interface RecordingPlaybackGranted {
  readonly type: typeof AccessEventType.PlaybackGranted;
  readonly data: { readonly recordingId: string; readonly patientId: string } & PlaybackGrant;
}

export interface RecordingViewed {
  readonly type: typeof AccessEventType.Viewed;
  readonly data: {
    readonly recordingId: string;
    readonly patientId: string;
    readonly viewer: string;
    readonly viewerRole: Viewer['role'];
    readonly purpose: string;
    readonly grantId: string;
    readonly offset: number;
    readonly length: number;
  };
}

/** `haven.events.v1.PhiAccessed` as the recording service appends it (same shape as the other services'). */
export interface RecordingPhiAccessed {
  readonly type: typeof AccessEventType.PhiAccessed;
  readonly data: {
    readonly who: string;
    readonly patientId: string;
    readonly whose: string;
    readonly what: string;
    readonly fields: readonly string[];
    readonly why: string;
    readonly outcome: 'granted';
    readonly method: string;
  };
}

export interface RecordingLegalHoldPlaced {
  readonly type: typeof AccessEventType.LegalHoldPlaced;
  readonly data: { readonly recordingId: string; readonly reason: string };
}

export interface RecordingLegalHoldReleased {
  readonly type: typeof AccessEventType.LegalHoldReleased;
  readonly data: { readonly recordingId: string };
}

export interface RecordingDeleted {
  readonly type: typeof AccessEventType.Deleted;
  readonly data: {
    readonly recordingId: string;
    readonly reason: DeletionReason;
    /** The object that is deleted with it (empty when it never had one). */
    readonly objectKey: string;
  };
}

/** What keeps an erased patient's recording (proto `RecordingErasureBlocked.blocker`). */
export const ErasureBlocker = {
  LegalHold: 'LEGAL_HOLD',
  /** Still recording or processing: it is shredded once finished (the erasure consumer is told again). */
  NotFinished: 'NOT_FINISHED',
} as const;
export type ErasureBlocker = (typeof ErasureBlocker)[keyof typeof ErasureBlocker];

/** The patient was erased but this recording could not be shredded (yet). Ids and a code only. */
export interface RecordingErasureBlocked {
  readonly type: typeof AccessEventType.ErasureBlocked;
  readonly data: {
    readonly recordingId: string;
    readonly patientId: string;
    readonly blocker: ErasureBlocker;
  };
}

export type AccessEvent =
  | RecordingErasureBlocked
  | RecordingPlaybackGranted
  | RecordingViewed
  | RecordingPhiAccessed
  | RecordingLegalHoldPlaced
  | RecordingLegalHoldReleased
  | RecordingDeleted;

/** What the access side adds to a recording's state. */
export interface AccessFacts {
  /** Set while a legal hold is in place. */
  readonly legalHold?: { readonly reason: string; readonly placedAt?: string };
  /** The unexpired grants (as of the last grant), newest last. */
  readonly grants?: readonly PlaybackGrant[];
  /** The patient was erased but something kept this recording (the admin sees it). */
  readonly erasureBlocked?: ErasureBlocker;
}

/** Folds an access event (the other types are not this function's); `at` is the event's occurredAt. */
export function evolveAccess(
  state: KnownRecording,
  event: { type: string; data: unknown },
  at: string | undefined,
): RecordingState {
  const e = event as AccessEvent;
  if (state.status === 'deleted') return state;
  switch (e.type) {
    case AccessEventType.PlaybackGranted: {
      const { recordingId: _r, patientId: _p, ...grant } = e.data;
      const now = at ?? '';
      const live = (state.grants ?? []).filter((g) => g.expireTime > now);
      return { ...state, grants: [...live, grant] };
    }
    case AccessEventType.ErasureBlocked:
      return { ...state, erasureBlocked: e.data.blocker };
    case AccessEventType.LegalHoldPlaced:
      return { ...state, legalHold: { reason: e.data.reason, ...(at ? { placedAt: at } : {}) } };
    case AccessEventType.LegalHoldReleased: {
      const { legalHold: _h, ...rest } = state;
      return rest;
    }
    case AccessEventType.Deleted: {
      const { grants: _g, legalHold: _h, erasureBlocked: _b, ...rest } = state as RecordingBody & AccessFacts;
      return {
        ...rest,
        status: 'deleted',
        reason: e.data.reason,
        ...(at ? { deletedAt: at } : {}),
      };
    }
    default:
      return state;
  }
}

export interface GrantPlayback {
  readonly type: 'GrantPlayback';
  readonly data: {
    readonly viewer: Viewer;
    readonly grantId: string;
    readonly tokenSha256: string;
    readonly purpose: string;
    readonly expireTime: string;
    /** The clinic lets patients play their own recordings (HAVEN_RECORDING_PATIENT_ACCESS). */
    readonly patientAccess: boolean;
    readonly method: string;
  };
}

export interface RecordView {
  readonly type: 'RecordView';
  readonly data: {
    readonly viewer: Viewer;
    readonly tokenSha256: string;
    readonly now: string;
    readonly offset: number;
    readonly length: number;
    readonly method: string;
  };
}

export interface PlaceLegalHold {
  readonly type: 'PlaceLegalHold';
  readonly data: { readonly reason: string };
}

export interface ReleaseLegalHold {
  readonly type: 'ReleaseLegalHold';
  readonly data: Record<string, never>;
}

export interface DeleteRecording {
  readonly type: 'DeleteRecording';
  readonly data: { readonly reason: DeletionReason };
}

/** The patient of the recording was erased: shred it, or record what keeps it. */
export interface ErasePatientRecording {
  readonly type: 'ErasePatientRecording';
  readonly data: Record<string, never>;
}

export type AccessCommand =
  GrantPlayback | RecordView | PlaceLegalHold | ReleaseLegalHold | DeleteRecording | ErasePatientRecording;

function known(state: RecordingState): KnownRecording {
  if (state.status === 'none') throw new NotFoundError('recording not found');
  return state;
}

function available(state: RecordingState): KnownRecording & { status: 'available' } {
  const s = known(state);
  if (s.status !== 'available') {
    throw new PreconditionError(`the recording is ${s.status}, not available for playback`);
  }
  return s;
}

/** Whether `viewer` is one of the people of the recording's visit who may watch it. */
export function mayWatch(state: KnownRecording, viewer: Viewer, patientAccess: boolean): boolean {
  if (viewer.role === 'clinician') return viewer.name === `users/${state.clinicianId}`;
  return patientAccess && viewer.name === `patients/${state.patientId}`;
}

/** The grant a token names for this viewer, unexpired at `now`. Throws PermissionError otherwise. */
export function grantFor(
  state: KnownRecording,
  viewer: Viewer,
  tokenSha256: string,
  now: string,
): PlaybackGrant {
  const grant = (state.grants ?? []).find((g) => g.tokenSha256 === tokenSha256);
  if (grant === undefined || grant.viewer !== viewer.name) {
    throw new PermissionError('no playback grant of this recording for the caller');
  }
  if (grant.expireTime <= now) throw new PermissionError('the playback grant has expired');
  return grant;
}

function phiAccessed(
  s: KnownRecording,
  who: string,
  fields: readonly string[],
  why: string,
  method: string,
): RecordingPhiAccessed {
  return {
    type: AccessEventType.PhiAccessed,
    data: {
      who,
      patientId: s.patientId,
      whose: `patients/${s.patientId}`,
      what: `recordings/${s.recordingId}`,
      fields,
      why,
      outcome: 'granted',
      method,
    },
  };
}

/** The access decisions. Pure: the caller brings ids, hashes and times. */
export function decideAccess(command: AccessCommand, state: RecordingState): readonly AccessEvent[] {
  switch (command.type) {
    case 'GrantPlayback': {
      const s = available(state);
      const { viewer, patientAccess, method, ...grant } = command.data;
      if (!mayWatch(s, viewer, patientAccess)) {
        throw new PermissionError(
          viewer.role === 'patient'
            ? 'this clinic does not let patients play recordings, or it is not their recording'
            : 'only the clinician of the visit may play this recording',
        );
      }
      return [
        {
          type: AccessEventType.PlaybackGranted,
          data: {
            recordingId: s.recordingId,
            patientId: s.patientId,
            ...grant,
            viewer: viewer.name,
            viewerRole: viewer.role,
          },
        },
        phiAccessed(s, viewer.name, ['playback_grant'], grant.purpose, method),
      ];
    }
    case 'RecordView': {
      const s = available(state);
      const { viewer, tokenSha256, now, offset, length, method } = command.data;
      const grant = grantFor(s, viewer, tokenSha256, now);
      return [
        {
          type: AccessEventType.Viewed,
          data: {
            recordingId: s.recordingId,
            patientId: s.patientId,
            viewer: viewer.name,
            viewerRole: viewer.role,
            purpose: grant.purpose,
            grantId: grant.grantId,
            offset,
            length,
          },
        },
        phiAccessed(s, viewer.name, ['media'], grant.purpose, method),
      ];
    }
    case 'PlaceLegalHold': {
      const s = known(state);
      const reason = command.data.reason.trim();
      if (reason.length === 0 || reason.length > 200) {
        throw new ValidationError([{ field: 'reason', description: 'is required, at most 200 characters' }]);
      }
      if (s.status === 'deleted') throw new PreconditionError('the recording was deleted');
      if (s.legalHold) throw new PreconditionError('the recording is already under legal hold');
      return [{ type: AccessEventType.LegalHoldPlaced, data: { recordingId: s.recordingId, reason } }];
    }
    case 'ReleaseLegalHold': {
      const s = known(state);
      if (s.status === 'deleted' || !s.legalHold) {
        throw new PreconditionError('the recording is not under legal hold');
      }
      return [{ type: AccessEventType.LegalHoldReleased, data: { recordingId: s.recordingId } }];
    }
    case 'ErasePatientRecording': {
      const s = known(state);
      if (s.status === 'deleted') return [];
      const blocker = s.legalHold
        ? ErasureBlocker.LegalHold
        : s.status === 'recording' || s.status === 'processing'
          ? ErasureBlocker.NotFinished
          : undefined;
      if (blocker === undefined) {
        return decideAccess({ type: 'DeleteRecording', data: { reason: DeletionReason.PatientShredded } }, s);
      }
      if (s.erasureBlocked === blocker) return [];
      return [
        {
          type: AccessEventType.ErasureBlocked,
          data: { recordingId: s.recordingId, patientId: s.patientId, blocker },
        },
      ];
    }
    case 'DeleteRecording': {
      const s = known(state);
      if (s.status === 'deleted') throw new PreconditionError('the recording was already deleted');
      if (s.legalHold) throw new PreconditionError('the recording is under legal hold: release it first');
      if (s.status === 'recording' || s.status === 'processing') {
        throw new PreconditionError(`the recording is ${s.status}: delete it once it is available or failed`);
      }
      return [
        {
          type: AccessEventType.Deleted,
          data: {
            recordingId: s.recordingId,
            reason: command.data.reason,
            objectKey: s.status === 'available' ? s.media.objectKey : '',
          },
        },
      ];
    }
  }
}
