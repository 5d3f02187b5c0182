/**
 * The MessageThread decider: who may open, write in, read and close a thread. The patient of the thread, and on
 * the care team's side the thread's clinician (care) or the front desk (scheduling; any clinician of the clinic
 * may answer too), an admin never (messages are PHI, not administration). A message is 1–4 000 characters of
 * text (rendered as text, never as HTML); its text is validated here and sealed by the handler, never in events.
 * Pure: ids and times are passed in.
 */
import {
  AlreadyExistsError,
  PermissionError,
  PreconditionError,
  ResourceExhaustedError,
  ValidationError,
} from '@haven/errors';
import {
  MessageThreadEventType,
  ThreadTopic,
  unreadFor,
  type MessageThreadEvent,
  type MessageThreadState,
  type ThreadParty,
} from './thread';

/** Longest message, in characters. */
export const MAX_MESSAGE_LENGTH = 4_000;

/** At most `count` messages by one author in one thread within `windowMs`. */
export const MESSAGE_RATE = { count: 10, windowMs: 60_000 } as const;

export type MessageThreadCommand =
  | {
      readonly type: 'OpenThread';
      readonly data: {
        readonly threadId: string;
        readonly patientId: string;
        readonly topic: ThreadTopic;
        readonly clinicianId?: string;
        readonly by: ThreadParty;
        readonly now: Date;
      };
    }
  | {
      readonly type: 'PostMessage';
      readonly data: {
        readonly messageId: string;
        readonly text: string;
        readonly by: ThreadParty;
        readonly now: Date;
      };
    }
  | { readonly type: 'MarkRead'; readonly data: { readonly by: ThreadParty; readonly now: Date } }
  | { readonly type: 'CloseThread'; readonly data: { readonly by: ThreadParty; readonly now: Date } };

type Thread = Exclude<MessageThreadState, { status: 'none' }>;

/** True when `party` belongs to the thread (the patient, or the care team of its topic). */
export function isMember(
  thread: Pick<Thread, 'patientId' | 'topic' | 'clinicianId'>,
  party: ThreadParty,
): boolean {
  if (party.kind === 'patient') return party.id === thread.patientId;
  if (party.role === 'clinician')
    return thread.topic === ThreadTopic.Scheduling || party.id === thread.clinicianId;
  return party.role === 'front_desk' && thread.topic === ThreadTopic.Scheduling;
}

/** The problems of a message's text (empty when it is fine); the text itself is never echoed. */
export function textViolations(text: string): { field: string; description: string }[] {
  if (text.trim() === '') return [{ field: 'message.text', description: 'is required' }];
  if ([...text].length > MAX_MESSAGE_LENGTH)
    return [{ field: 'message.text', description: `must be at most ${MAX_MESSAGE_LENGTH} characters` }];
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text))
    return [{ field: 'message.text', description: 'must not contain control characters' }];
  return [];
}

/**
 * Decides a thread command. Throws ValidationError (text, topic without clinician), PermissionError (not a
 * member), AlreadyExistsError (opened twice), PreconditionError (no such thread, closed), ResourceExhaustedError
 * (posting faster than {@link MESSAGE_RATE}).
 */
export function decideMessageThread(
  command: MessageThreadCommand,
  state: MessageThreadState,
): MessageThreadEvent[] {
  if (command.type === 'OpenThread') {
    if (state.status !== 'none') throw new AlreadyExistsError('the thread already exists');
    const { threadId, patientId, topic, clinicianId, by, now } = command.data;
    if (topic === ThreadTopic.Care && !clinicianId) {
      throw new ValidationError([
        { field: 'thread.clinician', description: 'is required for a care thread' },
      ]);
    }
    if (!isMember({ patientId, topic, ...(clinicianId ? { clinicianId } : {}) }, by)) {
      throw new PermissionError('only the patient or their care team may open this thread');
    }
    return [
      {
        type: MessageThreadEventType.Opened,
        data: {
          threadId,
          patientId,
          topic,
          ...(clinicianId ? { clinicianId } : {}),
          openedBy: by,
          openedAt: now.toISOString(),
        },
      },
    ];
  }
  if (state.status === 'none') throw new PreconditionError('no such thread');
  const { by, now } = command.data;
  if (!isMember(state, by)) throw new PermissionError('not a member of this thread');
  switch (command.type) {
    case 'PostMessage': {
      if (state.status === 'closed') throw new PreconditionError('the thread is closed');
      const violations = textViolations(command.data.text);
      if (violations.length > 0) throw new ValidationError(violations);
      if (state.messages.some((m) => m.messageId === command.data.messageId)) return [];
      const recent = state.messages.filter(
        (m) =>
          m.side === by.kind &&
          m.authorId === by.id &&
          now.getTime() - Date.parse(m.postedAt) < MESSAGE_RATE.windowMs,
      );
      if (recent.length >= MESSAGE_RATE.count) {
        throw new ResourceExhaustedError(
          `at most ${MESSAGE_RATE.count} messages per ${MESSAGE_RATE.windowMs / 1000} s`,
          { retryAfterMs: Date.parse(recent[0]!.postedAt) + MESSAGE_RATE.windowMs - now.getTime() },
        );
      }
      return [
        {
          type: MessageThreadEventType.Posted,
          data: {
            threadId: state.threadId,
            messageId: command.data.messageId,
            author: by,
            postedAt: now.toISOString(),
          },
        },
      ];
    }
    case 'MarkRead': {
      const unread = unreadFor(state, by.kind);
      const last = unread.at(-1);
      if (!last) return [];
      return [
        {
          type: MessageThreadEventType.Read,
          data: { threadId: state.threadId, upTo: last.messageId, reader: by, readAt: now.toISOString() },
        },
      ];
    }
    case 'CloseThread':
      if (by.kind !== 'staff') throw new PermissionError('only the care team closes a thread');
      if (state.status === 'closed') return [];
      return [
        {
          type: MessageThreadEventType.Closed,
          data: { threadId: state.threadId, closedBy: by, closedAt: now.toISOString() },
        },
      ];
  }
}
