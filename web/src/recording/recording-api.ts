/** The gateway's recording routes as the pages use them. */
import { api } from '../api/client';
import type { VisitRecordingView } from '../../../services/gateway/src/staff-visit-view';

/** The recording part of a visit read (GET /api/visits/:id and /api/patient/visit). */
export type RecordingView = VisitRecordingView;

/** Where one page's recording controls talk to: the visit read and the recording actions. */
export interface RecordingEndpoints {
  /** GET: the visit, with its `recording` view (`/api/visits/:id` or `/api/patient/visit`). */
  readonly stateUrl: string;
  /** Base of `/start`, `/cancel`, `/stop`, `/consent`, `/ack` (`/api/visits/:id/recording` or `/api/patient/recording`). */
  readonly actionsUrl: string;
  /** GET: the recordings of this visit, for the processing percent after a stop (clinician). */
  readonly listUrl?: string;
}

/** A recording in a list (services/gateway/src/routes/recordings.ts recordingListView). */
export interface RecordingItem {
  readonly id: string;
  readonly visitId: string;
  readonly state: 'recording' | 'processing' | 'available' | 'failed' | 'deleted' | 'unknown';
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
export interface RecordingPage {
  readonly recordings: readonly RecordingItem[];
  readonly nextPageToken: string;
}

/** A playback grant: a same-origin URL of the decrypted media, valid until `expireTime`. */
export interface PlaybackGrant {
  readonly url: string;
  readonly expireTime: string | null;
  readonly contentType: string;
}

/** Reads the recording view of the visit. */
export async function readRecordingView(endpoints: RecordingEndpoints): Promise<RecordingView | null> {
  const body = await api<{ visit?: { recording?: RecordingView }; recording?: RecordingView }>(
    'GET',
    endpoints.stateUrl,
  );
  return body.visit?.recording ?? body.recording ?? null;
}

/** The recording calls of one page. */
export interface RecordingCalls {
  readonly read: () => Promise<RecordingView | null>;
  readonly start: () => Promise<{ state: string; recordingId: string | null; awaitingConsent: string[] }>;
  readonly stop: () => Promise<{ state: string; recordingId: string | null }>;
  /** The clinician cancels their pending request. */
  readonly cancel: () => Promise<{ state: string }>;
  readonly consent: (granted: boolean) => Promise<{ granted: boolean }>;
  readonly ack: () => Promise<{ recordingId: string }>;
  readonly list: () => Promise<RecordingPage | null>;
}

/** The gateway's recording calls for these endpoints. */
export function recordingCalls(endpoints: RecordingEndpoints): RecordingCalls {
  const base = endpoints.actionsUrl;
  return {
    read: () => readRecordingView(endpoints),
    start: () => api('POST', `${base}/start`, {}),
    stop: () => api('POST', `${base}/stop`, {}),
    cancel: () => api('POST', `${base}/cancel`, {}),
    consent: (granted) => api('POST', `${base}/consent`, { granted }),
    ack: () => api('POST', `${base}/ack`, {}),
    list: async () => (endpoints.listUrl ? api<RecordingPage>('GET', endpoints.listUrl) : null),
  };
}

/** Asks for a playback grant (the recording service records it, and each range it serves, before any byte). */
export function requestPlayback(
  id: string,
  purpose?: 'treatment' | 'patient_request',
): Promise<PlaybackGrant> {
  return api('POST', `/api/recordings/${encodeURIComponent(id)}/playback`, purpose ? { purpose } : {});
}
