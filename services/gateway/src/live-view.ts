/**
 * The live channel's messages (`/api/ws`, ws.ts, chat-ws.ts, message-push.ts) as pages get them, and what pages
 * send on it. Types only; its imports are the other import-free view modules: the browser app
 * (web/src/live/live-channel.ts) imports this file as well, so the gateway's sends are checked against the same
 * union the pages switch on.
 */
import type { ChatMessageView } from './chat-view';
import type { PatientStatusName } from './patient-visit-view';
import type { ParticipantView, RecordingStateName, VisitCountsView } from './staff-visit-view';

/** The first message on every socket: whose it is, and a patient socket's visit. */
export interface HelloLive {
  readonly type: 'hello';
  readonly kind: 'staff' | 'patient';
  readonly visitId?: string;
}

/** The session is over; the socket closes with 4401 next (an expired token closes without this). */
export interface SignedOutLive {
  readonly type: 'signed-out';
  readonly reason: 'idle' | 'revoked';
}

/** The answer to a page's `ping`. */
export interface PongLive {
  readonly type: 'pong';
}

/** A recording was asked for, started or stopped (every page of the visit). */
export interface RecordingLive {
  readonly type: 'recording';
  readonly visitId?: string;
  readonly state: RecordingStateName;
  /** Participants whose consent is missing (requested). */
  readonly awaitingConsent?: readonly string[];
  readonly recordingId?: string;
  /**
   * Why it stopped, or why a request ended unrecorded (off): e.g. `consent_withdrawn`, `consent_refused`,
   * `cancelled_by_clinician`.
   */
  readonly reason?: string;
  /** The role of the participant who refused (`consent_refused`), never who they are. */
  readonly refusedBy?: string;
  readonly partial?: boolean;
}

/** A visit's state for its clinician's pages, with its waiting and admitted counts. */
export interface StaffVisitLive extends VisitCountsView {
  readonly type: 'visit';
  readonly visitId: string;
  readonly status: string;
  readonly locked: boolean;
  readonly recording: RecordingStateName;
}

/** Who is in a visit's lobby and room (clinicians left out), for its clinician's pages. */
export interface LobbyLive {
  readonly type: 'lobby';
  readonly visitId: string;
  readonly participants: readonly ParticipantView[];
}

/** The visit ended (its clinician's and patient's pages). */
export interface EndedLive {
  readonly type: 'ended';
  readonly visitId: string;
}

/** What happened to this patient device: let in, turned away, removed. */
export interface AdmissionLive {
  readonly type: 'admitted' | 'denied' | 'kicked';
  readonly visitId: string;
}

/** A patient device's visit state (part of `GET /api/patient/visit`, and the recording state as a word). */
export interface PatientVisitLive {
  readonly type: 'visit';
  readonly visitId: string;
  readonly status: PatientStatusName;
  readonly locked: boolean;
  readonly recording: RecordingStateName;
  readonly recordingConsented: boolean;
  /** The patient's own other devices already admitted (device numbers). */
  readonly yourOtherDevicesIn: readonly number[];
}

/** The clinic posted or cleared a waiting-room note: the page reads it itself (a PHI read). */
export interface LobbyNoticeLive {
  readonly type: 'lobby-notice';
  readonly visitId: string;
}

/** A secure-message thread changed (ids and counts, never text), to the pages of its members. */
export interface MessagesLive {
  readonly type: 'messages';
  readonly threadId: string;
  /** What happened since the last push: `posted`, `read`, `opened`, `closed`. */
  readonly events: readonly string[];
  readonly messageCount: number;
  readonly unreadCount: number;
  readonly open: boolean;
}

/** The chat's history, or what the socket had not seen of it yet (after `chat-open` and on new messages). */
export interface ChatLive {
  readonly type: 'chat';
  readonly visitId: string;
  readonly messages: readonly ChatMessageView[];
}

/** A `chat-send` went through (its `ref` echoed). */
export interface ChatSentLive {
  readonly type: 'chat-sent';
  readonly ref?: string;
  readonly message: ChatMessageView | null;
}

/** A chat call was refused (its `ref` echoed), or the chat of `visitId` cannot be read any more. */
export interface ChatErrorLive {
  readonly type: 'chat-error';
  readonly ref?: string;
  readonly visitId?: string;
  readonly code: string;
  readonly reason: string;
  readonly retryAfterMs?: number;
}

/** The chat's answers. */
export type ChatReplyLive = ChatLive | ChatSentLive | ChatErrorLive;

/** Sent on every socket, staff's and patients' alike. */
type AnyPageLive = HelloLive | SignedOutLive | PongLive | RecordingLive | MessagesLive | ChatReplyLive;

/** What the gateway sends a staff page. */
export type StaffLiveMessage = AnyPageLive | StaffVisitLive | LobbyLive | EndedLive;

/** What the gateway sends a patient's (or a link guest's) page. */
export type PatientLiveMessage = AnyPageLive | PatientVisitLive | AdmissionLive | EndedLive | LobbyNoticeLive;

/** Everything the gateway sends on the live channel. */
export type LiveMessage = StaffLiveMessage | PatientLiveMessage;

/** What a page sends on the live channel (the gateway checks every field: these are the shapes it takes). */
export type LivePageMessage =
  | { readonly type: 'activity' }
  | { readonly type: 'ping' }
  /** A patient page's chat is its token's visit: no `visitId`. */
  | { readonly type: 'chat-open'; readonly visitId?: string }
  | { readonly type: 'chat-send'; readonly visitId?: string; readonly text: string; readonly ref: string };
