/**
 * gRPC handlers of SessionService for visits: validate the request (field violations), check the caller's kind
 * and ownership (a clinician only their own visits, a patient only the visit of their token), run the visit
 * service, map the state to the API.
 */
import { randomUUID } from 'node:crypto';
import {
  NotFoundError,
  PermissionError,
  PreconditionError,
  ValidationError,
  collectViolations,
  type FieldViolation,
} from '@haven/errors';
import { session } from '@haven/proto';
import {
  bindHandlers,
  commandMetadata,
  idempotencyKey,
  nextOffsetToken,
  offsetPage,
  pageItems,
  requestRecord,
  requirePrincipal,
  type CallContext,
  type CommandMetadata,
  type Principal,
} from '@haven/service';
import { principalOf, visitAccess, type Caller } from './decide';
import { callerOf, participantNameOf, visitIdOf } from './names';
import type { VisitProjection } from './projection';
import { participantIdOf } from './room-access';
import {
  GuestRole,
  IdentityMethod,
  hostsOf,
  ParticipantRole,
  ParticipantStatus,
  type DeviceCheck,
  type Participant,
  type VisitState,
} from './visit';
import type { VisitService } from './visit-service';
import type { StaffNames } from './staff-names';

type Live = Extract<VisitState, { status: 'open' | 'ended' }>;

/** The response of a participant command: the participant as the command left it. */
function participantResponse(
  visitId: string,
  state: VisitState,
  participantId: string,
): { participant: session.Participant | undefined } {
  const p = (state as Live).participants[participantId];
  return { participant: p ? participantToProto(visitId, p) : undefined };
}

/** Dependencies of the handlers. */
export interface VisitGrpcDeps {
  readonly visits: VisitService;
  readonly projection: VisitProjection;
  readonly clock: () => Date;
  /**
   * Opens (or finds open) the visit of an appointment, as a booking does (OpenVisit). Throws NotFoundError,
   * PreconditionError (cancelled or over), UnavailableError (no healthy media node).
   */
  readonly openForAppointment?: (
    appointmentId: string,
    ctx: CallContext,
    principal: Principal,
  ) => Promise<void>;
  /** Staff participants' display names for GetVisit (none without: every display_name stays empty). */
  readonly staffNames?: Pick<StaffNames, 'of'>;
}

function requireClinician(principal: Principal): void {
  if (principal.kind !== 'user' || principal.role !== 'clinician') {
    throw new PermissionError('only clinicians may do that');
  }
}

const PARTICIPANT_STATE = {
  [ParticipantStatus.Waiting]: session.ParticipantState.PARTICIPANT_STATE_WAITING,
  [ParticipantStatus.Admitted]: session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
  [ParticipantStatus.Denied]: session.ParticipantState.PARTICIPANT_STATE_DENIED,
  [ParticipantStatus.Kicked]: session.ParticipantState.PARTICIPANT_STATE_KICKED,
  [ParticipantStatus.Left]: session.ParticipantState.PARTICIPANT_STATE_LEFT,
} as const;

const PARTICIPANT_ROLE = {
  [ParticipantRole.Clinician]: session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN,
  [ParticipantRole.Patient]: session.ParticipantRole.PARTICIPANT_ROLE_PATIENT,
  [ParticipantRole.Interpreter]: session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER,
  [ParticipantRole.Family]: session.ParticipantRole.PARTICIPANT_ROLE_FAMILY,
} as const;

const date = (iso: string | undefined): Date | undefined => (iso ? new Date(iso) : undefined);

const PERMISSION = {
  granted: session.DevicePermission.DEVICE_PERMISSION_GRANTED,
  denied: session.DevicePermission.DEVICE_PERMISSION_DENIED,
  unavailable: session.DevicePermission.DEVICE_PERMISSION_UNAVAILABLE,
} as const;

/** A reported device check as the aggregate keeps it (an unknown permission is `unavailable`). */
function deviceCheckOf(d: session.DeviceCheck): DeviceCheck {
  const permission =
    d.permission === session.DevicePermission.DEVICE_PERMISSION_GRANTED
      ? 'granted'
      : d.permission === session.DevicePermission.DEVICE_PERMISSION_DENIED
        ? 'denied'
        : 'unavailable';
  return { camera: d.camera, microphone: d.microphone, speaker: d.speaker, permission };
}

