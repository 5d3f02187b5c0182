/**
 * The Visit aggregate: one per appointment. Stream `session.visit-<appointmentId>`.
 * Pure: no I/O. Event data carries ids, room numbers, codes and times only, never PHI (no display names).
 */
import { ChatEventType, evolveChat, type ChatMessagePosted, type ChatState } from './chat';
import { ChatFileEventType, type ChatFileShared } from './chat-files';
import { TranscriptEventType, type TranscriptExported } from './chat-transcript';
import {
  evolveLobbyNotice,
  LobbyNoticeEventType,
  type LobbyNoticePosted,
  type LobbyNoticeState,
} from './lobby-notice';

export const VisitEventType = {
  Opened: 'haven.session.v1.VisitOpened',
  PatientArrivedInLobby: 'haven.session.v1.PatientArrivedInLobby',
  ParticipantAdmitted: 'haven.session.v1.ParticipantAdmitted',
  ParticipantDenied: 'haven.session.v1.ParticipantDenied',
  ParticipantKicked: 'haven.session.v1.ParticipantKicked',
  ParticipantLeft: 'haven.session.v1.ParticipantLeft',
  ParticipantJoinedMedia: 'haven.session.v1.ParticipantJoinedMedia',
  ParticipantLeftMedia: 'haven.session.v1.ParticipantLeftMedia',
  Locked: 'haven.session.v1.VisitLocked',
  Unlocked: 'haven.session.v1.VisitUnlocked',
  ConsentRecorded: 'haven.session.v1.ConsentRecorded',
  RecordingRequested: 'haven.session.v1.RecordingRequested',
  RecordingStarted: 'haven.session.v1.RecordingStarted',
  RecordingStopped: 'haven.session.v1.RecordingStopped',
  RecordingNoticeAcknowledged: 'haven.session.v1.RecordingNoticeAcknowledged',
  RecordingRequestEnded: 'haven.session.v1.RecordingRequestEnded',
  Ended: 'haven.session.v1.VisitEnded',
  GuestInvited: 'haven.session.v1.GuestInvited',
  GuestArrivedInLobby: 'haven.session.v1.GuestArrivedInLobby',
  GuestRevoked: 'haven.session.v1.GuestRevoked',
  IdentityConfirmed: 'haven.session.v1.IdentityConfirmed',
  HostGranted: 'haven.session.v1.HostGranted',
  HostRevoked: 'haven.session.v1.HostRevoked',
  ChatMessagePosted: ChatEventType.MessagePosted,
  ChatFileShared: ChatFileEventType.Shared,
  TranscriptExported: TranscriptEventType.Exported,
  LobbyNoticePosted: LobbyNoticeEventType.Posted,
} as const;

/** Why a visit ended: a code, never free text. */
export const VisitEndReason = {
  EndedByClinician: 'ended_by_clinician',
  AppointmentCancelled: 'appointment_cancelled',
  Idle: 'idle',
} as const;
export type VisitEndReason = (typeof VisitEndReason)[keyof typeof VisitEndReason];

/**
 * The clinic's recording policy (`HAVEN_RECORDING_POLICY`): `off` — nobody can record; `on-request` (default) — the
 * clinician asks, everyone present consents, then it records; `required` — every visit is recorded: nobody is
 * admitted to the media room without having consented, the clinician's own admission asks for the recording,
 * and it starts as soon as everyone present has consented.
 */
export const RecordingPolicy = { Off: 'off', OnRequest: 'on-request', Required: 'required' } as const;
export type RecordingPolicy = (typeof RecordingPolicy)[keyof typeof RecordingPolicy];

/** Why a recording stopped: a code, never free text. */
export const RecordingStopReason = {
  StoppedByClinician: 'stopped_by_clinician',
  ConsentWithdrawn: 'consent_withdrawn',
  VisitEnded: 'visit_ended',
  /** The Janus node went away mid-recording: what it wrote is kept, the recording is partial. */
  MediaNodeLost: 'media_node_lost',
} as const;
export type RecordingStopReason = (typeof RecordingStopReason)[keyof typeof RecordingStopReason];

