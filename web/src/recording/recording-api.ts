/** The gateway's recording routes as the pages use them. */
import { api } from '../api/client';
import type { PatientVisitView } from '../../../services/gateway/src/patient-visit-view';
import type { VisitReadView, VisitRecordingView } from '../../../services/gateway/src/staff-visit-view';
import type {
  PlaybackGrantView as PlaybackGrant,
  RecordingAckView,
  RecordingCancelView,
  RecordingConsentView,
  RecordingPageView as RecordingPage,
  RecordingStartView,
  RecordingStopView,
} from '../../../services/gateway/src/recording-view';

/** A recording in a list, a page of them, a playback grant (services/gateway/src/recording-view.ts). */
export type { RecordingItemView as RecordingItem } from '../../../services/gateway/src/recording-view';
export type { PlaybackGrant, RecordingPage };

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

/** Reads the recording view of the visit. */
export async function readRecordingView(endpoints: RecordingEndpoints): Promise<RecordingView | null> {
  const body = await api<VisitReadView | PatientVisitView>('GET', endpoints.stateUrl);
  return 'visit' in body ? body.visit.recording : body.recording;
}

/** The recording calls of one page. */
export interface RecordingCalls {
  readonly read: () => Promise<RecordingView | null>;
  readonly start: () => Promise<RecordingStartView>;
  readonly stop: () => Promise<RecordingStopView>;
  /** The clinician cancels their pending request. */
  readonly cancel: () => Promise<RecordingCancelView>;
  readonly consent: (granted: boolean) => Promise<RecordingConsentView>;
  readonly ack: () => Promise<RecordingAckView>;
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
