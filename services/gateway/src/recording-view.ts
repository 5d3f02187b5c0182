/**
 * Recordings as pages get them: the lists (`/api/recordings`, `/api/patient/recordings`), a playback grant, and
 * the answers of the recording controls (`/api/visits/:id/recording/*`, `/api/patient/recording/*`). Types only
 * and no imports: the browser app (web/src/recording/recording-api.ts) imports this file as well, so each wire
 * shape has one definition.
 */

/** Where a stored recording is in its life (`unknown` for anything newer than this gateway). */
export type StoredRecordingStateName =
  'recording' | 'processing' | 'available' | 'failed' | 'deleted' | 'unknown';

/** A recording in a list (metadata only). */
export interface RecordingItemView {
  readonly id: string;
  readonly visitId: string;
  readonly state: StoredRecordingStateName;
  readonly percent: number;
  readonly startTime: string | null;
  readonly endTime: string | null;
  readonly durationSeconds: number;
  readonly sizeBytes: number;
  readonly legalHold: boolean;
  /** The media server stopped during the recording: it holds what was written up to then. */
  readonly partial: boolean;
}

/** A page of recordings. */
export interface RecordingPageView {
  readonly recordings: readonly RecordingItemView[];
  readonly nextPageToken: string;
}

/** `POST /api/recordings/:id/playback`: a same-origin URL of the decrypted media, valid until `expireTime`. */
export interface PlaybackGrantView {
  readonly url: string;
  readonly expireTime: string | null;
  readonly contentType: string;
}

/** `…/recording/start`: recording at once (`on`), or a request waiting for the consents still missing. */
export interface RecordingStartView {
  readonly state: 'requested' | 'on';
  readonly recordingId: string | null;
  readonly awaitingConsent: readonly string[];
}

/** `…/recording/stop`: the recording that stopped. */
export interface RecordingStopView {
  readonly state: 'off';
  readonly recordingId: string | null;
}

/** `…/recording/cancel`: the pending request is gone (nothing was recorded). */
export interface RecordingCancelView {
  readonly state: 'off';
}

/** `…/recording/consent`: the device's consent as recorded. */
export interface RecordingConsentView {
  readonly granted: boolean;
}

/** `…/recording/ack`: the recording whose notice was acknowledged. */
export interface RecordingAckView {
  readonly recordingId: string;
}