/** Why a pending recording request ended without a recording: a code, never free text. */
export const RecordingRequestEndReason = {
  /** The clinician cancelled the request. */
  CancelledByClinician: 'cancelled_by_clinician',
  /** A participant present refused consent. */
  ConsentRefused: 'consent_refused',
} as const;
export type RecordingRequestEndReason =
  (typeof RecordingRequestEndReason)[keyof typeof RecordingRequestEndReason];

/**
 * A participant's role in the visit: the clinician(s), the patient (each of their devices), and guests the host
 * invited — an interpreter, a family member, or a second clinician (role `clinician`, host only when granted).
 */
export const ParticipantRole = {
  Clinician: 'clinician',
  Patient: 'patient',
  Interpreter: 'interpreter',
  Family: 'family',
} as const;
export type ParticipantRole = (typeof ParticipantRole)[keyof typeof ParticipantRole];

/** The roles a host may invite a guest as. */
export const GuestRole = {
  Clinician: ParticipantRole.Clinician,
  Interpreter: ParticipantRole.Interpreter,
  Family: ParticipantRole.Family,
} as const;
export type GuestRole = (typeof GuestRole)[keyof typeof GuestRole];

/**
 * Publisher feeds a participant may have in the media room at once, by role: a camera and a screen share. The
 * media proxy refuses more; a feed over the limit that reaches the room anyway is kicked by the service.
 */
export const FEED_LIMIT: Readonly<Record<ParticipantRole, number>> = {
  clinician: 2,
  patient: 2,
  interpreter: 2,
  family: 2,
};

/** Where a participant is. */
export const ParticipantStatus = {
  Waiting: 'waiting',
  Admitted: 'admitted',
  Denied: 'denied',
  Kicked: 'kicked',
  Left: 'left',
} as const;
export type ParticipantStatus = (typeof ParticipantStatus)[keyof typeof ParticipantStatus];

export interface VisitOpened {
  readonly type: typeof VisitEventType.Opened;
  readonly data: {
    readonly visitId: string;
    readonly appointmentId: string;
    readonly clinicianId: string;
    /** The patient's id (an opaque id, not PHI): lets the audit log answer "everything about this patient". */
    readonly patientId: string;
    readonly janusNode: string;
    readonly room: number;
    readonly startTime: string;
    readonly endTime: string;
  };
}

/** What a participant's device check found on arrival: no PHI, no device names. */
export interface DeviceCheck {
  readonly camera: boolean;
  readonly microphone: boolean;
  readonly speaker: boolean;
  readonly permission: 'granted' | 'denied' | 'unavailable';
}

interface ParticipantRef {
  readonly visitId: string;
  /** Stable per principal within the visit; the media proxy publishes their feeds under it (with a MAC). */
  readonly participantId: string;
}

export interface PatientArrivedInLobby {
  readonly type: typeof VisitEventType.PatientArrivedInLobby;
  readonly data: ParticipantRef & {
    /** `patients/{id}` of the patient principal. */
    readonly principal: string;
    readonly role: typeof ParticipantRole.Patient;
    readonly deviceCheck?: DeviceCheck;
  };
}

export interface ParticipantAdmitted {
  readonly type: typeof VisitEventType.ParticipantAdmitted;
  readonly data: ParticipantRef & {
    readonly principal: string;
    readonly role: ParticipantRole;
    /** `users/{id}` of the clinician who admitted (themself, for the clinician's implicit admission). */
    readonly admittedBy: string;
    /**
     * Random nonce (≥128 bits) of this admission. The room token is HMAC(room key, visit, participant, nonce):
     * only the service holding the room key can derive it, so the event never carries the token itself.
     */
    readonly admission: string;
    /** SHA-256 of the room token (base64url), to correlate with Janus without revealing the token. */
    readonly tokenHash: string;
  };
}

export interface ParticipantDenied {
  readonly type: typeof VisitEventType.ParticipantDenied;
  readonly data: ParticipantRef & { readonly principal: string };
}

export interface ParticipantKicked {
  readonly type: typeof VisitEventType.ParticipantKicked;
  readonly data: ParticipantRef & { readonly principal: string; readonly allowRejoin: boolean };
}

export interface ParticipantLeft {
  readonly type: typeof VisitEventType.ParticipantLeft;
  readonly data: ParticipantRef & { readonly principal: string };
}

