/**
 * Commands and decide() for the Visit aggregate. Pure: no I/O, no clock (times come in the commands).
 */
import { NotFoundError, PermissionError, PreconditionError } from '@haven/errors';
import {
  everyoneConsented,
  FEED_LIMIT,
  GuestRole,
  IdentityMethod,
  hostsOf,
  ParticipantRole,
  ParticipantStatus,
  presentParticipants,
  readyToRecord,
  RecordingPolicy,
  RecordingRequestEndReason,
  RecordingStopReason,
  VisitEventType,
  inMediaCount,
  participantByFeed,
  type DeviceCheck,
  type Participant,
  type VisitBody,
  type VisitEndReason,
  type VisitEvent,
  type VisitOpened,
  type VisitState,
} from './visit';
import { decideSendChat, type SendChatMessage } from './chat';
import { decideShareChatFile, type ShareChatFile } from './chat-files';
import { decideExportTranscript, type ExportChatTranscript } from './chat-transcript';
import { decidePostLobbyNotice, type PostLobbyNotice } from './lobby-notice';

export type { SendChatMessage } from './chat';
export type { ShareChatFile } from './chat-files';
export type { ExportChatTranscript } from './chat-transcript';
export type { PostLobbyNotice } from './lobby-notice';

/** The caller as the decider sees it. */
export interface Caller {
  readonly kind: string;
  readonly id: string;
  readonly role?: string;
  /** The `visit` claim of a patient or link-guest principal (`visits/{id}`). */
  readonly visit?: string;
  /** The identity session of the caller's token (`sid`): media credentials die with it. */
  readonly sessionId?: string;
}

export interface OpenVisit {
  readonly type: 'OpenVisit';
  readonly data: VisitOpened['data'];
}
export interface JoinLobby {
  readonly type: 'JoinLobby';
  readonly data: {
    readonly caller: Caller;
    readonly participantId: string;
    readonly deviceCheck?: DeviceCheck;
  };
}
/**
 * Who is admitted, by whom, under which admission and media token. `policy` is the clinic's recording policy now
 * (default on-request): it decides the consent gate.
 */
export interface Admission {
  readonly caller: Caller;
  readonly participantId: string;
  readonly admission: string;
  readonly tokenHash: string;
  readonly policy?: RecordingPolicy;
}
/** A host admits a participant waiting in the lobby. */
export interface AdmitParticipant {
  readonly type: 'AdmitParticipant';
  readonly data: Admission;
}
/** The owning clinician admits themself when they first join the media room. */
export interface AdmitClinician {
  readonly type: 'AdmitClinician';
  readonly data: Admission;
}
export interface DenyParticipant {
  readonly type: 'DenyParticipant';
  readonly data: { readonly caller: Caller; readonly participantId: string };
}
export interface KickParticipant {
  readonly type: 'KickParticipant';
  readonly data: { readonly caller: Caller; readonly participantId: string; readonly allowRejoin: boolean };
}
export interface LeaveVisit {
  readonly type: 'LeaveVisit';
  readonly data: { readonly caller: Caller; readonly participantId: string };
}
export interface LockVisit {
  readonly type: 'LockVisit';
  readonly data: { readonly caller: Caller };
}
export interface UnlockVisit {
  readonly type: 'UnlockVisit';
  readonly data: { readonly caller: Caller };
}
/**
 * A participant gives, refuses or withdraws their consent to recording: a patient their own, the clinician their
 * own. `at` is the time (a withdrawal while recording stops it at that time).
 */