function participantToProto(
  visitId: string,
  p: Participant,
  consents?: Readonly<Record<string, boolean>>,
  staffNames?: ReadonlyMap<string, string>,
): session.Participant {
  return session.Participant.fromPartial({
    name: `visits/${visitId}/participants/${p.participantId}`,
    principal: p.principal,
    role: PARTICIPANT_ROLE[p.role],
    state: PARTICIPANT_STATE[p.status],
    // Staff only ("Dr. Amara Okafor", from identity's user stream; not PHI). A patient's name is PHI and never
    // held by this service; the room itself shows only the participant id.
    displayName: p.principal.startsWith('users/') ? (staffNames?.get(p.principal) ?? '') : '',
    joinTime: date(p.arrivedAt ?? p.admittedAt),
    admitTime: date(p.admittedAt),
    leaveTime: date(p.leftAt),
    device: p.device ?? 1,
    recordingConsented: consents?.[p.participantId] === true,
    deviceCheck: p.deviceCheck
      ? { ...p.deviceCheck, permission: PERMISSION[p.deviceCheck.permission] }
      : undefined,
  });
}

function visitToProto(
  state: Live,
  etag: string,
  caller?: Principal,
  staffNames?: ReadonlyMap<string, string>,
): session.Visit {
  const own = caller ? state.participants[participantIdOf(caller)] : undefined;
  const participants = Object.values(state.participants).sort((a, b) => a.arrival - b.arrival);
  const inProgress = participants.some((p) => p.status === ParticipantStatus.Admitted);
  return session.Visit.fromPartial({
    name: `visits/${state.visitId}`,
    appointment: `appointments/${state.appointmentId}`,
    clinician: `users/${state.clinicianId}`,
    patient: `patients/${state.patientId}`,
    state:
      state.status === 'ended'
        ? session.VisitState.VISIT_STATE_ENDED
        : inProgress
          ? session.VisitState.VISIT_STATE_IN_PROGRESS
          : session.VisitState.VISIT_STATE_OPEN,
    locked: state.locked,
    recording: state.recording !== undefined,
    activeRecording: state.recording ? `recordings/${state.recording.recordingId}` : '',
    recordingRequested: state.recordingRequest !== undefined,
    recordingConsented: state.recordingConsent === true,
    janusNode: state.janusNode,
    room: String(state.room),
    participants: participants.map((p) => participantToProto(state.visitId, p, state.consents, staffNames)),
    createTime: date(state.openedAt),
    endTime: state.status === 'ended' ? date(state.endedAt) : undefined,
    etag,
    callerParticipant: own ? `visits/${state.visitId}/participants/${own.participantId}` : '',
    hosts: [...hostsOf(state)],
    guests: Object.entries(state.guests ?? {}).map(([principal, role]) => ({
      principal,
      role: PARTICIPANT_ROLE[role],
    })),
    identityConfirmation: state.identity
      ? {
          confirmedBy: state.identity.confirmedBy,
          confirmTime: date(state.identity.at),
          method: session.IdentityMethod.IDENTITY_METHOD_DATE_OF_BIRTH,
        }
      : undefined,
  });
}

/** ListVisits and ListLobby: 1–100 items a page, 50 by default. */
const PAGES = { defaultSize: 50, maxSize: 100 };

/** The visit, if the caller may see it. Throws NotFoundError (no such visit), PermissionError. */
async function loadVisible(
  visits: VisitService,
  visitId: string,
  principal: Principal,
): Promise<{ visit: Live; etag: string }> {
  const { state, etag } = await visits.loadExisting(visitId);
  if (visitAccess(state, callerOf(principal)) === 'none')
    throw new PermissionError('not allowed to see this visit');
  return { visit: state, etag };
}

async function reloadProto(visits: VisitService, visitId: string): Promise<session.Visit> {
  const { state, etag } = await visits.load(visitId);
  return visitToProto(state as Live, etag);
}

/**
 * The idempotent part of a command (AIP-155): the metadata carrying the request record when the client sent a
 * `request_id` (with `retry`), and the first answer's state when this is a retry of a request already applied.
 * Throws ValidationError on a request_id that is not a UUID, RequestIdReusedError on a key used differently.
 */
async function idempotent(visits: VisitService, ctx: CallContext, visitId: string, retry?: Retry) {
  const key = retry && idempotencyKey(ctx, retry.requestId);
  const record = retry && key ? requestRecord(key, retry.request) : undefined;
  const metadata = { ...commandMetadata(ctx), ...(record ? { request: record } : {}) };
  const replay = record ? await visits.replay(visitId, record) : undefined;
  return { metadata, replay };
}