export interface ParticipantJoinedMedia {
  readonly type: typeof VisitEventType.ParticipantJoinedMedia;
  readonly data: ParticipantRef & { readonly feedId: number; readonly at: string };
}

export interface ParticipantLeftMedia {
  readonly type: typeof VisitEventType.ParticipantLeftMedia;
  readonly data: ParticipantRef & {
    readonly feedId: number;
    readonly at: string;
    readonly reason: 'leaving' | 'kicked' | 'room_destroyed';
  };
}

export interface VisitLocked {
  readonly type: typeof VisitEventType.Locked;
  readonly data: { readonly visitId: string };
}

export interface VisitUnlocked {
  readonly type: typeof VisitEventType.Unlocked;
  readonly data: { readonly visitId: string };
}

export interface ConsentRecorded {
  readonly type: typeof VisitEventType.ConsentRecorded;
  readonly data: ParticipantRef & {
    readonly principal: string;
    readonly scope: 'recording';
    readonly granted: boolean;
  };
}

/**
 * The clinician asked to record. Recording starts (RecordingStarted) once every participant present has consented;
 * `awaiting` are the participants present whose consent is missing when it was asked.
 */
export interface RecordingRequested {
  readonly type: typeof VisitEventType.RecordingRequested;
  readonly data: {
    readonly visitId: string;
    /** `users/{id}` of the clinician who asked. */
    readonly requestedBy: string;
    readonly policy: RecordingPolicy;
    readonly awaiting: readonly string[];
  };
}

/**
 * Janus records the room (every feed, into `<recordings dir>/<recordingId>/`). Creates the recording (RECORDING)
 * in the recording service. Ids only.
 */
export interface RecordingStarted {
  readonly type: typeof VisitEventType.RecordingStarted;
  readonly data: {
    readonly visitId: string;
    /** The recording's id, without `recordings/`; its raw files are `<recordings dir>/<recordingId>/*.mjr`. */
    readonly recordingId: string;
    readonly janusNode: string;
    readonly room: number;
    readonly clinicianId: string;
    readonly patientId: string;
    readonly startTime: string;
    /** The participants present, every one of whom had consented. */
    readonly consented: readonly string[];
  };
}

/** Janus stopped recording the room; the raw files are ready for the recording service (PROCESSING). */
export interface RecordingStopped {
  readonly type: typeof VisitEventType.RecordingStopped;
  readonly data: {
    readonly visitId: string;
    readonly recordingId: string;
    readonly janusNode: string;
    readonly room: number;
    /** `<recordingId>/`: the raw files are every `*.mjr` under it in the recordings directory. */
    readonly rawFilePrefix: string;
    readonly startTime: string;
    readonly stopTime: string;
    readonly reason: RecordingStopReason;
    /** True when the media node was lost mid-recording: the files hold what was written until then. */
    readonly partial: boolean;
  };
}

/** A participant's page showed the recording notice and they acknowledged it. */
export interface RecordingNoticeAcknowledged {
  readonly type: typeof VisitEventType.RecordingNoticeAcknowledged;
  readonly data: ParticipantRef & { readonly principal: string; readonly recordingId: string };
}

/**
 * A pending recording request ended without recording: the clinician cancelled it, or a participant present
 * refused (`refusedBy` is their role, never who they are). The clinician asks again to record.
 */
export interface RecordingRequestEnded {
  readonly type: typeof VisitEventType.RecordingRequestEnded;
  readonly data: {
    readonly visitId: string;
    readonly reason: RecordingRequestEndReason;
    /** `users/{id}` of the clinician who cancelled (cancelled_by_clinician). */
    readonly cancelledBy?: string;
    /** The role of the participant who refused (consent_refused). */
    readonly refusedBy?: ParticipantRole;
  };
}

export interface VisitEnded {
  readonly type: typeof VisitEventType.Ended;
  readonly data: {
    readonly visitId: string;
    readonly reason: VisitEndReason;
  };
}

/**
 * A host invited a staff user, or a guest without an account who joins with a one-time link, into the visit as a
 * guest (they wait in the lobby to be admitted).
 */