export interface RecordConsent {
  readonly type: 'RecordConsent';
  readonly data: {
    readonly caller: Caller;
    readonly participantId: string;
    readonly granted: boolean;
    readonly at: string;
  };
}
/** The clinician asks to record; asking is their own consent. */
export interface RequestRecording {
  readonly type: 'RequestRecording';
  readonly data: {
    readonly caller: Caller;
    readonly participantId: string;
    readonly policy: RecordingPolicy;
  };
}
/** The clinician cancels their pending recording request (nothing was recorded). */
export interface CancelRecording {
  readonly type: 'CancelRecording';
  readonly data: { readonly caller: Caller };
}
/** Janus records the room now (the service started it into `<recordings dir>/<recordingId>/`). */
export interface BeginRecording {
  readonly type: 'BeginRecording';
  readonly data: { readonly recordingId: string; readonly at: string };
}
/** Stops the recording: the clinician (caller), or the service (a lost media node, `partial`). */
export interface StopRecording {
  readonly type: 'StopRecording';
  readonly data: {
    readonly caller?: Caller;
    readonly reason: RecordingStopReason;
    readonly at: string;
    readonly partial?: boolean;
  };
}
/** A participant present acknowledges the recording notice their page shows. */
export interface AcknowledgeRecordingNotice {
  readonly type: 'AcknowledgeRecordingNotice';
  readonly data: { readonly caller: Caller; readonly participantId: string };
}
export interface EndVisit {
  readonly type: 'EndVisit';
  /**
   * `caller` is required for `ended_by_clinician` (ownership); the system ends for other reasons. `at` is when (a
   * recording in progress stops then).
   */
  readonly data: { readonly reason: VisitEndReason; readonly caller?: Caller; readonly at: string };
}
/** Ends the visit when nobody has been in the media room for `idleMinutes` at `now`; otherwise nothing. */
export interface EndIdleVisit {
  readonly type: 'EndIdleVisit';
  readonly data: { readonly now: string; readonly idleMinutes: number };
}
/**
 * From the Janus event handler: a publisher feed joined the room under a display the media proxy issued to this
 * participant (the service has checked its MAC; a client-chosen display never gets here).
 */
export interface RecordMediaJoined {
  readonly type: 'RecordMediaJoined';
  readonly data: { readonly participantId: string; readonly feedId: number; readonly at: string };
}
/** From the Janus event handler: a publisher feed left (or was kicked). */
export interface RecordMediaLeft {
  readonly type: 'RecordMediaLeft';
  readonly data: {
    readonly feedId: number;
    readonly at: string;
    readonly reason: 'leaving' | 'kicked' | 'room_destroyed';
  };
}

/** A host invites a staff user (`users/{id}`) as a guest of the visit: they wait in the lobby like anyone. */
export interface InviteGuest {
  readonly type: 'InviteGuest';
  readonly data: { readonly caller: Caller; readonly principal: string; readonly role: GuestRole };
}
/**
 * A host revokes a guest (`users/{id}` or `guests/{id}`): their invitation and link end, and every entry of theirs
 * still waiting or in the visit is removed for good.
 */
export interface RevokeGuest {
  readonly type: 'RevokeGuest';
  readonly data: { readonly caller: Caller; readonly principal: string };
}
/** A host records the patient's identity confirmation (never the value they checked). */
export interface ConfirmIdentity {
  readonly type: 'ConfirmIdentity';
  readonly data: { readonly caller: Caller; readonly method: IdentityMethod };
}
/**
 * A host shares their rights with a clinician present in the visit (`share`), or hands them over (`handover`:
 * the other clinician becomes host and the caller no longer is).
 */
export interface GrantHost {
  readonly type: 'GrantHost';
  readonly data: {
    readonly caller: Caller;
    readonly participantId: string;
    readonly mode: 'share' | 'handover';
  };
}

export type VisitCommand =
  | OpenVisit
  | InviteGuest
  | GrantHost
  | RevokeGuest
  | ConfirmIdentity
  | JoinLobby
  | AdmitParticipant
  | AdmitClinician
  | DenyParticipant
  | KickParticipant
  | LeaveVisit
  | LockVisit
  | UnlockVisit
  | RecordConsent
  | RequestRecording
  | CancelRecording
  | BeginRecording
  | StopRecording
  | AcknowledgeRecordingNotice
  | EndVisit
  | EndIdleVisit
  | RecordMediaJoined
  | RecordMediaLeft
  | SendChatMessage
  | ShareChatFile
  | ExportChatTranscript
  | PostLobbyNotice;

type LiveVisit = Extract<VisitState, { status: 'open' }>;

function requireOpen(state: VisitState): LiveVisit {
  if (state.status === 'none') throw new NotFoundError('visit not found');
  if (state.status === 'ended') throw new PreconditionError('visit has ended');
  return state;
}

/**
 * What a caller is to a visit: a host (`clinician`: the visit's clinician, or a clinician they shared or handed
 * host rights to), its patient (a patient token for this visit), a `guest` (a staff user invited into it, or a
 * clinician who handed host rights over), or nothing.
 */
export type VisitAccess = 'clinician' | 'patient' | 'guest' | 'none';

