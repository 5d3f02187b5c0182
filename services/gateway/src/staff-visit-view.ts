/**
 * The clinician's visits as staff pages get them: today's list (`GET /api/visits`), one visit
 * (`GET /api/visits/:id`) and its participants (also pushed on the live channel). Types only and no imports: the
 * browser app (web/src/staff/types.ts) imports this file as well, so each wire shape has one definition.
 */

/** A participant's state as the browser names it. */
export type ParticipantStateName = 'lobby' | 'admitted' | 'denied' | 'kicked' | 'left';

/** What a participant's device check found on arrival (no PHI). */
export interface DeviceCheckView {
  readonly camera: boolean;
  readonly microphone: boolean;
  readonly speaker: boolean;
  readonly permission: string;
}

/** A participant as the browser sees it. */
export interface ParticipantView {
  readonly id: string;
  readonly kind: string;
  readonly state: ParticipantStateName;
  readonly inMedia: boolean;
  /** Which of the principal's devices: 1 for the first, 2 for a second redemption of the same link, … */
  readonly device: number;
  /** Whether their latest decision on recording is a consent. */
  readonly recordingConsented: boolean;
  /** Whether they hold host rights (admit, remove, end, record). */
  readonly host: boolean;
  /** What their device check found on arrival, or null when they reported none. */
  readonly deviceCheck: DeviceCheckView | null;
  /** Whether this entry is the caller's own (a clinician who handed host rights over is not someone to remove). */
  readonly self: boolean;
  /** When they arrived in the lobby (the clinician: joined), ISO 8601; null when unknown. */
  readonly joinTime: string | null;
  /** A staff member's display name ("Dr. Amara Okafor"); null for a patient or a link guest (see staffNameOf). */
  readonly name: string | null;
}

/** A visit as the gateway maps it (the lists and the live channel take their parts from it). */
export interface VisitView {
  readonly id: string;
  readonly appointmentId: string;
  /** The patient's id (never the name: showing it is a PHI read, see GET /api/patients/:id). */
  readonly patientId: string;
  readonly status: string;
  readonly locked: boolean;
  readonly participants: ParticipantView[];
}

/** Waiting and admitted non-clinician participants of a visit. */
export interface VisitCountsView {
  readonly lobbyCount: number;
  readonly admittedCount: number;
}

/** A visit in the clinician's list (`GET /api/visits`), with its appointment's times. */
export interface VisitSummaryView extends VisitCountsView {
  readonly id: string;
  readonly appointmentId: string;
  readonly patientId: string;
  readonly startTime: string | null;
  readonly endTime: string | null;
  readonly status: string;
  readonly locked: boolean;
}

/** `GET /api/visits`: the clinician's visits of today. */
export interface VisitSummaryListView {
  readonly visits: readonly VisitSummaryView[];
}

/** Whether the visit is being recorded (`on`), waits for consents (`requested`), or neither (`off`). */
export type RecordingStateName = 'on' | 'requested' | 'off';

/** The recording state of a visit as the browser names it, with the recording and the caller's own consent. */
export interface VisitRecordingView {
  readonly state: RecordingStateName;
  readonly recordingId: string | null;
  readonly consented: boolean;
}

/** A guest invited into the visit: a link guest (`link`) or a staff member, and the role they join in. */
export interface InvitedGuestView {
  readonly id: string;
  readonly link: boolean;
  readonly role: string;
}

/** `POST /api/visits/:id/guest-links`: a link guest's one-time link and passcode, shown to the host once. */
export interface GuestLinkView {
  readonly guestId: string;
  /** `interpreter` or `family`. */
  readonly role: string;
  readonly url: string;
  readonly passcode: string;
  /** When the link stops working, ISO 8601; null when scheduling did not say. */
  readonly expireTime: string | null;
}

/** The patient's identity confirmation: who confirmed it, when, how. */
export interface IdentityConfirmationView {
  readonly confirmedBy: string;
  readonly confirmTime: string | null;
  readonly method: string;
}

/** One visit as its clinician's page reads it (`GET /api/visits/:id`, the `visit` field). */
export interface VisitDetailView {
  readonly id: string;
  readonly status: string;
  readonly locked: boolean;
  readonly participants: readonly ParticipantView[];
  /** The hosts' user ids. */
  readonly hosts: readonly string[];
  readonly guests: readonly InvitedGuestView[];
  readonly identity: IdentityConfirmationView | null;
  readonly recording: VisitRecordingView;
}

/** `GET /api/visits/:id`. */
export interface VisitReadView {
  readonly visit: VisitDetailView;
}

/** `GET /api/visits/:id/identity-check`: the patient's date of birth for a verbal check (a PHI read), for a host. */
export interface IdentityCheckView {
  readonly dateOfBirth: string;
  readonly identity: IdentityConfirmationView | null;
}

/** `POST /api/visits/:id/identity`: the confirmation as recorded. */
export interface IdentityConfirmedView {
  readonly identity: IdentityConfirmationView | null;
}