/** The visit as a first answer left it. */
function replayedVisit(replay: { state: VisitState; nextRevision: bigint }): session.Visit {
  return visitToProto(replay.state as Live, String(replay.nextRevision));
}

/** What a retry of a command must repeat: the client's `request_id` and the request's fingerprint. */
interface Retry {
  readonly requestId: string;
  readonly request: Record<string, unknown>;
}

/**
 * A clinician's command on the visit (the decider checks it is theirs), answering with the visit as it is now.
 * With `retry` it is idempotent (AIP-155): a retry of a request already applied answers with the visit as the
 * first answer left it. Throws PermissionError when `principal` is not a clinician.
 */
async function clinicianCommand(
  visits: VisitService,
  ctx: CallContext,
  { principal, visitId, retry }: { principal: Principal; visitId: string; retry?: Retry },
  command: (caller: Caller, metadata: CommandMetadata) => Promise<unknown>,
): Promise<{ visit: session.Visit }> {
  requireClinician(principal);
  const { metadata, replay } = await idempotent(visits, ctx, visitId, retry);
  if (replay) return { visit: replayedVisit(replay) };
  await command(callerOf(principal), metadata);
  return { visit: await reloadProto(visits, visitId) };
}

/**
 * A clinician's command on one participant (admit, deny, kick): idempotent with `request_id` (`fingerprint`
 * is what a retry must repeat), answering with the participant as the command left it.
 */
async function onParticipant(
  visits: VisitService,
  request: { name: string; requestId: string },
  ctx: CallContext,
  fingerprint: Record<string, unknown>,
  run: (
    target: { visitId: string; participantId: string; caller: Caller },
    metadata: CommandMetadata,
  ) => Promise<{ state: VisitState }>,
): Promise<{ participant: session.Participant | undefined }> {
  const principal = requirePrincipal(ctx);
  const { visitId, participantId } = participantNameOf(request.name, 'name');
  requireClinician(principal);
  const retry = { requestId: request.requestId, request: fingerprint };
  const { metadata, replay } = await idempotent(visits, ctx, visitId, retry);
  const { state } = replay ?? (await run({ visitId, participantId, caller: callerOf(principal) }, metadata));
  return participantResponse(visitId, state, participantId);
}

/** Lock or unlock (the owning clinician only), answering with the visit as it is now. */
async function setLock(
  visits: VisitService,
  request: { name: string; requestId: string },
  ctx: CallContext,
  type: 'LockVisit' | 'UnlockVisit',
): Promise<{ visit: session.Visit }> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.name, 'name');
  const retry = { requestId: request.requestId, request: { type, name: request.name } };
  return clinicianCommand(visits, ctx, { principal, visitId, retry }, (caller, metadata) =>
    visits.command(visitId, { type, data: { caller } }, metadata),
  );
}

async function openVisit(
  deps: VisitGrpcDeps,
  request: session.OpenVisitRequest,
  ctx: CallContext,
): Promise<session.OpenVisitResponse> {
  const principal = requirePrincipal(ctx);
  const appointmentId = visitIdOf(request.appointment, 'appointment', 'appointments');
  if (!deps.openForAppointment) throw new PreconditionError('this session service cannot open visits');
  await deps.openForAppointment(appointmentId, ctx, principal);
  // The visit id is the appointment id.
  const { state, etag } = await deps.visits.loadExisting(appointmentId);
  if (state.status === 'ended') throw new PreconditionError(`visit ${appointmentId} has ended`);
  return { visit: visitToProto(state, etag) };
}

async function getVisit(
  deps: VisitGrpcDeps,
  request: session.GetVisitRequest,
  ctx: CallContext,
): Promise<session.GetVisitResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.name, 'name');
  const { visit, etag } = await loadVisible(deps.visits, visitId, principal);
  const names = await deps.staffNames?.of(Object.values(visit.participants).map((p) => p.principal));
  return { visit: visitToProto(visit, etag, principal, names) };
}

/** "Today" around `now`: visits starting from 12 h ago to 24 h ahead, so a day's list is stable across time zones. */
function startsToday(startTime: string, now: number): boolean {
  const start = Date.parse(startTime);
  return start >= now - 12 * 3600_000 && start <= now + 24 * 3600_000;
}