/** The part of a visit that says who may do what in it. */
export type VisitMembers = Pick<VisitBody, 'visitId' | 'clinicianId'> &
  Partial<Pick<VisitBody, 'hosts' | 'guests' | 'participants'>>;

/**
 * The one access check of a visit: its hosts are users with role clinician named in its host list (the visit's
 * own clinician until they share or hand over); its patient, a patient principal whose `visit` claim is this
 * visit; its guests, staff users it invited or who took part as a clinician. Pure.
 */
export function visitAccess(state: VisitMembers, caller: Caller): VisitAccess {
  if (caller.kind === 'user') {
    const principal = `users/${caller.id}`;
    if (caller.role === 'clinician' && hostsOf(state).includes(principal)) return 'clinician';
    if (state.guests?.[principal] !== undefined) return 'guest';
    const took = Object.values(state.participants ?? {}).some((p) => p.principal === principal);
    return took ? 'guest' : 'none';
  }
  if (caller.kind === 'patient' && caller.visit === `visits/${state.visitId}`) return 'patient';
  // A link guest: a guest token for this visit, of a guest still invited (a revoked one is nobody).
  if (
    caller.kind === 'guest' &&
    caller.visit === `visits/${state.visitId}` &&
    state.guests?.[`guests/${caller.id}`] !== undefined
  )
    return 'guest';
  return 'none';
}

/** The principal name of a caller in a visit's events: `users/…`, `patients/…` or `guests/…`. Pure. */
export function principalOf(caller: Pick<Caller, 'kind' | 'id'>): string {
  const collection = caller.kind === 'patient' ? 'patients' : caller.kind === 'guest' ? 'guests' : 'users';
  return `${collection}/${caller.id}`;
}

function requireOwner(state: LiveVisit, caller: Caller): void {
  if (visitAccess(state, caller) !== 'clinician') {
    throw new PermissionError('only a host of this visit may do that');
  }
}

function requirePatientOf(state: LiveVisit, caller: Caller): void {
  if (visitAccess(state, caller) !== 'patient') {
    throw new PermissionError('this patient token is not for this visit');
  }
}

function requireParticipant(state: LiveVisit, participantId: string): Participant {
  const p = state.participants[participantId];
  if (!p) throw new NotFoundError(`participant ${participantId} not found`);
  return p;
}

function ref(state: LiveVisit, p: Participant) {
  return { visitId: state.visitId, participantId: p.participantId, principal: p.principal };
}

/**
 * Decides what a command does to a visit. Opening is idempotent; so are a repeated lobby arrival and media
 * events Janus retransmits. Throws NotFoundError (no visit / participant), PermissionError (caller is not the
 * owning clinician or the visit's patient), PreconditionError (visit ended or locked, participant in the wrong
 * state).
 */
