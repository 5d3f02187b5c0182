/**
 * What the recording controls show, as one pure reducer: the server's state (off / requested / on), this
 * participant's consent, the dialog, and the clinician's processing percent after a stop.
 */
import { afterPush, NO_PUSHES, pushedSince, type PushCounts } from '../live/push-counts';
import type { RecordingLiveMessage } from './recording-bus';
import type { RecordingView } from './recording-api';

/** The recording controls' state. */
export interface RecordingUiState {
  /** What the server says: nothing, asked for (waiting for consent), recording. */
  readonly server: 'off' | 'requested' | 'on';
  /** Participants whose consent is missing, while requested. */
  readonly awaiting: readonly string[];
  /** This participant's consent to the current request or recording: given, refused, or not asked yet. */
  readonly consent: 'given' | 'refused' | 'unknown';
  /** The consent dialog is open. */
  readonly dialog: boolean;
  readonly recordingId: string | null;
  /** The recording being acknowledged (one acknowledgement per recording). */
  readonly acknowledged: string | null;
  /** After a stop: the recording being processed and its percent (clinician). */
  readonly processing: { readonly recordingId: string; readonly percent: number } | null;
  /** Why the last recording stopped, when not by the clinician (e.g. consent withdrawn). */
  readonly stoppedBecause: string | null;
  /** Why the last request ended unrecorded (a role refused, or the clinician cancelled); null once asked again. */
  readonly requestEnded: string | null;
  /** A request is in flight. */
  readonly busy: boolean;
  /**
   * The live pushes heard: `live` any, `settled` those that settled a request (recording on, or off). Once the
   * live channel has said something, the first read, if it answers later, is older news.
   */
  readonly pushes: PushCounts;
  /**
   * The pushes when the last call started: a request settled since makes the call's own answer, if it comes
   * later, older news (a patient can refuse before the clinician's start call returns).
   */
  readonly callStart: PushCounts;
  readonly error: string | null;
}

/** What changes it. */
export type RecordingUiEvent =
  | {
      readonly type: 'Read';
      readonly view: RecordingView;
      readonly role: 'clinician' | 'patient';
      /** In the room (a recording there has everyone's consent), not waiting to be let in. */
      readonly present: boolean;
    }
  | {
      readonly type: 'Live';
      readonly message: RecordingLiveMessage;
      readonly role: 'clinician' | 'patient';
      readonly present: boolean;
    }
  | { readonly type: 'Requested'; readonly awaiting: readonly string[]; readonly recordingId: string | null }
  | { readonly type: 'Stopped'; readonly recordingId: string | null }
  | { readonly type: 'Cancelled' }
  | { readonly type: 'ConsentSent'; readonly granted: boolean }
  | { readonly type: 'DialogClosed' }
  | { readonly type: 'WithdrawAsked' }
  | { readonly type: 'Acknowledged'; readonly recordingId: string }
  | {
      readonly type: 'Progress';
      readonly recordingId: string;
      readonly percent: number;
      readonly done: boolean;
    }
  | { readonly type: 'Busy' }
  | { readonly type: 'Failed'; readonly message: string };

export const initialRecordingUi: RecordingUiState = {
  server: 'off',
  awaiting: [],
  consent: 'unknown',
  dialog: false,
  recordingId: null,
  acknowledged: null,
  processing: null,
  stoppedBecause: null,
  requestEnded: null,
  busy: false,
  pushes: NO_PUSHES,
  callStart: NO_PUSHES,
  error: null,
};

/** The push topics: any recording message, and one that settled a request (on or off). */
const LIVE = 'live';
const SETTLED = 'settled';

/** A participant's role in words (services/session ParticipantRole). */
function roleWord(role: string | undefined): string {
  switch (role) {
    case 'patient':
    case 'clinician':
    case 'interpreter':
      return `the ${role}`;
    case 'family':
      return 'a family member';
    default:
      return 'a participant';
  }
}

/**
 * The words for why a recording stopped (services/session RecordingStopReason) or why a request ended unrecorded
 * (RecordingRequestEndReason, with the refusing participant's role), or null when the clinician stopped it.
 */
export function stopReasonText(reason: string | undefined, refusedBy?: string): string | null {
  switch (reason) {
    case 'consent_refused':
      return `Not recording: ${roleWord(refusedBy)} refused consent.`;
    case 'cancelled_by_clinician':
      return 'Recording request cancelled.';
    case 'consent_withdrawn':
      return 'Recording stopped: someone withdrew their consent.';
    case 'media_node_lost':
      return 'Recording stopped: the media connection was lost. What was recorded is kept.';
    default:
      return null;
  }
}

