/**
 * The waiting room's note, part of the Visit aggregate: the clinician of the visit posts a canned "running late"
 * (with the delay) or a typed note, and chooses whether the waiting room shows the patient's place in the queue.
 * Pure: no I/O. A typed note's text never reaches the event's `data`: it travels sealed with the patient's data
 * key in the envelope's `phi`.
 */
import { PermissionError, ValidationError, type FieldViolation } from '@haven/errors';
import type { SealedPhi } from '@haven/crypto';

export const LobbyNoticeEventType = {
  Posted: 'haven.session.v1.LobbyNoticePosted',
} as const;

/** What a note says: nothing (cleared), running late, or typed text. */
export const LobbyNoticeKind = { None: 'none', RunningLate: 'running_late', Typed: 'typed' } as const;
export type LobbyNoticeKind = (typeof LobbyNoticeKind)[keyof typeof LobbyNoticeKind];

/** Limits of a note. */
export const LOBBY_NOTICE_LIMITS = { maxChars: 500, maxDelayMinutes: 240 } as const;

export interface LobbyNoticePosted {
  readonly type: typeof LobbyNoticeEventType.Posted;
  readonly data: {
    readonly visitId: string;
    readonly noticeId: string;
    readonly kind: LobbyNoticeKind;
    /** Minutes late / estimated wait; 0 when not given. */
    readonly delayMinutes: number;
    readonly showPosition: boolean;
    readonly postedAt: string;
  };
}

/** The note as the aggregate keeps it (whether it has sealed text; the text stays in the event). */
export interface LobbyNoticeState {
  readonly noticeId: string;
  readonly kind: LobbyNoticeKind;
  readonly delayMinutes: number;
  readonly showPosition: boolean;
  readonly postedAt: string;
}

/** Command: the clinician posts the waiting room's note. `text` is only checked; `phi` is it sealed. */
export interface PostLobbyNotice {
  readonly type: 'PostLobbyNotice';
  readonly data: {
    readonly caller: { readonly kind: string; readonly id: string; readonly role?: string };
    readonly noticeId: string;
    readonly kind: LobbyNoticeKind;
    readonly delayMinutes: number;
    readonly text: string;
    readonly phi?: SealedPhi;
    readonly showPosition: boolean;
    readonly at: string;
  };
}

/** The violations of a note. */
export function lobbyNoticeViolations(data: Pick<PostLobbyNotice['data'], 'kind' | 'delayMinutes' | 'text'>) {
  const v: FieldViolation[] = [];
  const { kind, delayMinutes, text } = data;
  if (
    !Number.isInteger(delayMinutes) ||
    delayMinutes < 0 ||
    delayMinutes > LOBBY_NOTICE_LIMITS.maxDelayMinutes
  ) {
    v.push({ field: 'delay_minutes', description: `must be 0–${LOBBY_NOTICE_LIMITS.maxDelayMinutes}` });
  }
  if (kind === LobbyNoticeKind.RunningLate && delayMinutes < 1) {
    v.push({ field: 'delay_minutes', description: 'is required for a running-late note' });
  }
  if (kind === LobbyNoticeKind.Typed) {
    const chars = [...text].length;
    if (text.trim() === '') v.push({ field: 'text', description: 'is required for a typed note' });
    else if (chars > LOBBY_NOTICE_LIMITS.maxChars) {
      v.push({ field: 'text', description: `must be at most ${LOBBY_NOTICE_LIMITS.maxChars} characters` });
      // eslint-disable-next-line no-control-regex
    } else if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) {
      v.push({ field: 'text', description: 'must not contain control characters' });
    }
  } else if (text !== '') {
    v.push({ field: 'text', description: 'only a typed note has text' });
  }
  return v;
}

/**
 * Decides a note on an open visit (a host clinician posts it). Throws ValidationError, PermissionError (not the
 * visit's clinician).
 */
export function decidePostLobbyNotice(
  visit: { readonly visitId: string; readonly clinicianId: string; readonly hosts?: readonly string[] },
  data: PostLobbyNotice['data'],
): (LobbyNoticePosted & { readonly phi?: SealedPhi })[] {
  const { caller } = data;
  const hosts = visit.hosts ?? [`users/${visit.clinicianId}`];
  if (caller.kind !== 'user' || caller.role !== 'clinician' || !hosts.includes(`users/${caller.id}`)) {
    throw new PermissionError('only the clinician of this visit may post its waiting-room note');
  }
  const violations = lobbyNoticeViolations(data);
  if (violations.length > 0) throw new ValidationError(violations);
  return [
    {
      type: LobbyNoticeEventType.Posted,
      data: {
        visitId: visit.visitId,
        noticeId: data.noticeId,
        kind: data.kind,
        delayMinutes: data.delayMinutes,
        showPosition: data.showPosition,
        postedAt: data.at,
      },
      ...(data.kind === LobbyNoticeKind.Typed && data.phi ? { phi: data.phi } : {}),
    },
  ];
}

/** Folds a posted note: the latest one wins. */
export function evolveLobbyNotice(e: LobbyNoticePosted): LobbyNoticeState {
  const { noticeId, kind, delayMinutes, showPosition, postedAt } = e.data;
  return { noticeId, kind, delayMinutes, showPosition, postedAt };
}