export function decide(command: VisitCommand, state: VisitState): VisitEvent[] {
  switch (command.type) {
    case 'OpenVisit':
      return state.status === 'none' ? [{ type: VisitEventType.Opened, data: command.data }] : [];
    case 'EndVisit': {
      if (state.status === 'none') throw new PreconditionError('visit is not open');
      if (state.status === 'ended') throw new PreconditionError('visit has already ended');
      if (command.data.reason === 'ended_by_clinician') {
        if (!command.data.caller) throw new PermissionError('only the clinician of this visit may end it');
        requireOwner(state, command.data.caller);
      }
      return [
        ...stopped(state, RecordingStopReason.VisitEnded, command.data.at),
        { type: VisitEventType.Ended, data: { visitId: state.visitId, reason: command.data.reason } },
      ];
    }
    case 'EndIdleVisit': {
      if (state.status !== 'open' || state.idleSince === undefined || inMediaCount(state) > 0) return [];
      const idleMs = Date.parse(command.data.now) - Date.parse(state.idleSince);
      if (!(idleMs >= command.data.idleMinutes * 60_000)) return [];
      return [
        ...stopped(state, RecordingStopReason.VisitEnded, command.data.now),
        { type: VisitEventType.Ended, data: { visitId: state.visitId, reason: 'idle' } },
      ];
    }
    case 'RecordMediaJoined':
      return decideMediaJoined(state, command.data);
    case 'RecordMediaLeft':
      return decideMediaLeft(state, command.data);
    default:
      break;
  }

  const visit = requireOpen(state);
  switch (command.type) {
    case 'JoinLobby':
      return decideJoinLobby(visit, command.data);
    case 'InviteGuest':
      return decideInviteGuest(visit, command.data);
    case 'GrantHost':
      return decideGrantHost(visit, command.data);
    case 'RevokeGuest':
      return decideRevokeGuest(visit, command.data);
    case 'ConfirmIdentity':
      return decideConfirmIdentity(visit, command.data);
    case 'AdmitParticipant':
      return decideAdmit(visit, command.data);
    case 'AdmitClinician':
      return decideAdmitClinician(visit, command.data);
    case 'DenyParticipant': {
      requireOwner(visit, command.data.caller);
      const p = requireParticipant(visit, command.data.participantId);
      if (p.status !== ParticipantStatus.Waiting)
        throw new PreconditionError(`participant is ${p.status}, not waiting`);
      return [{ type: VisitEventType.ParticipantDenied, data: ref(visit, p) }];
    }
    case 'KickParticipant': {
      requireOwner(visit, command.data.caller);
      const p = requireParticipant(visit, command.data.participantId);
      if (hostsOf(visit).includes(p.principal)) throw new PreconditionError('a host cannot be kicked');
      if (p.status !== ParticipantStatus.Admitted && p.status !== ParticipantStatus.Waiting) {
        throw new PreconditionError(`participant is ${p.status}`);
      }
      return [
        {
          type: VisitEventType.ParticipantKicked,
          data: { ...ref(visit, p), allowRejoin: command.data.allowRejoin },
        },
      ];
    }
    case 'LeaveVisit': {
      const p = requireParticipant(visit, command.data.participantId);
      if (p.status !== ParticipantStatus.Admitted && p.status !== ParticipantStatus.Waiting) {
        throw new PreconditionError('not in this visit');
      }
      return [{ type: VisitEventType.ParticipantLeft, data: ref(visit, p) }];
    }
    case 'LockVisit':
      requireOwner(visit, command.data.caller);
      if (visit.locked) throw new PreconditionError('visit is already locked');
      return [{ type: VisitEventType.Locked, data: { visitId: visit.visitId } }];
    case 'UnlockVisit':
      requireOwner(visit, command.data.caller);
      if (!visit.locked) throw new PreconditionError('visit is not locked');
      return [{ type: VisitEventType.Unlocked, data: { visitId: visit.visitId } }];
    case 'RecordConsent':
      return decideConsent(visit, command.data);
    case 'RequestRecording':
      return decideRequestRecording(visit, command.data);
    case 'CancelRecording':
      return decideCancelRecording(visit, command.data);
    case 'BeginRecording':
      return decideBeginRecording(visit, command.data);
    case 'StopRecording':
      return decideStopRecording(visit, command.data);
    case 'AcknowledgeRecordingNotice':
      return decideAcknowledge(visit, command.data);
    case 'SendChatMessage':
      return decideSendChat(visit, command.data);
    case 'ShareChatFile':
      return decideShareChatFile(visit, command.data);
    case 'ExportChatTranscript':
      return decideExportTranscript(visit, command.data);
    case 'PostLobbyNotice':
      return decidePostLobbyNotice(visit, command.data);
  }
}

/** A waiting participant enters the media room, through the consent gate. */
function decideAdmit(visit: LiveVisit, data: Admission): VisitEvent[] {
  const { caller, participantId, admission, tokenHash } = data;
  requireOwner(visit, caller);
  if (visit.locked) throw new PreconditionError('visit is locked');
  const p = requireParticipant(visit, participantId);
  if (p.status !== ParticipantStatus.Waiting)
    throw new PreconditionError(`participant is ${p.status}, not waiting`);
  requireConsentToEnter(visit, participantId, data.policy);
  return [
    {
      type: VisitEventType.ParticipantAdmitted,
      data: { ...ref(visit, p), role: p.role, admittedBy: `users/${caller.id}`, admission, tokenHash },
    },
  ];
}

/** The owning clinician enters (once); under the `required` policy that asks for the recording. */
function decideAdmitClinician(visit: LiveVisit, data: Admission): VisitEvent[] {
  const { caller, participantId, admission, tokenHash, policy } = data;
  requireOwner(visit, caller);
  const p = visit.participants[participantId];
  if (p?.status === ParticipantStatus.Admitted) return [];
  if (visit.recording !== undefined) requireConsentToEnter(visit, participantId, policy);
  return [
    ...clinicianRecordingRequest(visit, caller, participantId, policy),
    {
      type: VisitEventType.ParticipantAdmitted,
      data: {
        visitId: visit.visitId,
        participantId,
        principal: `users/${caller.id}`,
        role: ParticipantRole.Clinician,
        admittedBy: `users/${caller.id}`,
        admission,
        tokenHash,
      },
    },
  ];
}