/** The state after a pushed live message (recording requested, on or off). */
function afterLive(
  state: RecordingUiState,
  event: Extract<RecordingUiEvent, { type: 'Live' }>,
): RecordingUiState {
  const m = event.message;
  if (m.state === 'requested') {
    const mine = state.consent === 'given';
    return {
      ...state,
      server: 'requested',
      awaiting: m.awaitingConsent ?? [],
      // The clinician asked and so consented; everyone else is asked.
      dialog: event.role === 'patient' && !mine,
      consent: event.role === 'clinician' ? 'given' : mine ? 'given' : 'unknown',
      stoppedBecause: null,
      requestEnded: null,
      error: null,
    };
  }
  if (m.state === 'on') {
    return {
      ...state,
      server: 'on',
      awaiting: [],
      recordingId: m.recordingId ?? state.recordingId,
      // It started: everyone present consented, this participant included. Someone waiting to be let in
      // is asked (they are admitted only once they consented).
      consent: event.present ? 'given' : state.consent,
      dialog: !event.present && event.role === 'patient' && state.consent === 'unknown',
      stoppedBecause: null,
      requestEnded: null,
    };
  }
  const id = m.recordingId ?? state.recordingId;
  return {
    ...state,
    server: 'off',
    awaiting: [],
    dialog: false,
    consent: 'unknown',
    recordingId: null,
    busy: false,
    stoppedBecause: stopReasonText(m.reason, m.refusedBy),
    requestEnded:
      m.reason === 'consent_refused' || m.reason === 'cancelled_by_clinician'
        ? stopReasonText(m.reason, m.refusedBy)
        : null,
    processing: event.role === 'clinician' && id ? { recordingId: id, percent: 0 } : state.processing,
  };
}

/** The next state. Pure. */
export function recordingUi(state: RecordingUiState, event: RecordingUiEvent): RecordingUiState {
  switch (event.type) {
    case 'Read': {
      if (pushedSince(state.pushes, NO_PUSHES, LIVE)) return state;
      const { view, role, present } = event;
      // A recording runs only with everyone present consenting.
      const consent =
        view.consented || (view.state === 'on' && present)
          ? 'given'
          : state.consent === 'refused'
            ? 'refused'
            : 'unknown';
      return {
        ...state,
        server: view.state,
        recordingId: view.recordingId,
        consent: view.state === 'off' && role === 'patient' ? 'unknown' : consent,
        dialog: view.state !== 'off' && consent === 'unknown' && role === 'patient',
      };
    }
    case 'Live':
      return {
        ...afterLive(state, event),
        pushes: afterPush(state.pushes, LIVE, ...(event.message.state === 'requested' ? [] : [SETTLED])),
      };
    case 'Requested':
      if (pushedSince(state.pushes, state.callStart, SETTLED)) return { ...state, busy: false };
      return {
        ...state,
        busy: false,
        consent: 'given',
        server: event.recordingId ? 'on' : 'requested',
        recordingId: event.recordingId ?? state.recordingId,
        awaiting: event.recordingId ? [] : event.awaiting,
        stoppedBecause: null,
        requestEnded: null,
      };
    case 'Stopped':
      return {
        ...state,
        busy: false,
        server: 'off',
        consent: 'unknown',
        recordingId: null,
        processing: event.recordingId ? { recordingId: event.recordingId, percent: 0 } : state.processing,
      };
    case 'Cancelled':
      return {
        ...state,
        busy: false,
        server: 'off',
        awaiting: [],
        stoppedBecause: stopReasonText('cancelled_by_clinician'),
        requestEnded: stopReasonText('cancelled_by_clinician'),
      };
    case 'ConsentSent':
      return {
        ...state,
        busy: false,
        dialog: false,
        consent: event.granted ? 'given' : 'refused',
      };
    case 'DialogClosed':
      return { ...state, dialog: false };
    case 'WithdrawAsked':
      return { ...state, dialog: true };
    case 'Acknowledged':
      return { ...state, acknowledged: event.recordingId };
    case 'Progress':
      if (state.processing?.recordingId !== event.recordingId) return state;
      return {
        ...state,
        processing: event.done ? null : { recordingId: event.recordingId, percent: event.percent },
      };
    case 'Busy':
      return { ...state, busy: true, callStart: state.pushes, error: null };
    case 'Failed':
      return { ...state, busy: false, error: event.message };
  }
}
