/**
 * The browser's view of visits and appointments (what /api/visits, /api/patient/visit and the WebSocket send):
 * bare ids instead of resource names, lower-case state words instead of proto enums. Never PHI. The staff pages'
 * types are in staff-visit-view.ts, which the browser app imports too.
 */
import { scheduling, session } from '@haven/proto';
import { lastSegment } from './http';
import type { MediaPresence } from './context';
import type { AppointmentStateName, AppointmentView } from './appointment-view';
import type { MediaView } from './media-view';
import type { PatientStatusName, RosterEntryView } from './patient-visit-view';
import type {
  ParticipantStateName,
  ParticipantView,
  VisitCountsView,
  VisitRecordingView,
  VisitView,
} from './staff-visit-view';

const PARTICIPANT_STATE: Readonly<Record<number, ParticipantStateName>> = {
  [session.ParticipantState.PARTICIPANT_STATE_WAITING]: 'lobby',
  [session.ParticipantState.PARTICIPANT_STATE_ADMITTED]: 'admitted',
  [session.ParticipantState.PARTICIPANT_STATE_DENIED]: 'denied',
  [session.ParticipantState.PARTICIPANT_STATE_KICKED]: 'kicked',
  [session.ParticipantState.PARTICIPANT_STATE_LEFT]: 'left',
};

const PARTICIPANT_KIND: Readonly<Record<number, string>> = {
  [session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN]: 'clinician',
  [session.ParticipantRole.PARTICIPANT_ROLE_PATIENT]: 'patient',
  [session.ParticipantRole.PARTICIPANT_ROLE_GUEST]: 'guest',
  [session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER]: 'interpreter',
  [session.ParticipantRole.PARTICIPANT_ROLE_FAMILY]: 'family',
};

const VISIT_STATUS: Readonly<Record<number, string>> = {
  [session.VisitState.VISIT_STATE_OPEN]: 'open',
  [session.VisitState.VISIT_STATE_IN_PROGRESS]: 'in_progress',
  [session.VisitState.VISIT_STATE_ENDED]: 'ended',
};

const APPOINTMENT_STATE: Readonly<Record<number, AppointmentStateName>> = {
  [scheduling.AppointmentState.APPOINTMENT_STATE_SCHEDULED]: 'scheduled',
  [scheduling.AppointmentState.APPOINTMENT_STATE_IN_PROGRESS]: 'in_progress',
  [scheduling.AppointmentState.APPOINTMENT_STATE_COMPLETED]: 'completed',
  [scheduling.AppointmentState.APPOINTMENT_STATE_CANCELLED]: 'cancelled',
  [scheduling.AppointmentState.APPOINTMENT_STATE_NO_SHOW]: 'no_show',
};

/**
 * The name a visit read may show for a participant: a staff user's display name, never anyone else's (a
 * patient's name is PHI that only the clinician's own audited read shows; a link guest has none).
 */
export function staffNameOf(p: session.Participant): string | null {
  return p.principal.startsWith('users/') && p.displayName !== '' ? p.displayName : null;
}

/** Maps a participant. */
export function participantView(
  visitId: string,
  p: session.Participant,
  media: MediaPresence | undefined,
  hosts: readonly string[] = [],
  callerParticipant = '',
): ParticipantView {
  const id = lastSegment(p.name);
  return {
    id,
    kind: PARTICIPANT_KIND[p.role] ?? 'guest',
    state: PARTICIPANT_STATE[p.state] ?? 'left',
    inMedia: media?.inMedia(visitId, id) ?? false,
    device: p.device || 1,
    recordingConsented: p.recordingConsented,
    host: hosts.includes(p.principal),
    self: callerParticipant !== '' && p.name === callerParticipant,
    deviceCheck: p.deviceCheck
      ? {
          camera: p.deviceCheck.camera,
          microphone: p.deviceCheck.microphone,
          speaker: p.deviceCheck.speaker,
          permission: PERMISSION_NAMES[p.deviceCheck.permission] ?? 'unavailable',
        }
      : null,
    joinTime: p.joinTime?.toISOString() ?? null,
    name: staffNameOf(p),
  };
}

const PERMISSION_NAMES: Readonly<Partial<Record<session.DevicePermission, string>>> = {
  [session.DevicePermission.DEVICE_PERMISSION_GRANTED]: 'granted',
  [session.DevicePermission.DEVICE_PERMISSION_DENIED]: 'denied',
  [session.DevicePermission.DEVICE_PERMISSION_UNAVAILABLE]: 'unavailable',
};

/** Maps a visit. */
export function visitView(v: session.Visit, media?: MediaPresence): VisitView {
  const id = lastSegment(v.name);
  return {
    id,
    appointmentId: lastSegment(v.appointment),
    patientId: lastSegment(v.patient),
    status: VISIT_STATUS[v.state] ?? 'open',
    locked: v.locked,
    participants: v.participants.map((p) => participantView(id, p, media, v.hosts, v.callerParticipant)),
  };
}

/**
 * Who is admitted to the visit, for the caller's tiles (`GET /api/patient/visit`): participant ids, roles,
 * device numbers and staff names only (a patient's name never: a guest sees "Patient"). The principals stay on
 * the server; `yours` tells the caller's other devices apart.
 */