/** Today's visits that `include` lets through, in one of `states` (any when empty), newest first. */
function todaysVisits(
  deps: VisitGrpcDeps,
  states: ReadonlySet<session.VisitState>,
  include: (visit: Live) => boolean,
): session.Visit[] {
  const now = deps.clock().getTime();
  return deps.projection
    .all()
    .filter((v) => include(v) && startsToday(v.startTime, now))
    .map((v) => visitToProto(v, ''))
    .filter((v) => states.size === 0 || states.has(v.state))
    .sort((a, b) => (a.name < b.name ? 1 : -1));
}

async function listVisits(
  deps: VisitGrpcDeps,
  request: session.ListVisitsRequest,
  ctx: CallContext,
): Promise<session.ListVisitsResponse> {
  const principal = requirePrincipal(ctx);
  if (principal.kind === 'user' && principal.role === 'front_desk') return frontDeskVisits(deps, request);
  requireClinician(principal);
  const states = new Set(request.states);
  const filter = ['visits', principal.id, [...states].sort()];
  const page = offsetPage(request, filter, PAGES);
  if (request.clinician !== '' && request.clinician !== `users/${principal.id}`) {
    if (!/^users\/[^/]+$/.test(request.clinician)) {
      throw new ValidationError([{ field: 'clinician', description: 'must be users/{user}' }]);
    }
    throw new PermissionError('a clinician may list only their own visits');
  }
  // Their own visits, and those they were invited into or given host rights in.
  const mine = todaysVisits(deps, states, (v) => visitAccess(v, callerOf(principal)) !== 'none');
  return {
    visits: pageItems(page, mine),
    nextPageToken: nextOffsetToken(page, mine.length),
  };
}

/**
 * ListVisits for the front desk: today's visits of every clinician (or of `clinician`), each with its status and
 * its participants' roles and states only (no principal, name, display name or times), so the desk's day view can
 * say who is waiting without learning more than the appointment list already tells it.
 */
function frontDeskVisits(
  deps: VisitGrpcDeps,
  request: session.ListVisitsRequest,
): session.ListVisitsResponse {
  if (request.clinician !== '' && !/^users\/[^/]+$/.test(request.clinician))
    throw new ValidationError([{ field: 'clinician', description: 'must be users/{user}' }]);
  const states = new Set(request.states);
  const filter = ['front-desk-visits', request.clinician, [...states].sort()];
  const page = offsetPage(request, filter, PAGES);
  const ofClinician = (v: Live) => request.clinician === '' || `users/${v.clinicianId}` === request.clinician;
  const all = todaysVisits(deps, states, ofClinician);
  const basic = pageItems(page, all).map((v) =>
    session.Visit.fromPartial({
      name: v.name,
      appointment: v.appointment,
      clinician: v.clinician,
      state: v.state,
      participants: v.participants.map((p) => ({ role: p.role, state: p.state })),
    }),
  );
  return { visits: basic, nextPageToken: nextOffsetToken(page, all.length) };
}

async function joinLobby(
  deps: VisitGrpcDeps,
  request: session.JoinLobbyRequest,
  ctx: CallContext,
): Promise<session.JoinLobbyResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.appointment, 'appointment', 'appointments');
  // A patient of this visit, a clinician it invited as a guest, or a link guest (the decider checks which).
  if (principal.kind !== 'patient' && principal.kind !== 'guest') requireClinician(principal);
  const participantId = participantIdOf(principal);
  const result = await deps.visits.command(
    visitId,
    {
      type: 'JoinLobby',
      data: {
        caller: callerOf(principal),
        participantId,
        ...(request.deviceCheck ? { deviceCheck: deviceCheckOf(request.deviceCheck) } : {}),
      },
    },
    commandMetadata(ctx),
  );
  const state = result.state as Live;
  const me = state.participants[participantId];
  if (!me) throw new NotFoundError('participant not found');
  const position = Object.values(state.participants).filter(
    (p) => p.status === ParticipantStatus.Waiting && p.arrival < me.arrival,
  ).length;
  return { visit: `visits/${visitId}`, participant: participantToProto(visitId, me), position };
}

