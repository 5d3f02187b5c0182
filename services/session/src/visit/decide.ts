/**
 * Commands and decide() for the Visit aggregate. Pure: no I/O, no clock (times come in the commands).
 */
import { NotFoundError, PermissionError, PreconditionError } from '@haven/errors';
import {
  FEED_LIMIT,
  ParticipantRole,
  ParticipantStatus,
  VisitEventType,
  inMediaCount,
  participantByFeed,
  type Participant,
  type VisitBody,
  type VisitEndReason,
  type VisitEvent,
  type VisitOpened,
  type VisitState,
} from './visit';

/** The caller as the decider sees it. */
export interface Caller {
  readonly kind: string;
  readonly id: string;
  readonly role?: string;
  /** The `visit` claim of a patient principal (`visits/{id}`). */
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
  readonly data: { readonly caller: Caller; readonly participantId: string };
}
export interface AdmitParticipant {
  readonly type: 'AdmitParticipant';
  readonly data: {
    readonly caller: Caller;
    readonly participantId: string;
    readonly admission: string;
    readonly tokenHash: string;
  };
}
/** The owning clinician admits themself when they first join the media room. */
export interface AdmitClinician {
  readonly type: 'AdmitClinician';
  readonly data: {
    readonly caller: Caller;
    readonly participantId: string;
    readonly admission: string;
    readonly tokenHash: string;
  };
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
export interface RecordConsent {
  readonly type: 'RecordConsent';
  readonly data: { readonly caller: Caller; readonly participantId: string; readonly granted: boolean };
}
export interface EndVisit {
  readonly type: 'EndVisit';
  /** `caller` is required for `ended_by_clinician` (ownership); the system ends for other reasons. */
  readonly data: { readonly reason: VisitEndReason; readonly caller?: Caller };
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

export type VisitCommand =
  | OpenVisit
  | JoinLobby
  | AdmitParticipant
  | AdmitClinician
  | DenyParticipant
  | KickParticipant
  | LeaveVisit
  | LockVisit
  | UnlockVisit
  | RecordConsent
  | EndVisit
  | EndIdleVisit
  | RecordMediaJoined
  | RecordMediaLeft;

type LiveVisit = Extract<VisitState, { status: 'open' }>;

function requireOpen(state: VisitState): LiveVisit {
  if (state.status === 'none') throw new NotFoundError('visit not found');
  if (state.status === 'ended') throw new PreconditionError('visit has ended');
  return state;
}

/** What a caller is to a visit: its clinician, its patient (a patient token for this visit), or neither. */
export type VisitAccess = 'clinician' | 'patient' | 'none';

/**
 * The one ownership check of a visit: its clinician is the user with role clinician whose id the visit names;
 * its patient, a patient principal whose `visit` claim is this visit. Pure.
 */
export function visitAccess(state: Pick<VisitBody, 'visitId' | 'clinicianId'>, caller: Caller): VisitAccess {
  if (caller.kind === 'user' && caller.role === 'clinician' && caller.id === state.clinicianId)
    return 'clinician';
  if (caller.kind === 'patient' && caller.visit === `visits/${state.visitId}`) return 'patient';
  return 'none';
}

function requireOwner(state: LiveVisit, caller: Caller): void {
  if (visitAccess(state, caller) !== 'clinician') {
    throw new PermissionError('only the clinician of this visit may do that');
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
      return [{ type: VisitEventType.Ended, data: { visitId: state.visitId, reason: command.data.reason } }];
    }
    case 'EndIdleVisit': {
      if (state.status !== 'open' || state.idleSince === undefined || inMediaCount(state) > 0) return [];
      const idleMs = Date.parse(command.data.now) - Date.parse(state.idleSince);
      if (!(idleMs >= command.data.idleMinutes * 60_000)) return [];
      return [{ type: VisitEventType.Ended, data: { visitId: state.visitId, reason: 'idle' } }];
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
    case 'AdmitParticipant': {
      const { caller, participantId, admission, tokenHash } = command.data;
      requireOwner(visit, caller);
      if (visit.locked) throw new PreconditionError('visit is locked');
      const p = requireParticipant(visit, participantId);
      if (p.status !== ParticipantStatus.Waiting)
        throw new PreconditionError(`participant is ${p.status}, not waiting`);
      return [
        {
          type: VisitEventType.ParticipantAdmitted,
          data: { ...ref(visit, p), role: p.role, admittedBy: `users/${caller.id}`, admission, tokenHash },
        },
      ];
    }
    case 'AdmitClinician': {
      const { caller, participantId, admission, tokenHash } = command.data;
      requireOwner(visit, caller);
      const p = visit.participants[participantId];
      if (p?.status === ParticipantStatus.Admitted) return [];
      return [
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
      if (p.role === ParticipantRole.Clinician) throw new PreconditionError('the clinician cannot be kicked');
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
    case 'RecordConsent': {
      const { caller, participantId, granted } = command.data;
      requirePatientOf(visit, caller);
      const p = requireParticipant(visit, participantId);
      return [
        {
          type: VisitEventType.ConsentRecorded,
          data: { ...ref(visit, p), scope: 'recording', granted },
        },
      ];
    }
  }
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

/** The patient arrives in the lobby, unless already there, admitted, denied, kicked for good, or locked out. */
function decideJoinLobby(visit: LiveVisit, data: JoinLobby['data']): VisitEvent[] {
  const { caller, participantId } = data;
  requirePatientOf(visit, caller);
  const p = visit.participants[participantId];
  if (p && (p.status === ParticipantStatus.Waiting || p.status === ParticipantStatus.Admitted)) return [];
  if (p?.status === ParticipantStatus.Denied) throw new PreconditionError('admission was denied');
  if (p?.status === ParticipantStatus.Kicked && p.allowRejoin === false) {
    throw new PreconditionError('removed from this visit');
  }
  if (visit.locked) throw new PreconditionError('visit is locked');
  return [
    {
      type: VisitEventType.PatientArrivedInLobby,
      data: {
        visitId: visit.visitId,
        participantId,
        principal: `patients/${caller.id}`,
        role: ParticipantRole.Patient,
      },
    },
  ];
}