/** The clinician cancels the pending request: RecordingRequestEnded. Throws when none is pending. */
function decideCancelRecording(visit: LiveVisit, data: CancelRecording['data']): VisitEvent[] {
  requireOwner(visit, data.caller);
  if (visit.recordingRequest === undefined) {
    throw new PreconditionError(
      visit.recording !== undefined
        ? 'the visit is being recorded: stop the recording instead'
        : 'no recording request is pending',
    );
  }
  return [
    {
      type: VisitEventType.RecordingRequestEnded,
      data: {
        visitId: visit.visitId,
        reason: RecordingRequestEndReason.CancelledByClinician,
        cancelledBy: `users/${data.caller.id}`,
      },
    },
  ];
}

/** The clinician stops the recording, or the service does (no caller: a lost media node). */
function decideStopRecording(visit: LiveVisit, data: StopRecording['data']): VisitEvent[] {
  const { caller, reason, at, partial } = data;
  if (caller) requireOwner(visit, caller);
  else if (reason === RecordingStopReason.StoppedByClinician) {
    throw new PermissionError('only the clinician of this visit may stop its recording');
  }
  if (visit.recording === undefined) throw new PreconditionError('the visit is not being recorded');
  return stopped(visit, reason, at, partial === true);
}

/** A participant present acknowledges the notice of the recording in progress. */
function decideAcknowledge(visit: LiveVisit, data: AcknowledgeRecordingNotice['data']): VisitEvent[] {
  const { caller, participantId } = data;
  if (visitAccess(visit, caller) === 'none') throw new PermissionError('not a participant of this visit');
  const p = requireParticipant(visit, participantId);
  if (p.status !== ParticipantStatus.Admitted) throw new PreconditionError('not in this visit');
  if (visit.recording === undefined) throw new PreconditionError('the visit is not being recorded');
  return [
    {
      type: VisitEventType.RecordingNoticeAcknowledged,
      data: { ...ref(visit, p), recordingId: visit.recording.recordingId },
    },
  ];
}

/**
 * The consent gate of admission: while the visit is being recorded, or always when the clinic requires recording,
 * nobody enters the media room without having consented. Refusing the admission (rather than stopping the
 * recording) never records anyone who did not consent and does not cut the others' recording short.
 */
function requireConsentToEnter(
  visit: LiveVisit,
  participantId: string,
  policy: RecordingPolicy | undefined,
): void {
  const gated = visit.recording !== undefined || policy === RecordingPolicy.Required;
  if (gated && visit.consents[participantId] !== true) {
    throw new RecordingConsentRequiredError(visit.recording !== undefined ? 'recording' : 'policy');
  }
}

/**
 * An admission refused because the participant has not consented to the recording. Its ErrorInfo reason
 * (`RECORDING_CONSENT_REQUIRED` while the visit is recorded, `RECORDING_CONSENT_REQUIRED_BY_POLICY` when the
 * clinic records every visit) lets the gateway tell the clinician why.
 */
export class RecordingConsentRequiredError extends PreconditionError {
  override readonly name = 'RecordingConsentRequiredError';
  readonly reason: 'RECORDING_CONSENT_REQUIRED' | 'RECORDING_CONSENT_REQUIRED_BY_POLICY';
  constructor(why: 'recording' | 'policy') {
    super(
      why === 'recording'
        ? 'this visit is being recorded: the participant must consent to recording before being admitted'
        : 'this clinic records every visit: the participant must consent to recording before being admitted',
    );
    this.reason = why === 'recording' ? 'RECORDING_CONSENT_REQUIRED' : 'RECORDING_CONSENT_REQUIRED_BY_POLICY';
  }
}

/**
 * Under the `required` policy the clinician's own admission asks for the recording (and is their consent);
 * otherwise nothing.
 */