async function listLobby(
  deps: VisitGrpcDeps,
  request: session.ListLobbyRequest,
  ctx: CallContext,
): Promise<session.ListLobbyResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  const filter = ['lobby', visitId];
  const page = offsetPage(request, filter, PAGES);
  requireClinician(principal);
  const { state } = await deps.visits.loadExisting(visitId);
  if (visitAccess(state, callerOf(principal)) !== 'clinician') {
    throw new PermissionError('only the clinician of this visit may do that');
  }
  const waiting = Object.values(state.participants)
    .filter((p) => p.status === ParticipantStatus.Waiting)
    .sort((a, b) => a.arrival - b.arrival);
  return {
    participants: pageItems(page, waiting).map((p) => participantToProto(visitId, p)),
    nextPageToken: nextOffsetToken(page, waiting.length),
  };
}

async function leaveVisit(
  { visits }: VisitGrpcDeps,
  request: session.LeaveVisitRequest,
  ctx: CallContext,
): Promise<session.LeaveVisitResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  await loadVisible(visits, visitId, principal);
  const participantId = participantIdOf(principal);
  const retry = { requestId: request.requestId, request: { leave: request.visit } };
  const { metadata, replay } = await idempotent(visits, ctx, visitId, retry);
  if (replay) return participantResponse(visitId, replay.state, participantId);
  const result = await visits.remove(
    visitId,
    { type: 'LeaveVisit', data: { caller: callerOf(principal), participantId } },
    metadata,
  );
  return participantResponse(visitId, result.state, participantId);
}

async function endVisit(
  { visits }: VisitGrpcDeps,
  request: session.EndVisitRequest,
  ctx: CallContext,
): Promise<session.EndVisitResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.name, 'name');
  const retry = { requestId: request.requestId, request: { end: request.name } };
  return clinicianCommand(visits, ctx, { principal, visitId, retry }, (caller, metadata) =>
    visits.end(
      visitId,
      { type: 'EndVisit', data: { reason: 'ended_by_clinician', caller, at: new Date().toISOString() } },
      metadata,
    ),
  );
}

/**
 * The participant a consent is recorded for (the caller's own unless `participant` names one) and the request's
 * violations (scope, participant name, a participant of another visit).
 */
function consentTarget(
  request: session.RecordConsentRequest,
  visitId: string,
  own: string,
): { participantId: string; violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  if (request.scope !== session.ConsentScope.CONSENT_SCOPE_RECORDING) {
    violations.push({ field: 'scope', description: 'must be CONSENT_SCOPE_RECORDING' });
  }
  const named =
    request.participant === ''
      ? undefined
      : collectViolations(violations, () => participantNameOf(request.participant, 'participant'));
  if (named && named.visitId !== visitId) {
    violations.push({ field: 'participant', description: 'must be a participant of this visit' });
  }
  return { participantId: named?.participantId ?? own, violations };
}

async function recordConsent(
  deps: VisitGrpcDeps,
  request: session.RecordConsentRequest,
  ctx: CallContext,
): Promise<session.RecordConsentResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  const own = participantIdOf(principal);
  const { participantId, violations } = consentTarget(request, visitId, own);
  if (violations.length > 0) throw new ValidationError(violations);
  if (principal.kind !== 'patient' && principal.kind !== 'guest') requireClinician(principal);
  if (participantId !== own) throw new PermissionError('a participant records only their own consent');
  const retry = {
    requestId: request.requestId,
    request: { consent: participantId, scope: request.scope, granted: request.granted },
  };
  const { metadata, replay } = await idempotent(deps.visits, ctx, visitId, retry);
  const result =
    replay ??
    (await deps.visits.recordConsent(
      visitId,
      {
        type: 'RecordConsent',
        data: {
          caller: callerOf(principal),
          participantId,
          granted: request.granted,
          at: deps.clock().toISOString(),
        },
      },
      metadata,
    ));
  const recorded = result.events.find((e) => e.type === 'haven.session.v1.ConsentRecorded');
  return {
    consent: session.Consent.fromPartial({
      participant: `visits/${visitId}/participants/${participantId}`,
      scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
      granted: request.granted,
      recordTime: recorded ? new Date(recorded.occurredAt) : deps.clock(),
      recordedBy: principalOf(callerOf(principal)),
    }),
  };
}

async function startRecording(
  { visits }: VisitGrpcDeps,
  request: session.StartRecordingRequest,
  ctx: CallContext,
): Promise<session.StartRecordingResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  requireClinician(principal);
  const { state, etag } = await visits.requestRecording(visitId, callerOf(principal), commandMetadata(ctx));
  const live = state as Live;
  const awaiting = Object.values(live.participants)
    .filter((p) => p.status === ParticipantStatus.Admitted && live.consents[p.participantId] !== true)
    .map((p) => `visits/${visitId}/participants/${p.participantId}`);
  return {
    visit: visitToProto(live, etag, principal),
    recording: live.recording ? `recordings/${live.recording.recordingId}` : '',
    pending: live.recording === undefined,
    awaitingConsent: awaiting,
  };
}

