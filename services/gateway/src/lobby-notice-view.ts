/**
 * The waiting room's note as the patient's page reads it (`GET /api/patient/lobby-notice`, and the clinician's
 * `POST /api/visits/:id/lobby-notice` answer). Types only and no imports: the browser app
 * (web/src/lobby/waiting-notice.tsx) imports this file as well, so the wire shape has one definition.
 */

/** No note, the canned "running late" (with the minutes), or a note the clinician typed. */
export type LobbyNoticeKindName = 'none' | 'running_late' | 'typed';

/** A note as the pages see it. */
export interface LobbyNoticeView {
  readonly kind: LobbyNoticeKindName;
  readonly delayMinutes: number;
  readonly text: string;
  /** Whether the waiting room shows the patient's place in the queue (`position`, from 1). */
  readonly showPosition: boolean;
  readonly position: number;
  readonly at: string | null;
}

/** Both lobby-notice routes answer `{ notice }`. */
export interface LobbyNoticeAnswerView {
  readonly notice: LobbyNoticeView;
}