export function rosterView(v: session.Visit): RosterEntryView[] {
  const own = v.participants.find((p) => p.name === v.callerParticipant)?.principal;
  return v.participants
    .filter((p) => p.state === session.ParticipantState.PARTICIPANT_STATE_ADMITTED)
    .map((p) => {
      const name = staffNameOf(p);
      return {
        id: lastSegment(p.name),
        kind: PARTICIPANT_KIND[p.role] ?? 'guest',
        device: p.device || 1,
        yours: own !== undefined && p.principal === own && p.name !== v.callerParticipant,
        ...(name !== null ? { name } : {}),
      };
    });
}

/**
 * The caller's own other devices already admitted (their device numbers), so a device still waiting can say
 * "your device 1 is already in the visit". Only the caller's own principal's devices: never anyone else's.
 */
export function ownDevicesIn(v: session.Visit): number[] {
  const own = v.participants.find((p) => p.name === v.callerParticipant)?.principal;
  if (own === undefined || own === '') return [];
  return v.participants
    .filter(
      (p) =>
        p.principal === own &&
        p.name !== v.callerParticipant &&
        p.state === session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
    )
    .map((p) => p.device || 1)
    .sort((a, b) => a - b);
}

/** The recording state of a visit as the browser names it, with the recording and the caller's own consent. */
export function recordingView(v: session.Visit): VisitRecordingView {
  const own = v.participants.find((p) => p.name === v.callerParticipant);
  return {
    state: v.recording ? 'on' : v.recordingRequested ? 'requested' : 'off',
    recordingId: v.activeRecording ? lastSegment(v.activeRecording) : null,
    consented: own?.recordingConsented ?? false,
  };
}

/** Waiting and admitted non-clinician participants of a visit. */
export function visitCounts(v: VisitView): VisitCountsView {
  const others = v.participants.filter((p) => p.kind !== 'clinician');
  return {
    lobbyCount: others.filter((p) => p.state === 'lobby').length,
    admittedCount: others.filter((p) => p.state === 'admitted').length,
  };
}

/** An appointment as the browser sees it (never the reason: PHI). */
export function appointmentView(a: scheduling.Appointment): AppointmentView {
  return {
    id: lastSegment(a.name),
    clinicianId: lastSegment(a.clinician),
    patientId: lastSegment(a.patient),
    startTime: a.startTime?.toISOString() ?? null,
    endTime: a.endTime?.toISOString() ?? null,
    state: APPOINTMENT_STATE[a.state] ?? 'scheduled',
    visitId: a.visit ? lastSegment(a.visit) : null,
    // A recurring appointment's series and which occurrence it is (from 1); absent for a single one.
    ...(a.seriesId ? { seriesId: a.seriesId, occurrence: a.occurrence } : {}),
  };
}

/**
 * What the browser needs to join the media room (JoinMedia), for staff and patients alike: where the media
 * websocket is (the gateway's own `/api/media`, `?as=patient` for the patient cookie) and this admission's
 * media credential (janus.js's `token`). No Janus address, token, room PIN or room token: the session service's
 * media proxy adds those itself.
 */
export function mediaView(r: session.JoinMediaResponse, opts: { patient?: boolean } = {}): MediaView {
  const server = r.serverUrl || '/api/media';
  return {
    serverUrl: opts.patient ? `${server}${server.includes('?') ? '&' : '?'}as=patient` : server,
    mediaCredential: r.mediaCredential,
    participantId: lastSegment(r.participant),
    expireTime: r.expireTime?.toISOString() ?? null,
    iceServers: r.iceServers.map((s) => ({
      urls: s.urls,
      ...(s.username ? { username: s.username } : {}),
      ...(s.credential ? { credential: s.credential } : {}),
    })),
  };
}

/**
 * Where the patient's device is (the visit read with that device's token): `waiting` | `admitted` | `denied` |
 * `kicked` | `ended`, plus `left` (they left on their own) and `not_joined` (not in the lobby yet). Each device
 * of a patient is its own participant: another device's admission is not this one's.
 */
export function patientStatus(visit: session.Visit): PatientStatusName {
  if (visit.state === session.VisitState.VISIT_STATE_ENDED) return 'ended';
  // Not in the visit yet (caller_participant empty): not_joined, even when another device of the same patient
  // was admitted.
  const me =
    visit.callerParticipant === ''
      ? undefined
      : visit.participants.find((p) => p.name === visit.callerParticipant);
  switch (me?.state) {
    case session.ParticipantState.PARTICIPANT_STATE_WAITING:
      return 'waiting';
    case session.ParticipantState.PARTICIPANT_STATE_ADMITTED:
      return 'admitted';
    case session.ParticipantState.PARTICIPANT_STATE_DENIED:
      return 'denied';
    case session.ParticipantState.PARTICIPANT_STATE_KICKED:
      return 'kicked';
    case session.ParticipantState.PARTICIPANT_STATE_LEFT:
      return 'left';
    default:
      return 'not_joined';
  }
}
