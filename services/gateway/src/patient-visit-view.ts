/**
 * The patient's own visit as their page reads it (`GET /api/patient/visit`; the live channel pushes part of it,
 * live-view.ts). Types only; its imports are the other import-free view modules: the browser app
 * (web/src/patient/join-app.tsx) imports this file as well, so the wire shape has one definition.
 */
import type { VisitRecordingView } from './staff-visit-view';

/**
 * Where the patient's device is: `waiting` | `admitted` | `denied` | `kicked` | `ended`, `left` (they left on
 * their own) or `not_joined` (not in the lobby yet).
 */
export type PatientStatusName =
  'waiting' | 'admitted' | 'denied' | 'kicked' | 'ended' | 'left' | 'not_joined';

/** One person in the media room as another participant's page labels their tiles: ids, roles, staff names. */
export interface RosterEntryView {
  /** The participant id: the first part of their Janus publisher display (`<participant id>.<MAC>`). */
  readonly id: string;
  readonly kind: string;
  /** Which of their principal's devices: 1, 2, … */
  readonly device: number;
  /** Another device of the caller's own principal (the patient's second phone), not someone else. */
  readonly yours: boolean;
  /** A staff member's display name; absent for a patient or a guest (never a patient's name). */
  readonly name?: string;
}

/** `GET /api/patient/visit`: the caller's device in its visit. */
export interface PatientVisitView {
  readonly visitId: string;
  readonly status: PatientStatusName;
  /** The page is a link guest's (an interpreter, a relative), not the patient's: no chat, recordings, access log. */
  readonly guest: boolean;
  readonly locked: boolean;
  readonly recording: VisitRecordingView;
  /** Who is in the room, for the tiles' labels; empty until this device is in it too. */
  readonly participants: readonly RosterEntryView[];
  /** The caller's own other devices already admitted (device numbers), for a device that still waits. */
  readonly yourOtherDevicesIn: readonly number[];
}

/**
 * `POST /api/join`: the patient cookie is set and opens this visit. `requiresDob` is false here; a 400 that asks
 * for the date of birth carries a field violation on `dateOfBirth` (and `requiresDob: true` beside the error).
 */
export interface PatientJoinedView {
  readonly visitId: string;
  readonly requiresDob: false;
}

/** `POST /api/join/guest`: a link guest's cookie is set and opens this visit. */
export interface GuestJoinedView {
  readonly visitId: string;
  readonly guest: true;
}
