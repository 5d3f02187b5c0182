/**
 * The waiting room's note with its I/O: a typed note is sealed with the patient's data key before the decider sees
 * it; reading one back appends PhiAccessed first (stream `session.chat_access-<visitId>`, with the chat's reads).
 * The patient's place in the queue comes from the projection: the waiting patients of the clinician's open
 * visits, by arrival.
 */
import { randomUUID } from 'node:crypto';
import { openPhi, sealPhi, unlessErased, type PatientKeyStore, type SealedPhi } from '@haven/crypto';
import { PermissionError, UnavailableError } from '@haven/errors';
import type { EventStore } from '@haven/eventstore';
import type { CallContext, CommandMetadata, Principal } from '@haven/service';
import { PLACEHOLDER_PHI, chatAccessStream, recordPhiRead } from './chat-service';
import { decide, visitAccess, type Caller } from './decide';
import { LobbyNoticeEventType, LobbyNoticeKind, type PostLobbyNotice } from './lobby-notice';
import { visitStream } from './open-visit';
import type { VisitProjection } from './projection';
import { participantIdOf } from './room-access';
import { ParticipantStatus, type VisitState } from './visit';
import type { VisitService } from './visit-service';

/** A note as the handlers answer it. */
export interface LobbyNoticeView {
  readonly kind: LobbyNoticeKind;
  readonly delayMinutes: number;
  readonly text: string;
  readonly showPosition: boolean;
  /** The caller's place in the clinician's queue (1: next), when shown; 0 otherwise. */
  readonly position: number;
  readonly postedAt?: string;
}

/** Dependencies of {@link LobbyNoticeService}. */
export interface LobbyNoticeServiceDeps {
  readonly store: EventStore;
  readonly visits: VisitService;
  readonly projection: VisitProjection;
  readonly keys: PatientKeyStore | undefined;
  readonly clock?: () => Date;
}

const NONE: LobbyNoticeView = {
  kind: LobbyNoticeKind.None,
  delayMinutes: 0,
  text: '',
  showPosition: false,
  position: 0,
};

/** Posts and reads a visit's waiting-room note. */
export class LobbyNoticeService {
  private readonly clock: () => Date;

  constructor(private readonly deps: LobbyNoticeServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /**
   * Posts the note (the visit's clinician). Throws what the decider throws (ValidationError, PermissionError,
   * PreconditionError, NotFoundError) before anything is sealed, UnavailableError without a key store for a
   * typed note.
   */
  async post(
    visitId: string,
    caller: Caller,
    note: { kind: LobbyNoticeKind; delayMinutes: number; text: string; showPosition: boolean },
    metadata: CommandMetadata,
  ): Promise<LobbyNoticeView> {
    const at = this.clock().toISOString();
    const noticeId = randomUUID();
    const command = (phi: SealedPhi | undefined): PostLobbyNotice => ({
      type: 'PostLobbyNotice',
      data: { caller, noticeId, ...note, at, ...(phi ? { phi } : {}) },
    });
    const { state } = await this.deps.visits.load(visitId);
    decide(command(note.kind === LobbyNoticeKind.Typed ? PLACEHOLDER_PHI : undefined), state);
    let phi: SealedPhi | undefined;
    if (note.kind === LobbyNoticeKind.Typed) {
      if (!this.deps.keys) throw new UnavailableError('a typed note needs HAVEN_DATA_DIR (the key store)');
      const live = state as Extract<VisitState, { status: 'open' }>;
      const keys = this.deps.keys;
      phi = await unlessErased(() => sealPhi(keys, live.patientId, { text: note.text }));
    }
    await this.deps.visits.command(visitId, command(phi), metadata);
    return { ...note, position: 0, postedAt: at };
  }

  /**
   * The note for the visit's patient (any of their devices) or clinician, with the caller's place in the queue
   * when shown. Throws NotFoundError, PermissionError (anyone else), UnavailableError (a typed note cannot be
   * opened or its read recorded).
   */
  async get(
    visitId: string,
    principal: Principal,
    caller: Caller,
    ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>,
  ): Promise<LobbyNoticeView> {
    const { state } = await this.deps.visits.loadExisting(visitId);
    if (visitAccess(state, caller) === 'none') throw new PermissionError('not allowed to see this visit');
    const notice = state.lobbyNotice;
    if (!notice || notice.kind === LobbyNoticeKind.None) return NONE;
    let text = '';
    if (notice.kind === LobbyNoticeKind.Typed) {
      if (!this.deps.keys) throw new UnavailableError('the note cannot be opened without the key store');
      const events = await this.deps.store.read(visitStream(visitId));
      const posted = events.find(
        (e) => e.type === LobbyNoticeEventType.Posted && e.data['noticeId'] === notice.noticeId,
      );
      if (posted?.phi) {
        await recordPhiRead(this.deps.store, this.clock, {
          patientId: state.patientId,
          what: `visits/${visitId}/lobbyNotice`,
          stream: chatAccessStream(visitId),
          principal,
          ctx,
        });
        const keys = this.deps.keys;
        const sealed = posted.phi;
        const opened = (await unlessErased(() => openPhi(keys, sealed)))['text'];
        text = typeof opened === 'string' ? opened : '';
      }
    }
    return {
      kind: notice.kind,
      delayMinutes: notice.delayMinutes,
      text,
      showPosition: notice.showPosition,
      position: notice.showPosition
        ? this.positionOf(state.clinicianId, visitId, participantIdOf(caller))
        : 0,
      postedAt: notice.postedAt,
    };
  }

  /** The participant's place among the waiting patients of the clinician's open visits (1: next); 0 if not waiting. */
  private positionOf(clinicianId: string, visitId: string, participantId: string): number {
    const waiting: { visitId: string; participantId: string; since: string }[] = [];
    for (const v of this.deps.projection.all()) {
      if (v.status !== 'open' || v.clinicianId !== clinicianId) continue;
      for (const p of Object.values(v.participants)) {
        if (p.status === ParticipantStatus.Waiting) {
          waiting.push({ visitId: v.visitId, participantId: p.participantId, since: p.arrivedAt ?? '' });
        }
      }
    }
    waiting.sort((a, b) => a.since.localeCompare(b.since));
    const i = waiting.findIndex((w) => w.visitId === visitId && w.participantId === participantId);
    return i + 1;
  }
}
