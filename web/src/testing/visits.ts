/** Test support for the clinician console's specs: visits and participants as the gateway answers them. */
import type { Participant, VisitDetail, VisitSummary } from '../staff/types';

/** Visit `v-1` in progress, unlocked, with one admitted participant and nobody in the lobby; `extra` over it. */
export const visitSummary = (extra: Partial<VisitSummary> = {}): VisitSummary => ({
  id: 'v-1',
  appointmentId: 'a-1',
  patientId: 'pat-1',
  startTime: null,
  endTime: null,
  status: 'in_progress',
  locked: false,
  lobbyCount: 0,
  admittedCount: 1,
  ...extra,
});

/** A patient's first device, admitted and not in the media room, nothing else known; `extra` over it. */
export const participant = (extra: Partial<Participant> & Pick<Participant, 'id'>): Participant => ({
  kind: 'patient',
  state: 'admitted',
  inMedia: false,
  device: 1,
  recordingConsented: false,
  host: false,
  deviceCheck: null,
  self: false,
  joinTime: null,
  name: null,
  ...extra,
});

/** Visit `v-1` read (GET /api/visits/:id): in progress, unlocked, nobody in it, not recorded; `extra` over it. */
export const visitDetail = (extra: Partial<VisitDetail> = {}): VisitDetail => ({
  id: 'v-1',
  status: 'in_progress',
  locked: false,
  participants: [],
  hosts: [],
  guests: [],
  identity: null,
  recording: { state: 'off', recordingId: null, consented: false },
  ...extra,
});