export interface GuestInvited {
  readonly type: typeof VisitEventType.GuestInvited;
  readonly data: {
    readonly visitId: string;
    /** `users/{id}` of the invited staff user, or `guests/{id}` of a link guest. */
    readonly principal: string;
    readonly role: GuestRole;
    /** `users/{id}` of the host who invited. */
    readonly invitedBy: string;
  };
}

/** An invited guest arrived in the lobby: their own entry, admitted or denied on its own. */
export interface GuestArrivedInLobby {
  readonly type: typeof VisitEventType.GuestArrivedInLobby;
  readonly data: ParticipantRef & {
    readonly principal: string;
    readonly role: GuestRole;
    readonly deviceCheck?: DeviceCheck;
  };
}

/**
 * A host revoked a guest's invitation: a link guest's link dies; a guest present is removed for good
 * (ParticipantKicked in the same append).
 */
export interface GuestRevoked {
  readonly type: typeof VisitEventType.GuestRevoked;
  readonly data: { readonly visitId: string; readonly principal: string; readonly revokedBy: string };
}

/** How a host confirmed the patient's identity: a code, never the value checked. */
export const IdentityMethod = { DateOfBirth: 'date_of_birth' } as const;
export type IdentityMethod = (typeof IdentityMethod)[keyof typeof IdentityMethod];

/** A host confirmed the patient's identity (verbal date-of-birth check). No PHI: who and how; when is the envelope's. */
export interface IdentityConfirmed {
  readonly type: typeof VisitEventType.IdentityConfirmed;
  readonly data: {
    readonly visitId: string;
    /** `patients/{id}`. */
    readonly patient: string;
    /** `users/{id}` of the host. */
    readonly confirmedBy: string;
    readonly method: IdentityMethod;
  };
}

/**
 * A host shared their rights (admit, deny, remove, lock, end, record) with a clinician of the visit, or handed
 * them over (this event, then HostRevoked for themself, in one append).
 */
export interface HostGranted {
  readonly type: typeof VisitEventType.HostGranted;
  readonly data: { readonly visitId: string; readonly principal: string; readonly grantedBy: string };
}

/** A clinician's host rights ended (handed over, or given back). */
export interface HostRevoked {
  readonly type: typeof VisitEventType.HostRevoked;
  readonly data: { readonly visitId: string; readonly principal: string; readonly revokedBy: string };
}

export type VisitEvent =
  | VisitOpened
  | GuestInvited
  | GuestArrivedInLobby
  | GuestRevoked
  | IdentityConfirmed
  | HostGranted
  | HostRevoked
  | PatientArrivedInLobby
  | ParticipantAdmitted
  | ParticipantDenied
  | ParticipantKicked
  | ParticipantLeft
  | ParticipantJoinedMedia
  | ParticipantLeftMedia
  | VisitLocked
  | VisitUnlocked
  | ConsentRecorded
  | RecordingRequested
  | RecordingStarted
  | RecordingStopped
  | RecordingNoticeAcknowledged
  | RecordingRequestEnded
  | VisitEnded
  | ChatMessagePosted
  | ChatFileShared
  | TranscriptExported
  | LobbyNoticePosted;

/** One participant as the aggregate knows them. */
export interface Participant {
  readonly participantId: string;
  readonly principal: string;
  readonly role: ParticipantRole;
  readonly status: ParticipantStatus;
  /** Order of arrival (lobby position). */
  readonly arrival: number;
  /** Which of the principal's devices this is: 1 for the first to reach the visit, 2 for a second, … */
  readonly device?: number;
  /** The nonce of the current admission; set while admitted. */
  readonly admission?: string;
  /** The Janus publisher feeds they have in the media room (camera, screen share), in the order they came. */
  readonly feeds?: readonly number[];
  readonly allowRejoin?: boolean;
  readonly arrivedAt?: string;
  /** Their device check on arrival, when reported. */
  readonly deviceCheck?: DeviceCheck;
  readonly admittedAt?: string;
  readonly leftAt?: string;
}

