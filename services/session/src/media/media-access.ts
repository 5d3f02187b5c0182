/**
 * Media credentials: issued by JoinMedia for one admission, checked by the media proxy on EVERY request against
 * the visit as it is now (the projection, or the visit's stream when the projection has not caught up with a
 * credential issued a moment ago) and against identity's revocations. A kicked, departed or re-admitted
 * participant's credential is dead at once; so is one whose identity session was signed out or idled out, and
 * every credential of an ended visit.
 */
import type { Principal } from '@haven/service';
import { roomCredentials } from '../visit/open-visit';
import {
  issueMediaCredential,
  mediaCredentialMatches,
  readMediaCredential,
  roomToken,
  serverDisplay,
  type MediaCredentialClaims,
} from '../visit/room-access';
import { FEED_LIMIT, ParticipantStatus, type ParticipantRole, type VisitState } from '../visit/visit';
import type { Injected } from './media-policy';

/** WebSocket close codes the proxy ends a participant's connection with. */
export const MediaClose = {
  /** Identity session revoked (sign-out, idle logoff, deactivation…). */
  SignedOut: 4401,
  /** Removed from the visit (kicked, left, denied, re-admitted with a new credential). */
  Removed: 4403,
  /** The credential expired. */
  Expired: 4408,
  /** The visit ended. */
  Ended: 4410,
  /** A protocol violation (a second credential on one connection, too many messages). */
  Violation: 4400,
  TooManyMessages: 4429,
  /** Janus went away. */
  UpstreamGone: 1011,
} as const;

/** The participant a live credential admits. */
export interface Admitted {
  readonly claims: MediaCredentialClaims;
  readonly visitId: string;
  readonly participantId: string;
  readonly role: ParticipantRole;
  readonly admission: string;
  readonly janusNode: string;
  /** What the proxy injects into this participant's joins. */
  readonly inject: Injected;
  /** Publisher feeds this participant may have at once. */
  readonly feedLimit: number;
}

/** The outcome of a credential check. */
export type CredentialCheck =
  | ({ readonly ok: true } & Admitted)
  | {
      readonly ok: false;
      readonly reason: string;
      readonly close: number;
      readonly claims?: MediaCredentialClaims;
    };

/** Dependencies of {@link MediaAccess}. */
export interface MediaAccessDeps {
  readonly roomKey: string;
  /** The visit as the projection has it (fast, may lag a few ms behind the store). */
  readonly projected: (visitId: string) => VisitState | undefined;
  /** The visit loaded from its stream (authoritative). */
  readonly load: (visitId: string) => Promise<VisitState>;
  /** Identity's revocations (sign-out, idle logoff…). */
  readonly isRevoked: (principal: Principal, token: { issuedAtSec: number }) => boolean;
  readonly clock?: () => Date;
}

/** Issues and checks media credentials. */
export class MediaAccess {
  private readonly clock: () => Date;

  constructor(private readonly deps: MediaAccessDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** A credential for this admission of a participant, valid until `expireTime` at the latest. */
  issue(o: {
    visitId: string;
    participantId: string;
    admission: string;
    caller: { kind: string; id: string; sessionId?: string };
    expireTime: Date;
  }): string {
    return issueMediaCredential(
      this.deps.roomKey,
      {
        v: 1,
        visit: o.visitId,
        pid: o.participantId,
        kind: o.caller.kind,
        sub: o.caller.id,
        ...(o.caller.sessionId !== undefined ? { sid: o.caller.sessionId } : {}),
        iat: Math.floor(this.clock().getTime() / 1000),
        exp: Math.floor(o.expireTime.getTime() / 1000),
      },
      o.admission,
    );
  }

  /** Checks a credential against the visit now. Never throws (a store failure is a refusal). */
  async check(token: unknown): Promise<CredentialCheck> {
    const claims = readMediaCredential(token);
    if (!claims || typeof token !== 'string') {
      return { ok: false, reason: 'not a media credential', close: MediaClose.Removed };
    }
    const now = this.clock().getTime();
    if (claims.exp * 1000 <= now)
      return { ok: false, reason: 'credential expired', close: MediaClose.Expired, claims };
    const principal: Principal = {
      kind: claims.kind as Principal['kind'],
      id: claims.sub,
      scopes: [],
      ...(claims.sid !== undefined ? { sessionId: claims.sid } : {}),
    };
    if (this.deps.isRevoked(principal, { issuedAtSec: claims.iat })) {
      return { ok: false, reason: 'identity session revoked', close: MediaClose.SignedOut, claims };
    }
    let verdict = this.judge(token, claims, this.deps.projected(claims.visit));
    // Just issued: the projection may not have the admission yet. Older credentials are judged on it alone.
    if (!verdict.ok && claims.iat * 1000 >= now - 30_000) {
      try {
        verdict = this.judge(token, claims, await this.deps.load(claims.visit));
      } catch {
        return { ok: false, reason: 'visit unavailable', close: MediaClose.UpstreamGone, claims };
      }
    }
    return verdict;
  }

  /** The verdict of a credential against a visit state. */
  judge(token: string, claims: MediaCredentialClaims, state: VisitState | undefined): CredentialCheck {
    if (!state || state.status === 'none') {
      return { ok: false, reason: 'no such visit', close: MediaClose.Removed, claims };
    }
    if (state.status === 'ended')
      return { ok: false, reason: 'visit ended', close: MediaClose.Ended, claims };
    const p = state.participants[claims.pid];
    if (!p || p.status !== ParticipantStatus.Admitted || p.admission === undefined) {
      return {
        ok: false,
        reason: `participant is ${p?.status ?? 'unknown'}`,
        close: MediaClose.Removed,
        claims,
      };
    }
    if (!mediaCredentialMatches(this.deps.roomKey, token, p.admission)) {
      return { ok: false, reason: 'not the current admission', close: MediaClose.Removed, claims };
    }
    const { pin } = roomCredentials(this.deps.roomKey, state.visitId);
    return {
      ok: true,
      claims,
      visitId: state.visitId,
      participantId: p.participantId,
      role: p.role,
      admission: p.admission,
      janusNode: state.janusNode,
      feedLimit: FEED_LIMIT[p.role],
      inject: {
        room: state.room,
        pin,
        token: roomToken(this.deps.roomKey, state.visitId, p.participantId, p.admission),
        display: serverDisplay(this.deps.roomKey, state.visitId, p.participantId, p.admission),
      },
    };
  }
}