function clinicianRecordingRequest(
  visit: LiveVisit,
  caller: Caller,
  participantId: string,
  policy: RecordingPolicy | undefined,
): VisitEvent[] {
  if (policy !== RecordingPolicy.Required || visit.recording !== undefined) return [];
  const consent: VisitEvent[] =
    visit.consents[participantId] === true
      ? []
      : [
          {
            type: VisitEventType.ConsentRecorded,
            data: {
              visitId: visit.visitId,
              participantId,
              principal: `users/${caller.id}`,
              scope: 'recording',
              granted: true,
            },
          },
        ];
  const request: VisitEvent[] =
    visit.recordingRequest !== undefined
      ? []
      : [
          {
            type: VisitEventType.RecordingRequested,
            data: {
              visitId: visit.visitId,
              requestedBy: `users/${caller.id}`,
              policy,
              awaiting: presentParticipants(visit)
                .filter((p) => visit.consents[p.participantId] !== true)
                .map((p) => p.participantId),
            },
          },
        ];
  return [...consent, ...request];
}

/** RecordingStopped for the recording in progress, or nothing when none is. */
function stopped(
  visit: Extract<VisitState, { status: 'open' | 'ended' }>,
  reason: RecordingStopReason,
  at: string,
  partial = false,
): VisitEvent[] {
  if (visit.recording === undefined) return [];
  const { recordingId, startTime } = visit.recording;
  return [
    {
      type: VisitEventType.RecordingStopped,
      data: {
        visitId: visit.visitId,
        recordingId,
        janusNode: visit.janusNode,
        room: visit.room,
        rawFilePrefix: `${recordingId}/`,
        startTime,
        stopTime: at,
        reason,
        partial,
      },
    },
  ];
}

/**
 * Consent of a patient (their own) or of the clinician (their own, even before they joined). A withdrawal by
 * someone present while recording stops the recording at once, in the same append.
 */
function decideConsent(visit: LiveVisit, data: RecordConsent['data']): VisitEvent[] {
  const { caller, participantId, granted, at } = data;
  const access = visitAccess(visit, caller);
  if (access === 'none') {
    throw new PermissionError(
      caller.kind === 'patient'
        ? 'this patient token is not for this visit'
        : 'only the clinician of this visit may do that',
    );
  }
  const known = visit.participants[participantId];
  const own = known ? known.principal === principalOf(caller) : access === 'clinician';
  if (!known && access !== 'clinician') throw new NotFoundError(`participant ${participantId} not found`);
  if (!own) throw new PermissionError('a participant records only their own consent');
  const principal = known?.principal ?? `users/${caller.id}`;
  const recorded: VisitEvent = {
    type: VisitEventType.ConsentRecorded,
    data: { visitId: visit.visitId, participantId, principal, scope: 'recording', granted },
  };
  const present = known?.status === ParticipantStatus.Admitted;
  if (granted || !present) return [recorded];
  // A refusal by someone present ends a pending request (naming their role only) or stops the recording.
  const ended: VisitEvent[] =
    visit.recordingRequest !== undefined && visit.recording === undefined
      ? [
          {
            type: VisitEventType.RecordingRequestEnded,
            data: {
              visitId: visit.visitId,
              reason: RecordingRequestEndReason.ConsentRefused,
              refusedBy: known.role,
            },
          },
        ]
      : [];
  return [recorded, ...ended, ...stopped(visit, RecordingStopReason.ConsentWithdrawn, at)];
}

/** The clinician asks to record: their consent (when not given yet) and the request (when none is pending). */
function decideRequestRecording(visit: LiveVisit, data: RequestRecording['data']): VisitEvent[] {
  const { caller, participantId, policy } = data;
  requireOwner(visit, caller);
  if (policy === RecordingPolicy.Off) {
    throw new PreconditionError('recording is off for this clinic (HAVEN_RECORDING_POLICY=off)');
  }
  if (visit.recording !== undefined) throw new PreconditionError('the visit is already being recorded');
  if (visit.participants[participantId]?.status !== ParticipantStatus.Admitted) {
    throw new PreconditionError('join the visit before recording it');
  }
  const events: VisitEvent[] = [];
  if (visit.consents[participantId] !== true) {
    events.push({
      type: VisitEventType.ConsentRecorded,
      data: {
        visitId: visit.visitId,
        participantId,
        principal: `users/${caller.id}`,
        scope: 'recording',
        granted: true,
      },
    });
  }
  if (visit.recordingRequest === undefined) {
    events.push({
      type: VisitEventType.RecordingRequested,
      data: {
        visitId: visit.visitId,
        requestedBy: `users/${caller.id}`,
        policy,
        awaiting: presentParticipants(visit)
          .filter((p) => p.participantId !== participantId && visit.consents[p.participantId] !== true)
          .map((p) => p.participantId),
      },
    });
  }
  return events;
}