export interface VisitBody extends Readonly<VisitOpened['data']> {
  readonly locked: boolean;
  readonly participants: Readonly<Record<string, Participant>>;
  readonly arrivals: number;
  /** The patient's latest recording consent; undefined until recorded. */
  readonly recordingConsent?: boolean;
  /** Each participant's latest recording consent (participant id → granted); absent until they decide. */
  readonly consents: Readonly<Record<string, boolean>>;
  /** A clinician's request to record, pending until everyone present has consented. */
  readonly recordingRequest?: { readonly requestedBy: string; readonly policy: RecordingPolicy };
  /** The recording in progress. */
  readonly recording?: { readonly recordingId: string; readonly startTime: string };
  /** Since when nobody has been in the media room (ISO time); undefined while someone is. */
  readonly idleSince?: string;
  /** Opened-at time when known from the envelope. */
  readonly openedAt?: string;
  /** `users/{id}` of the clinicians with host rights; absent means the visit's own clinician alone. */
  readonly hosts?: readonly string[];
  /** Guests invited and not revoked (`users/{id}` of staff, `guests/{id}` of link guests → their role). */
  readonly guests?: Readonly<Record<string, GuestRole>>;
  /** The patient's identity confirmation, once a host recorded it. */
  readonly identity?: { readonly confirmedBy: string; readonly method: IdentityMethod; readonly at?: string };
  /** The chat: how many messages, and each sender's latest posting times (the rate limit). */
  readonly chat?: ChatState;
  /** The waiting room's note (the latest posted). */
  readonly lobbyNotice?: LobbyNoticeState;
}

/** The `users/{id}` principals with host rights. */
export function hostsOf(state: Pick<VisitBody, 'clinicianId' | 'hosts'>): readonly string[] {
  return state.hosts ?? [`users/${state.clinicianId}`];
}

export type VisitState =
  | { readonly status: 'none' }
  | ({ readonly status: 'open' } & VisitBody)
  | ({ readonly status: 'ended'; readonly endReason: VisitEndReason; readonly endedAt?: string } & VisitBody);

export const initialVisitState: VisitState = { status: 'none' };

/** Number of participants currently in the media room (with at least one feed). */
export function inMediaCount(state: VisitState): number {
  if (state.status === 'none') return 0;
  return Object.values(state.participants).filter((p) => (p.feeds?.length ?? 0) > 0).length;
}

/** The participants present (admitted), by id. */
export function presentParticipants(state: VisitBody): Participant[] {
  return Object.values(state.participants).filter((p) => p.status === ParticipantStatus.Admitted);
}

/** True when someone is present and every participant present has consented to recording. */
export function everyoneConsented(state: VisitBody): boolean {
  const present = presentParticipants(state);
  return present.length > 0 && present.every((p) => state.consents[p.participantId] === true);
}

/** True when a recording was asked for, is not running, and everyone present has consented: Janus may start. */
export function readyToRecord(state: VisitState): boolean {
  return (
    state.status === 'open' &&
    state.recordingRequest !== undefined &&
    state.recording === undefined &&
    everyoneConsented(state)
  );
}

/** The participant holding a Janus feed, if any. */
export function participantByFeed(state: VisitState, feedId: number): Participant | undefined {
  if (state.status === 'none') return undefined;
  return Object.values(state.participants).find((p) => p.feeds?.includes(feedId) === true);
}

function put(
  state: Extract<VisitState, { status: 'open' | 'ended' }>,
  participant: Participant,
): Extract<VisitState, { status: 'open' | 'ended' }> {
  return { ...state, participants: { ...state.participants, [participant.participantId]: participant } };
}

/** The device number of a participant: kept once given; a new participant is its principal's next device. */
function deviceOf(
  state: Extract<VisitState, { status: 'open' | 'ended' }>,
  participantId: string,
  principal: string,
): number {
  const known = state.participants[participantId]?.device;
  if (known !== undefined) return known;
  return Object.values(state.participants).filter((p) => p.principal === principal).length + 1;
}

/** The state without its pending recording request and/or recording in progress (same status). */
function clear<S extends Extract<VisitState, { status: 'open' | 'ended' }>>(
  state: S,
  ...keys: ('recording' | 'recordingRequest')[]
): S {
  const copy = { ...state };
  for (const k of keys) delete copy[k];
  return copy;
}

function without<T extends object, K extends keyof T>(obj: T, ...keys: K[]): Omit<T, K> {
  const copy = { ...obj };
  for (const k of keys) delete copy[k];
  return copy;
}

