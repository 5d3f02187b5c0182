/**
 * Where other features put their panels in the clinician's screens, without editing the console: add an entry
 * to one of these arrays (one import and one line; keep the arrays sorted by `id`).
 *
 * - `consolePanels`: cards under the list of today's visits (e.g. notifications, messages).
 * - `visitPanels`: panels beside the video of one open visit, under the waiting room and the people in the
 *   visit (e.g. the recordings list, chat; the guests' controls are the first). They get the visit's id,
 *   status, the patient's name (already read for treatment when the visit opened; null until then), whether
 *   the clinician is on video, everyone in the visit and a function that reads the visit again.
 *
 * A panel renders its own card or section with a heading of its own level (h2 in the console, h3 in a visit).
 */
import type { ComponentType } from 'react';
import { GuestControls } from '../guests/guest-controls';
import { IdentityCheck } from '../identity/identity-check';
import { StaffMessages } from '../messages/staff-messages';
import type { Participant } from './types';
import { VisitRecordingsPanel } from '../recording/visit-recordings-panel';

/** What a panel in the console receives. */
export interface ConsolePanelProps {
  /** Opens a visit in the console (as the list's Open button does). */
  readonly openVisit: (visitId: string) => void;
}

/** What a panel beside an open visit receives. */
export interface VisitPanelProps {
  readonly visitId: string;
  /** open | in_progress | ended */
  readonly status: string;
  readonly patientName: string | null;
  /** Whether the clinician's own video is live in this visit. */
  readonly onVideo: boolean;
  /** Everyone in the visit, clinicians included, as GET /api/visits/:id lists them. */
  readonly participants: readonly Participant[];
  /** Reads the visit again (after a change a panel made). */
  readonly refresh: () => void;
}

/** One extra panel. */
export interface Panel<P> {
  /** A stable key, e.g. `recordings`. */
  readonly id: string;
  readonly component: ComponentType<P>;
}

/** Cards under today's visits. */
export const consolePanels: ReadonlyArray<Panel<ConsolePanelProps>> = [
  { id: 'messages', component: ClinicianMessages },
];

/** The clinician's secure messages with their patients (web/src/messages). */
function ClinicianMessages() {
  return <StaffMessages role="clinician" />;
}

/** Guests and host rights (web/src/guests), while the visit is not over. */
function GuestsPanel({ visitId, status, participants, refresh }: VisitPanelProps) {
  if (status === 'ended') return null;
  return <GuestControls visitId={visitId} participants={participants} onChanged={refresh} />;
}

/** The patient's identity check (web/src/identity), while the visit is not over. */
function IdentityPanel({ visitId, status }: VisitPanelProps) {
  if (status === 'ended') return null;
  return <IdentityCheck visitId={visitId} />;
}

/** Panels beside one open visit. */
export const visitPanels: ReadonlyArray<Panel<VisitPanelProps>> = [
  { id: 'guests', component: GuestsPanel },
  { id: 'identity', component: IdentityPanel },
  { id: 'recordings', component: VisitRecordingsPanel },
];
