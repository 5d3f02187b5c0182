/**
 * The chat's JSON as pages get it, on the live channel and from the chat routes (files, transcript). Types only and no imports: the
 * browser app (web/src/chat/use-chat.ts) imports this file as well, so the wire shape has one definition.
 */

/** A file shared in the chat: its name as sent, the type found from its bytes, its size. */
export interface ChatFileView {
  readonly id: string;
  readonly name: string;
  readonly mediaType: string;
  readonly sizeBytes: number;
}

/** A message as pages get it: bare ids, the text as typed (pages show it as text, never as markup). */
export interface ChatMessageView {
  readonly id: string;
  readonly visitId: string;
  readonly sender: string;
  readonly senderRole: 'clinician' | 'patient' | 'guest';
  readonly text: string;
  readonly at: string;
  /** Whether this socket's own principal and device posted it (pages say "You" for these only). */
  readonly mine: boolean;
  /** The file this message shares (then `text` is empty): download it from the chat file routes. */
  readonly file?: ChatFileView;
}

/** `POST …/chat/files`: the chat message that shares the file (every open chat also gets it live); null if none. */
export interface ChatFileSharedView {
  readonly message: ChatMessageView | null;
}

/** A chat transcript exported into the visit record (`/api/visits/:id/chat/transcript`). */
export interface ChatTranscriptView {
  readonly id: string;
  /** One line per message (time, sender role, text) and one per shared file. */
  readonly text: string;
  readonly messageCount: number;
  readonly fileCount: number;
  /** ISO 8601; null when the session service did not say. */
  readonly exportedAt: string | null;
}

/** `POST` (export) and `GET` (latest export) `/api/visits/:id/chat/transcript`: null when there is none. */
export interface ChatTranscriptAnswerView {
  readonly transcript: ChatTranscriptView | null;
}