async function cancelRecording(
  { visits }: VisitGrpcDeps,
  request: session.CancelRecordingRequest,
  ctx: CallContext,
): Promise<session.CancelRecordingResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  return clinicianCommand(visits, ctx, { principal, visitId }, (caller, metadata) =>
    visits.cancelRecording(visitId, caller, metadata),
  );
}

async function stopRecording(
  { visits }: VisitGrpcDeps,
  request: session.StopRecordingRequest,
  ctx: CallContext,
): Promise<session.StopRecordingResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  requireClinician(principal);
  const result = await visits.stopRecording(visitId, callerOf(principal), commandMetadata(ctx));
  const stopped = result.events.find((e) => e.type === 'haven.session.v1.RecordingStopped');
  const data = stopped?.data as { recordingId?: unknown } | undefined;
  const recordingId = typeof data?.recordingId === 'string' ? data.recordingId : '';
  return {
    visit: await reloadProto(visits, visitId),
    recording: recordingId ? `recordings/${recordingId}` : '',
  };
}

async function acknowledgeRecordingNotice(
  { visits }: VisitGrpcDeps,
  request: session.AcknowledgeRecordingNoticeRequest,
  ctx: CallContext,
): Promise<session.AcknowledgeRecordingNoticeResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  if (principal.kind !== 'patient' && principal.kind !== 'guest') requireClinician(principal);
  const participantId = participantIdOf(principal);
  const result = await visits.command(
    visitId,
    { type: 'AcknowledgeRecordingNotice', data: { caller: callerOf(principal), participantId } },
    commandMetadata(ctx),
  );
  const live = result.state as Live;
  return { recording: live.recording ? `recordings/${live.recording.recordingId}` : '' };
}

async function joinMedia(
  { visits }: VisitGrpcDeps,
  request: session.JoinMediaRequest,
  ctx: CallContext,
): Promise<session.JoinMediaResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  const access = await visits.joinMedia(visitId, callerOf(principal), commandMetadata(ctx));
  return session.JoinMediaResponse.fromPartial({
    serverUrl: access.serverUrl,
    expireTime: access.expireTime,
    participant: `visits/${visitId}/participants/${access.participantId}`,
    iceServers: [],
    mediaCredential: access.credential,
    // room, token, display_name, pin and janus_token are deprecated and stay empty: the media proxy injects
    // what Janus needs, and only the session service holds a Janus core token.
  });
}

const GUEST_ROLE: Readonly<Partial<Record<session.ParticipantRole, GuestRole>>> = {
  [session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN]: GuestRole.Clinician,
  [session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER]: GuestRole.Interpreter,
  [session.ParticipantRole.PARTICIPANT_ROLE_FAMILY]: GuestRole.Family,
};

async function inviteGuest(
  { visits }: VisitGrpcDeps,
  request: session.InviteGuestRequest,
  ctx: CallContext,
): Promise<session.InviteGuestResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  const violations: FieldViolation[] = [];
  // No user: a guest without an account, named here; the host then asks scheduling for their link.
  const linkGuest = request.user === '';
  if (!linkGuest && !/^users\/[A-Za-z0-9_-]{1,64}$/.test(request.user)) {
    violations.push({ field: 'user', description: 'must be users/{user}, or empty for a guest link' });
  }
  const role = GUEST_ROLE[request.role];
  if (role === undefined || (linkGuest && role === GuestRole.Clinician)) {
    violations.push({
      field: 'role',
      description: linkGuest
        ? 'must be an interpreter or family role for a guest link'
        : 'must be a clinician, interpreter or family role',
    });
  }
  if (violations.length > 0 || role === undefined) throw new ValidationError(violations);
  const guest = linkGuest ? `guests/g${randomUUID().replace(/-/g, '')}` : request.user;
  const { visit } = await clinicianCommand(visits, ctx, { principal, visitId }, (caller, metadata) =>
    visits.command(visitId, { type: 'InviteGuest', data: { caller, principal: guest, role } }, metadata),
  );
  return { visit, guest };
}

