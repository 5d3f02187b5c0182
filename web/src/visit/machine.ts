/**
 * The visit's life as an explicit state machine: a union of states on `status`, a union of typed events, and one
 * pure transition function (no DOM, no Janus, no timers). The visit component feeds it what the API, janus.js
 * and the browser report, and renders whatever state comes out.
 *
 *   idle → connecting → joining → live ⇄ reconnecting → ended | removed | left | failed
 *
 * `connecting` fetches the media credential and opens the media websocket; `joining` has sent the videoroom
 * join; `live` has its media up (publishing, or receive-only when the device has no camera or microphone).
 */

/** Why the visit stopped for good. */
export const Outcome = {
  ended: 'ended',
  removed: 'removed',
  left: 'left',
  failed: 'failed',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** What the user's own devices do while in the room. */
export interface LocalMedia {
  /** Joined without publishing: no camera or microphone could be started. */
  readonly receiveOnly: boolean;
  readonly micOn: boolean;
  readonly cameraOn: boolean;
  readonly sharing: boolean;
}

const FRESH_MEDIA: LocalMedia = { receiveOnly: false, micOn: true, cameraOn: true, sharing: false };

/** Every state of the visit. */
export type VisitState =
  | { readonly status: 'idle' }
  | { readonly status: 'connecting' }
  | { readonly status: 'joining'; readonly media: LocalMedia }
  | { readonly status: 'live'; readonly media: LocalMedia }
  | { readonly status: 'reconnecting'; readonly media: LocalMedia; readonly attempt: number }
  | { readonly status: Outcome; readonly message: string; readonly code: string | number | null };

/** A state's status word. */
export type VisitStatus = VisitState['status'];

/** Everything that can happen to a visit. */
export type VisitEvent =
  | { readonly type: 'ConnectRequested' }
  | { readonly type: 'JoinSent' }
  | { readonly type: 'MediaConnected' }
  | { readonly type: 'DevicesUnavailable' }
  | { readonly type: 'ConnectionLost' }
  | { readonly type: 'ReconnectAttempted' }
  | { readonly type: 'ConnectionRestored' }
  | { readonly type: 'Failed'; readonly code: string | number; readonly message: string }
  | { readonly type: 'RoomEnded' }
  | { readonly type: 'Removed' }
  | { readonly type: 'SignedOut'; readonly code: number }
  | { readonly type: 'LeftVisit' }
  | { readonly type: 'MicToggled'; readonly on: boolean }
  | { readonly type: 'CameraToggled'; readonly on: boolean }
  | { readonly type: 'ShareChanged'; readonly on: boolean };

/** What the user reads in each outcome. */
export const MESSAGES = {
  connecting: 'Connecting to your visit…',
  reconnecting: 'Reconnecting…',
  notAdmitted: 'You are not admitted to this visit.',
  ended: 'This visit has ended.',
  removed: 'You have been removed from the visit.',
  left: 'You left the visit.',
  unreachable: 'Cannot reach the video service. Check your connection and try again.',
  signedOut: 'You were signed out, so your video stopped.',
  receiveOnly:
    'Your camera and microphone are not available: you can see and hear the visit, but others cannot see or hear you.',
  generic: 'The video could not be started. Please try again.',
} as const;

/** The initial state. */
export const initialVisitState: VisitState = { status: 'idle' };

/** Whether the visit has stopped for good (nothing but a new ConnectRequested moves it). */
export function isFinished(state: VisitState): state is Extract<VisitState, { status: Outcome }> {
  return state.status in Outcome;
}

/** Whether the user is in the room (media may be up or coming back). */
export function inRoom(
  state: VisitState,
): state is Extract<VisitState, { status: 'joining' | 'live' | 'reconnecting' }> {
  return state.status === 'joining' || state.status === 'live' || state.status === 'reconnecting';
}

function withMedia(state: VisitState, change: Partial<LocalMedia>): VisitState {
  if (!inRoom(state)) return state;
  return { ...state, media: { ...state.media, ...change } };
}

/**
 * The next state after an event. Pure. Events that make no sense in a state leave it unchanged (janus.js
 * reports late callbacks after a teardown, the server closes a socket after a kick was already seen), and a
 * finished visit stays finished: the first outcome is the one the user reads, once.
 */
export function transition(state: VisitState, event: VisitEvent): VisitState {
  if (event.type === 'ConnectRequested') {
    return state.status === 'idle' || isFinished(state) ? { status: 'connecting' } : state;
  }
  if (isFinished(state) || state.status === 'idle') return state;
  switch (event.type) {
    case 'JoinSent':
      return state.status === 'connecting' ? { status: 'joining', media: FRESH_MEDIA } : state;
    case 'MediaConnected':
      return state.status === 'joining' || state.status === 'reconnecting'
        ? { status: 'live', media: state.media }
        : state;
    case 'DevicesUnavailable':
      // Joined, but nothing to publish: live at once, receiving only.
      return state.status === 'joining' || state.status === 'live'
        ? { status: 'live', media: { receiveOnly: true, micOn: false, cameraOn: false, sharing: false } }
        : state;
    case 'ConnectionLost':
      return state.status === 'live' ? { status: 'reconnecting', media: state.media, attempt: 0 } : state;
    case 'ReconnectAttempted':
      return state.status === 'reconnecting' ? { ...state, attempt: state.attempt + 1 } : state;
    case 'ConnectionRestored':
      return state.status === 'reconnecting' ? { status: 'live', media: state.media } : state;
    case 'Failed':
      return { status: 'failed', message: event.message, code: event.code };
    case 'RoomEnded':
      return { status: 'ended', message: MESSAGES.ended, code: null };
    case 'Removed':
      return { status: 'removed', message: MESSAGES.removed, code: null };
    case 'SignedOut':
      return { status: 'failed', message: MESSAGES.signedOut, code: event.code };
    case 'LeftVisit':
      return { status: 'left', message: MESSAGES.left, code: null };
    case 'MicToggled':
      return withMedia(state, { micOn: event.on });
    case 'CameraToggled':
      return withMedia(state, { cameraOn: event.on });
    case 'ShareChanged':
      return withMedia(state, { sharing: event.on });
  }
}

/** Close codes of the media proxy (services/session/src/media/media-access.ts) as visit events. */
export function eventForCloseCode(code: number): VisitEvent | null {
  if (code === 4401) return { type: 'SignedOut', code };
  if (code === 4403) return { type: 'Removed' };
  if (code === 4408 || code === 4410) return { type: 'RoomEnded' };
  return null;
}

/** A Janus videoroom error code as a visit failure. */
export function eventForJanusError(code: number | string, fallback?: string): VisitEvent {
  // 433: not in the allowed list, 428: no token (the proxy refused this admission).
  if (code === 433 || code === 428) return { type: 'Failed', code, message: MESSAGES.notAdmitted };
  if (code === 426) return { type: 'RoomEnded' }; // no such room
  if (code === 'session' || code === 'attach') return { type: 'Failed', code, message: MESSAGES.unreachable };
  return { type: 'Failed', code, message: fallback || MESSAGES.generic };
}

/** An API refusal of the media credential as a visit event. */
export function eventForApiError(status: number, message: string): VisitEvent {
  if (status === 403) return { type: 'Failed', code: status, message: MESSAGES.notAdmitted };
  if (status === 409 || status === 410 || status === 404) {
    return /ended|over|cancel/i.test(message)
      ? { type: 'Failed', code: status, message }
      : { type: 'RoomEnded' };
  }
  return { type: 'Failed', code: status, message: message || MESSAGES.generic };
}