/** Janus records now: RecordingStarted, only when asked for and everyone present has consented. */
function decideBeginRecording(visit: LiveVisit, data: BeginRecording['data']): VisitEvent[] {
  if (visit.recording !== undefined) throw new PreconditionError('the visit is already being recorded');
  if (!readyToRecord(visit)) {
    throw new PreconditionError(
      visit.recordingRequest === undefined || !everyoneConsented(visit)
        ? 'not everyone present has consented to recording'
        : 'recording was not asked for',
    );
  }
  return [
    {
      type: VisitEventType.RecordingStarted,
      data: {
        visitId: visit.visitId,
        recordingId: data.recordingId,
        janusNode: visit.janusNode,
        room: visit.room,
        clinicianId: visit.clinicianId,
        patientId: visit.patientId,
        startTime: data.at,
        consented: presentParticipants(visit).map((p) => p.participantId),
      },
    },
  ];
}

/** A feed seen in Janus: recorded for an admitted participant within their role's feed limit, refused otherwise. */
function decideMediaJoined(state: VisitState, data: RecordMediaJoined['data']): VisitEvent[] {
  if (state.status !== 'open') return [];
  const p = state.participants[data.participantId];
  // Only an admitted participant may have feeds, and no more than their role allows: the service kicks the
  // feed it is told about when this refuses.
  if (!p || p.status !== ParticipantStatus.Admitted) {
    throw new PermissionError('a feed of someone who is not admitted to this visit');
  }
  const feeds = p.feeds ?? [];
  if (feeds.includes(data.feedId)) return [];
  if (feeds.length >= FEED_LIMIT[p.role]) {
    throw new PermissionError(`more than ${FEED_LIMIT[p.role]} feeds for a ${p.role}`);
  }
  return [
    {
      type: VisitEventType.ParticipantJoinedMedia,
      data: {
        visitId: state.visitId,
        participantId: p.participantId,
        feedId: data.feedId,
        at: data.at,
      },
    },
  ];
}

/** A feed gone from Janus: recorded for the participant who owned it. */
function decideMediaLeft(state: VisitState, data: RecordMediaLeft['data']): VisitEvent[] {
  if (state.status !== 'open') return [];
  const p = participantByFeed(state, data.feedId);
  if (!p) return [];
  return [
    {
      type: VisitEventType.ParticipantLeftMedia,
      data: {
        visitId: state.visitId,
        participantId: p.participantId,
        feedId: data.feedId,
        at: data.at,
        reason: data.reason,
      },
    },
  ];
}

/**
 * The patient (each device) or an invited guest arrives in the lobby, unless already there, admitted, denied,
 * removed for good, or locked out.
 */
function decideJoinLobby(visit: LiveVisit, data: JoinLobby['data']): VisitEvent[] {
  const { caller, participantId } = data;
  const invited = caller.kind === 'user' || visitAccess(visit, caller) === 'guest';
  const guestRole = invited ? visit.guests?.[principalOf(caller)] : undefined;
  if (guestRole === undefined) requirePatientOf(visit, caller);
  const p = visit.participants[participantId];
  if (p && (p.status === ParticipantStatus.Waiting || p.status === ParticipantStatus.Admitted)) return [];
  if (p?.status === ParticipantStatus.Denied) throw new PreconditionError('admission was denied');
  if (p?.status === ParticipantStatus.Kicked && p.allowRejoin === false) {
    throw new PreconditionError('removed from this visit');
  }
  if (visit.locked) throw new PreconditionError('visit is locked');
  if (guestRole !== undefined) {
    return [
      {
        type: VisitEventType.GuestArrivedInLobby,
        data: {
          visitId: visit.visitId,
          participantId,
          principal: principalOf(caller),
          role: guestRole,
          ...(data.deviceCheck ? { deviceCheck: data.deviceCheck } : {}),
        },
      },
    ];
  }
  return [
    {
      type: VisitEventType.PatientArrivedInLobby,
      data: {
        visitId: visit.visitId,
        participantId,
        principal: `patients/${caller.id}`,
        role: ParticipantRole.Patient,
        ...(data.deviceCheck ? { deviceCheck: data.deviceCheck } : {}),
      },
    },
  ];
}