async function confirmIdentity(
  { visits }: VisitGrpcDeps,
  request: session.ConfirmIdentityRequest,
  ctx: CallContext,
): Promise<session.ConfirmIdentityResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  if (request.method !== session.IdentityMethod.IDENTITY_METHOD_DATE_OF_BIRTH) {
    throw new ValidationError([{ field: 'method', description: 'must be IDENTITY_METHOD_DATE_OF_BIRTH' }]);
  }
  return clinicianCommand(visits, ctx, { principal, visitId }, (caller, metadata) =>
    visits.command(
      visitId,
      { type: 'ConfirmIdentity', data: { caller, method: IdentityMethod.DateOfBirth } },
      metadata,
    ),
  );
}

async function revokeGuest(
  { visits }: VisitGrpcDeps,
  request: session.RevokeGuestRequest,
  ctx: CallContext,
): Promise<session.RevokeGuestResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  if (!/^(users|guests)\/[A-Za-z0-9_-]{1,64}$/.test(request.guest)) {
    throw new ValidationError([{ field: 'guest', description: 'must be guests/{guest} or users/{user}' }]);
  }
  return clinicianCommand(visits, ctx, { principal, visitId }, (caller, metadata) =>
    visits.remove(visitId, { type: 'RevokeGuest', data: { caller, principal: request.guest } }, metadata),
  );
}

const GRANT_MODE: Readonly<Partial<Record<session.HostGrantMode, 'share' | 'handover'>>> = {
  [session.HostGrantMode.HOST_GRANT_MODE_SHARE]: 'share',
  [session.HostGrantMode.HOST_GRANT_MODE_HANDOVER]: 'handover',
};

async function grantHost(
  { visits }: VisitGrpcDeps,
  request: session.GrantHostRequest,
  ctx: CallContext,
): Promise<session.GrantHostResponse> {
  const principal = requirePrincipal(ctx);
  const { visitId, participantId } = participantNameOf(request.name, 'name');
  const mode = GRANT_MODE[request.mode];
  if (mode === undefined) {
    throw new ValidationError([{ field: 'mode', description: 'must be HOST_GRANT_MODE_SHARE or _HANDOVER' }]);
  }
  return clinicianCommand(visits, ctx, { principal, visitId }, (caller, metadata) =>
    visits.command(visitId, { type: 'GrantHost', data: { caller, participantId, mode } }, metadata),
  );
}

/** The SessionService handlers for visits, by ts-proto method key: one function per RPC, bound to `deps`. */
export function visitHandlers(deps: VisitGrpcDeps) {
  const { visits } = deps;
  return {
    ...bindHandlers(deps, {
      openVisit,
      getVisit,
      listVisits,
      joinLobby,
      listLobby,
      leaveVisit,
      endVisit,
      recordConsent,
      startRecording,
      cancelRecording,
      stopRecording,
      acknowledgeRecordingNotice,
      joinMedia,
      inviteGuest,
      revokeGuest,
      confirmIdentity,
      grantHost,
    }),
    // A clinician's commands on one participant: what a retry must repeat, and the command.
    admitParticipant: (request: session.AdmitParticipantRequest, ctx: CallContext) =>
      onParticipant(visits, request, ctx, { admit: request.name }, (t, metadata) =>
        visits.admit(t.visitId, t.participantId, t.caller, metadata),
      ),
    denyParticipant: (request: session.DenyParticipantRequest, ctx: CallContext) =>
      onParticipant(
        visits,
        request,
        ctx,
        { deny: request.name },
        ({ visitId, caller, participantId }, metadata) =>
          visits.command(visitId, { type: 'DenyParticipant', data: { caller, participantId } }, metadata),
      ),
    lockVisit: (request: session.LockVisitRequest, ctx: CallContext): Promise<session.LockVisitResponse> =>
      setLock(deps.visits, request, ctx, 'LockVisit'),
    unlockVisit: (
      request: session.UnlockVisitRequest,
      ctx: CallContext,
    ): Promise<session.UnlockVisitResponse> => setLock(deps.visits, request, ctx, 'UnlockVisit'),
    kickParticipant: (request: session.KickParticipantRequest, ctx: CallContext) => {
      const { allowRejoin } = request;
      return onParticipant(
        visits,
        request,
        ctx,
        { kick: request.name, allowRejoin },
        ({ visitId, caller, participantId }, metadata) =>
          visits.remove(
            visitId,
            { type: 'KickParticipant', data: { caller, participantId, allowRejoin } },
            metadata,
          ),
      );
    },
  };
}