/** Folds one event into the state; unknown types are ignored. `occurredAt` of a stored envelope is used when present. */
export function evolve(state: VisitState, event: { type: string; data: unknown }): VisitState {
  const e = event as VisitEvent;
  const at = (event as { occurredAt?: unknown }).occurredAt;
  const when = typeof at === 'string' ? at : undefined;
  if (e.type === VisitEventType.Opened) {
    if (state.status !== 'none') return state;
    return {
      status: 'open',
      ...e.data,
      locked: false,
      participants: {},
      consents: {},
      arrivals: 0,
      idleSince: e.data.startTime,
      ...(when ? { openedAt: when } : {}),
    };
  }
  if (state.status === 'none') return state;
  const current = (id: string): Participant | undefined => state.participants[id];
  switch (e.type) {
    case VisitEventType.GuestInvited:
    case VisitEventType.GuestRevoked:
    case VisitEventType.HostGranted:
    case VisitEventType.HostRevoked:
    case VisitEventType.IdentityConfirmed:
      return evolveMembers(state, e, when);
    case VisitEventType.GuestArrivedInLobby:
    case VisitEventType.PatientArrivedInLobby: {
      const arrival = state.arrivals + 1;
      const before = current(e.data.participantId);
      return {
        ...put(state, {
          ...(before ? without(before, 'admission', 'feeds', 'allowRejoin', 'admittedAt', 'leftAt') : {}),
          participantId: e.data.participantId,
          principal: e.data.principal,
          role: e.data.role,
          status: ParticipantStatus.Waiting,
          arrival,
          device: deviceOf(state, e.data.participantId, e.data.principal),
          ...(when ? { arrivedAt: when } : {}),
          ...(e.data.deviceCheck ? { deviceCheck: e.data.deviceCheck } : {}),
        }),
        arrivals: arrival,
      };
    }
    case VisitEventType.ParticipantAdmitted: {
      const before = current(e.data.participantId);
      const arrival = before?.arrival ?? state.arrivals + 1;
      return {
        ...put(state, {
          ...(before ? without(before, 'leftAt', 'allowRejoin') : {}),
          participantId: e.data.participantId,
          principal: e.data.principal,
          role: e.data.role,
          status: ParticipantStatus.Admitted,
          arrival,
          device: deviceOf(state, e.data.participantId, e.data.principal),
          admission: e.data.admission,
          ...(when ? { admittedAt: when } : {}),
        }),
        arrivals: Math.max(state.arrivals, arrival),
      };
    }
    case VisitEventType.ParticipantDenied:
    case VisitEventType.ParticipantKicked:
    case VisitEventType.ParticipantLeft: {
      const before = current(e.data.participantId);
      if (!before) return state;
      const status =
        e.type === VisitEventType.ParticipantDenied
          ? ParticipantStatus.Denied
          : e.type === VisitEventType.ParticipantKicked
            ? ParticipantStatus.Kicked
            : ParticipantStatus.Left;
      return put(state, {
        ...without(before, 'admission'),
        status,
        ...(e.type === VisitEventType.ParticipantKicked ? { allowRejoin: e.data.allowRejoin } : {}),
        ...(when ? { leftAt: when } : {}),
      });
    }
    case VisitEventType.ParticipantJoinedMedia: {
      const before = current(e.data.participantId);
      if (!before) return state;
      const feeds = before.feeds ?? [];
      const { idleSince: _idle, ...rest } = put(state, {
        ...before,
        feeds: feeds.includes(e.data.feedId) ? feeds : [...feeds, e.data.feedId],
      });
      return rest;
    }
    case VisitEventType.ParticipantLeftMedia: {
      const before = current(e.data.participantId);
      if (!before) return state;
      const feeds = (before.feeds ?? []).filter((f) => f !== e.data.feedId);
      const next = put(state, feeds.length > 0 ? { ...before, feeds } : without(before, 'feeds'));
      return inMediaCount(next) === 0 ? { ...next, idleSince: e.data.at } : next;
    }
    case VisitEventType.Locked:
    case VisitEventType.Unlocked:
      return { ...state, locked: e.type === VisitEventType.Locked };
    case VisitEventType.ConsentRecorded:
    case VisitEventType.RecordingRequested:
    case VisitEventType.RecordingStarted:
    case VisitEventType.RecordingStopped:
    case VisitEventType.RecordingNoticeAcknowledged:
    case VisitEventType.RecordingRequestEnded:
      return evolveRecording(state, e);
    case VisitEventType.Ended:
      return evolveEnded(state, e, when);
    case VisitEventType.ChatMessagePosted:
    case VisitEventType.ChatFileShared:
      return { ...state, chat: evolveChat(state.chat, e) };
    case VisitEventType.LobbyNoticePosted:
      return { ...state, lobbyNotice: evolveLobbyNotice(e) };
    default:
      return state;
  }
}

