/**
 * Secure messages outside visits as pages get them (`/api/messages/*`, `/api/patient/messages/*`); the live
 * channel's `messages` push is in live-view.ts. Types only and no imports: the browser app
 * (web/src/messages/thread.tsx) imports this file as well, so each wire shape has one definition.
 */

/** A thread as the pages see it (no text). */
export interface MessageThreadView {
  readonly id: string;
  readonly patientId: string;
  readonly topic: 'care' | 'scheduling';
  readonly clinicianId: string | null;
  readonly open: boolean;
  readonly messageCount: number;
  readonly unreadCount: number;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
}

/** One message; the text is plain text (pages render it as text). */
export interface SecureMessageView {
  readonly id: string;
  readonly fromPatient: boolean;
  readonly author: string;
  readonly text: string;
  readonly at: string | null;
  /** Read by the other side (a read receipt). */
  readonly read: boolean;
}

/** `GET …/threads` */
export interface MessageThreadListView {
  readonly threads: readonly MessageThreadView[];
}

/** A thread made, marked read or closed (`POST …/threads`, `…/read`, `…/close`). */
export interface MessageThreadAnswerView {
  readonly thread: MessageThreadView;
}

/** `GET …/threads/:id`: the thread and its messages (a PhiAccessed in scheduling). */
export interface MessageThreadReadView {
  readonly thread: MessageThreadView;
  readonly messages: readonly SecureMessageView[];
}

/** `POST …/threads/:id/messages` */
export interface SecureMessagePostedView {
  readonly message: SecureMessageView | null;
}

/** `POST /api/messages/join`: the link and passcode opened the messages (a patient cookie that opens no visit). */
export interface MessagesJoinedView {
  readonly ok: true;
}