const USER = /^users\/[A-Za-z0-9_-]{1,64}$/;
/** A guest without an account, named by the service at invitation. */
export const LINK_GUEST = /^guests\/[A-Za-z0-9_-]{1,64}$/;

/**
 * A host invites a staff user, or a guest without an account (`guests/{id}`, interpreter or family only), as a
 * guest; inviting them again with the same role changes nothing.
 */
function decideInviteGuest(visit: LiveVisit, data: InviteGuest['data']): VisitEvent[] {
  const { caller, principal, role } = data;
  requireOwner(visit, caller);
  const linkGuest = LINK_GUEST.test(principal);
  if (!USER.test(principal) && !linkGuest)
    throw new PreconditionError('a guest is invited as users/{id} or guests/{id}');
  if (!Object.values(GuestRole).includes(role))
    throw new PreconditionError(`${String(role)} is not a guest role`);
  if (linkGuest && role === GuestRole.Clinician)
    throw new PreconditionError('a clinician joins with their own staff account, not a guest link');
  if (hostsOf(visit).includes(principal)) throw new PreconditionError('a host is not invited as a guest');
  if (visit.guests?.[principal] === role) return [];
  return [
    {
      type: VisitEventType.GuestInvited,
      data: { visitId: visit.visitId, principal, role, invitedBy: `users/${caller.id}` },
    },
  ];
}

/** A host records the patient's identity confirmation once; the value they checked never reaches the event. */
function decideConfirmIdentity(visit: LiveVisit, data: ConfirmIdentity['data']): VisitEvent[] {
  requireOwner(visit, data.caller);
  if (!Object.values(IdentityMethod).includes(data.method))
    throw new PreconditionError(`${String(data.method)} is not an identity method`);
  if (visit.identity) return [];
  return [
    {
      type: VisitEventType.IdentityConfirmed,
      data: {
        visitId: visit.visitId,
        patient: `patients/${visit.patientId}`,
        confirmedBy: `users/${data.caller.id}`,
        method: data.method,
      },
    },
  ];
}

/** A host revokes a guest: the invitation ends and every entry of theirs still there is removed for good. */
function decideRevokeGuest(visit: LiveVisit, data: RevokeGuest['data']): VisitEvent[] {
  const { caller, principal } = data;
  requireOwner(visit, caller);
  if (visit.guests?.[principal] === undefined) throw new NotFoundError(`guest ${principal} not found`);
  const present = Object.values(visit.participants).filter(
    (p) =>
      p.principal === principal &&
      (p.status === ParticipantStatus.Admitted || p.status === ParticipantStatus.Waiting),
  );
  return [
    {
      type: VisitEventType.GuestRevoked,
      data: { visitId: visit.visitId, principal, revokedBy: `users/${caller.id}` },
    },
    ...present.map((p): VisitEvent => ({
      type: VisitEventType.ParticipantKicked,
      data: { ...ref(visit, p), allowRejoin: false },
    })),
  ];
}

/**
 * A host shares host rights with, or hands them over to, a clinician admitted to the visit. Sharing with someone
 * who already is a host changes nothing; handing over to them only ends the caller's own rights.
 */
function decideGrantHost(visit: LiveVisit, data: GrantHost['data']): VisitEvent[] {
  const { caller, participantId, mode } = data;
  requireOwner(visit, caller);
  const p = requireParticipant(visit, participantId);
  const self = `users/${caller.id}`;
  if (p.principal === self) throw new PreconditionError('host rights go to another clinician');
  if (p.role !== ParticipantRole.Clinician || !USER.test(p.principal)) {
    throw new PreconditionError('host rights go only to a clinician');
  }
  if (p.status !== ParticipantStatus.Admitted)
    throw new PreconditionError(`participant is ${p.status}, not in the visit`);
  const granted: VisitEvent[] = hostsOf(visit).includes(p.principal)
    ? []
    : [
        {
          type: VisitEventType.HostGranted,
          data: { visitId: visit.visitId, principal: p.principal, grantedBy: self },
        },
      ];
  const revoked: VisitEvent[] =
    mode === 'handover'
      ? [
          {
            type: VisitEventType.HostRevoked,
            data: { visitId: visit.visitId, principal: self, revokedBy: self },
          },
        ]
      : [];
  return [...granted, ...revoked];
}