/** Folds an invitation, a revocation, a host change or the identity confirmation into an open or ended visit. */
function evolveMembers(
  state: Extract<VisitState, { status: 'open' | 'ended' }>,
  e: GuestInvited | GuestRevoked | HostGranted | HostRevoked | IdentityConfirmed,
  when: string | undefined,
): VisitState {
  switch (e.type) {
    case VisitEventType.GuestInvited:
      return { ...state, guests: { ...state.guests, [e.data.principal]: e.data.role } };
    case VisitEventType.IdentityConfirmed:
      return state.identity
        ? state
        : {
            ...state,
            identity: {
              confirmedBy: e.data.confirmedBy,
              method: e.data.method,
              ...(when ? { at: when } : {}),
            },
          };
    case VisitEventType.GuestRevoked: {
      const guests = { ...state.guests };
      delete guests[e.data.principal];
      return { ...state, guests };
    }
    case VisitEventType.HostGranted: {
      const hosts = hostsOf(state);
      return hosts.includes(e.data.principal) ? state : { ...state, hosts: [...hosts, e.data.principal] };
    }
    case VisitEventType.HostRevoked:
      return { ...state, hosts: hostsOf(state).filter((h) => h !== e.data.principal) };
  }
}

/** Folds a consent or recording event into an open or ended visit. */
function evolveRecording(
  state: Extract<VisitState, { status: 'open' | 'ended' }>,
  e:
    | ConsentRecorded
    | RecordingRequested
    | RecordingStarted
    | RecordingStopped
    | RecordingNoticeAcknowledged
    | RecordingRequestEnded,
): VisitState {
  switch (e.type) {
    case VisitEventType.ConsentRecorded: {
      const consents = { ...state.consents, [e.data.participantId]: e.data.granted };
      const role = state.participants[e.data.participantId]?.role;
      const patient = role === undefined || role === ParticipantRole.Patient;
      const next = { ...state, consents, ...(patient ? { recordingConsent: e.data.granted } : {}) };
      // A refusal by someone present ends a pending request: the clinician asks again.
      const present = state.participants[e.data.participantId]?.status === ParticipantStatus.Admitted;
      return !e.data.granted && present ? clear(next, 'recordingRequest') : next;
    }
    case VisitEventType.RecordingRequested:
      return { ...state, recordingRequest: { requestedBy: e.data.requestedBy, policy: e.data.policy } };
    case VisitEventType.RecordingStarted:
      return {
        ...clear(state, 'recordingRequest'),
        recording: { recordingId: e.data.recordingId, startTime: e.data.startTime },
      };
    case VisitEventType.RecordingStopped:
      return clear(state, 'recording', 'recordingRequest');
    case VisitEventType.RecordingRequestEnded:
      return clear(state, 'recordingRequest');
    case VisitEventType.RecordingNoticeAcknowledged:
      return state;
  }
}

/** The visit ends: everyone still there has left, a recording in progress is over. */
function evolveEnded(
  state: Extract<VisitState, { status: 'open' | 'ended' }>,
  e: VisitEnded,
  when: string | undefined,
): VisitState {
  const participants: Record<string, Participant> = {};
  for (const p of Object.values(state.participants)) {
    const gone = p.status === ParticipantStatus.Waiting || p.status === ParticipantStatus.Admitted;
    participants[p.participantId] = gone
      ? {
          ...without(p, 'admission', 'feeds'),
          status: ParticipantStatus.Left,
          ...(when ? { leftAt: when } : {}),
        }
      : without(p, 'feeds');
  }
  return {
    ...clear(state, 'recording', 'recordingRequest'),
    status: 'ended',
    participants,
    endReason: e.data.reason,
    ...(when ? { endedAt: when } : {}),
  };
}
