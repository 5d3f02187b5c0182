/**
 * The visit's chat, part of the Visit aggregate: who may post (members), the limits, the event and how it folds.
 * Pure: no I/O. The text never reaches the event's `data`: it travels sealed with the patient's data key in the
 * envelope's `phi` (the service seals it before deciding; the decider only checks it and passes it on).
 */
import { PermissionError, ResourceExhaustedError, ValidationError } from '@haven/errors';
import type { SealedPhi } from '@haven/crypto';

/** Limits of the chat: text length (characters) and posting rate per participant. */
export const CHAT_LIMITS = {
  maxChars: 2000,
  /** At most `rateCount` messages by one participant within `rateWindowMs`. */
  rateCount: 8,
  rateWindowMs: 10_000,
} as const;

export const ChatEventType = {
  MessagePosted: 'haven.session.v1.ChatMessagePosted',
} as const;

/** A chat member's role: a host clinician, the patient (a device), or a staff guest admitted to the visit. */
export type ChatRole = 'clinician' | 'patient' | 'guest';

/** A member posted a message; its text is in the envelope's sealed `phi` (`{ text }`), never here. */
export interface ChatMessagePosted {
  readonly type: typeof ChatEventType.MessagePosted;
  readonly data: {
    readonly visitId: string;
    readonly participantId: string;
    /** `users/{id}` or `patients/{id}`. */
    readonly principal: string;
    readonly role: ChatRole;
    readonly messageId: string;
    readonly postedAt: string;
  };
}

/** What the aggregate keeps about the chat: a count and, per participant, their latest posting times. */
export interface ChatState {
  readonly count: number;
  readonly recent: Readonly<Record<string, readonly string[]>>;
}

/** The violations of a chat text: empty, too long, or control characters other than line breaks and tabs. */
export function chatTextViolations(text: string): { field: string; description: string }[] {
  if (text.trim().length === 0) return [{ field: 'text', description: 'must not be empty' }];
  const chars = [...text].length;
  if (chars > CHAT_LIMITS.maxChars) {
    return [
      { field: 'text', description: `must be at most ${CHAT_LIMITS.maxChars} characters (was ${chars})` },
    ];
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) {
    return [{ field: 'text', description: 'must not contain control characters' }];
  }
  return [];
}

/** The visit as the chat needs it. */
export interface ChatVisit {
  readonly visitId: string;
  readonly clinicianId: string;
  /** `users/{id}` of the host clinicians; absent: the visit's own clinician alone. */
  readonly hosts?: readonly string[];
  readonly participants: Readonly<
    Record<string, { readonly status: string; readonly principal: string; readonly role: string }>
  >;
  readonly chat?: ChatState;
}

/** The caller as the chat sees it (a subset of the decider's Caller). */
export interface ChatCaller {
  readonly kind: string;
  readonly id: string;
  readonly role?: string;
  readonly visit?: string;
}

/**
 * Whether a caller is a member of the visit's chat: a host clinician, or a patient device of this visit or a
 * staff guest that is admitted now (`participantId` is the caller's participant).
 */
export function chatMember(
  visit: ChatVisit,
  caller: ChatCaller,
  participantId: string,
): ChatRole | undefined {
  const p = visit.participants[participantId];
  if (caller.kind === 'user') {
    const principal = `users/${caller.id}`;
    const hosts = visit.hosts ?? [`users/${visit.clinicianId}`];
    if (caller.role === 'clinician' && hosts.includes(principal)) return 'clinician';
    return p?.status === 'admitted' && p.principal === principal ? 'guest' : undefined;
  }
  if (caller.kind !== 'patient' || caller.visit !== `visits/${visit.visitId}`) return undefined;
  return p?.status === 'admitted' && p.principal === `patients/${caller.id}` ? 'patient' : undefined;
}

/** Throws PermissionError unless the caller is a member of the visit's chat. */
export function requireChatMember(visit: ChatVisit, caller: ChatCaller, participantId: string): ChatRole {
  const role = chatMember(visit, caller, participantId);
  if (!role) throw new PermissionError('only members of this visit may use its chat');
  return role;
}

/** Who posts in the visit's chat, as which participant, under which message id and when (see {@link chatPost}). */
export interface ChatPoster {
  readonly caller: ChatCaller;
  readonly participantId: string;
  readonly messageId: string;
  readonly at: string;
}

/** Command: a member posts a message. `text` is only checked; `phi` is the same text sealed. */
export interface SendChatMessage {
  readonly type: 'SendChatMessage';
  readonly data: ChatPoster & {
    readonly text: string;
    readonly phi: SealedPhi;
  };
}

/**
 * Decides a post on an open visit. Throws ValidationError (text), PermissionError (not a member),
 * ResourceExhaustedError (over the rate limit, with when to retry).
 */
export function decideSendChat(
  visit: ChatVisit,
  data: SendChatMessage['data'],
): (ChatMessagePosted & { readonly phi: SealedPhi })[] {
  const violations = chatTextViolations(data.text);
  if (violations.length > 0) throw new ValidationError(violations);
  return [{ type: ChatEventType.MessagePosted, data: chatPost(visit, data), phi: data.phi }];
}

/**
 * Who posts what, when, in the visit's chat (a message or a file): checks that the caller is a member on that
 * participant and within the rate limit, and returns the fields every chat event starts with.
 */
export function chatPost(visit: ChatVisit, data: ChatPoster): ChatMessagePosted['data'] {
  const role = requireChatMember(visit, data.caller, data.participantId);
  chatRateCheck(visit, data.participantId, data.at);
  const principal = role === 'patient' ? `patients/${data.caller.id}` : `users/${data.caller.id}`;
  return {
    visitId: visit.visitId,
    participantId: data.participantId,
    principal,
    role,
    messageId: data.messageId,
    postedAt: data.at,
  };
}

/** Throws ResourceExhaustedError (with when to retry) when the participant posted too much lately. */
export function chatRateCheck(visit: ChatVisit, participantId: string, at: string): void {
  const now = Date.parse(at);
  const recent = (visit.chat?.recent[participantId] ?? []).filter(
    (t) => now - Date.parse(t) < CHAT_LIMITS.rateWindowMs,
  );
  if (recent.length >= CHAT_LIMITS.rateCount) {
    const oldest = Date.parse(recent[0] ?? at);
    throw new ResourceExhaustedError(
      `at most ${CHAT_LIMITS.rateCount} messages per ${CHAT_LIMITS.rateWindowMs / 1000} s`,
      { retryAfterMs: oldest + CHAT_LIMITS.rateWindowMs - now },
    );
  }
}

/** Folds a posted message: the count, and the sender's posting times within the rate window. */
export function evolveChat(
  chat: ChatState | undefined,
  e: { readonly data: { readonly participantId: string; readonly postedAt: string } },
): ChatState {
  const at = Date.parse(e.data.postedAt);
  const before = chat?.recent[e.data.participantId] ?? [];
  const kept = before.filter((t) => at - Date.parse(t) < CHAT_LIMITS.rateWindowMs);
  return {
    count: (chat?.count ?? 0) + 1,
    recent: { ...(chat?.recent ?? {}), [e.data.participantId]: [...kept, e.data.postedAt] },
  };
}
