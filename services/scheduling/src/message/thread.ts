/**
 * The MessageThread aggregate: secure messages between a patient and their care team outside visits (the
 * clinician for care questions, the front desk for scheduling ones). Pure: no I/O, no Node builtins.
 * Stream: `scheduling.message_thread-<threadId>`. Event data carries ids, roles and times only; the text of a
 * message travels sealed with the patient's key in the envelope's `phi` (shredding the key makes every message
 * unreadable), never in `data`.
 *
 *   MessageThreadOpened → SecureMessagePosted* / SecureMessagesRead* → MessageThreadClosed
 */

export const MessageThreadEventType = {
  Opened: 'haven.scheduling.v1.MessageThreadOpened',
  Posted: 'haven.scheduling.v1.SecureMessagePosted',
  Read: 'haven.scheduling.v1.SecureMessagesRead',
  Closed: 'haven.scheduling.v1.MessageThreadClosed',
} as const;

/** Who a thread is with: the clinician (care questions) or the front desk (scheduling questions). */
export const ThreadTopic = { Care: 'care', Scheduling: 'scheduling' } as const;
export type ThreadTopic = (typeof ThreadTopic)[keyof typeof ThreadTopic];

/** One side of a thread. */
export interface ThreadParty {
  readonly kind: 'patient' | 'staff';
  readonly id: string;
  /** Staff role (`clinician`, `front_desk`, `admin`); absent for the patient. */
  readonly role?: string;
}

export interface MessageThreadOpened {
  readonly type: typeof MessageThreadEventType.Opened;
  readonly data: {
    readonly threadId: string;
    readonly patientId: string;
    readonly topic: ThreadTopic;
    /** The clinician of a care thread. */
    readonly clinicianId?: string;
    readonly openedBy: ThreadParty;
    readonly openedAt: string;
  };
}

export interface SecureMessagePosted {
  readonly type: typeof MessageThreadEventType.Posted;
  readonly data: {
    readonly threadId: string;
    readonly messageId: string;
    readonly author: ThreadParty;
    readonly postedAt: string;
  };
}

export interface SecureMessagesRead {
  readonly type: typeof MessageThreadEventType.Read;
  readonly data: {
    readonly threadId: string;
    /** The reader saw every message of the other side up to and including this one (a read receipt). */
    readonly upTo: string;
    readonly reader: ThreadParty;
    readonly readAt: string;
  };
}

export interface MessageThreadClosed {
  readonly type: typeof MessageThreadEventType.Closed;
  readonly data: { readonly threadId: string; readonly closedBy: ThreadParty; readonly closedAt: string };
}

export type MessageThreadEvent =
  MessageThreadOpened | SecureMessagePosted | SecureMessagesRead | MessageThreadClosed;

/** One message as the thread knows it (its text is in the event's sealed `phi`). */
export interface ThreadMessage {
  readonly messageId: string;
  readonly side: 'patient' | 'staff';
  readonly authorId: string;
  readonly postedAt: string;
}

export type MessageThreadState =
  | { readonly status: 'none' }
  | {
      readonly status: 'open' | 'closed';
      readonly threadId: string;
      readonly patientId: string;
      readonly topic: ThreadTopic;
      readonly clinicianId?: string;
      readonly messages: readonly ThreadMessage[];
      /** Per side, the last message of the other side it has read. */
      readonly readUpTo: { readonly patient?: string; readonly staff?: string };
    };

export const initialMessageThreadState: MessageThreadState = { status: 'none' };

/** The prefix of every thread stream. */
export const messageThreadStreamPrefix = 'scheduling.message_thread-';

export function messageThreadStream(threadId: string): string {
  return `${messageThreadStreamPrefix}${threadId}`;
}

/** Folds one event. Unknown types leave the state unchanged. */
export function evolveMessageThread(
  state: MessageThreadState,
  event: { type: string; data: unknown },
): MessageThreadState {
  const e = event as MessageThreadEvent;
  if (e.type === MessageThreadEventType.Opened) {
    if (state.status !== 'none') return state;
    const { threadId, patientId, topic, clinicianId } = e.data;
    return {
      status: 'open',
      threadId,
      patientId,
      topic,
      ...(clinicianId !== undefined ? { clinicianId } : {}),
      messages: [],
      readUpTo: {},
    };
  }
  if (state.status === 'none') return state;
  switch (e.type) {
    case MessageThreadEventType.Posted:
      return {
        ...state,
        messages: [
          ...state.messages,
          {
            messageId: e.data.messageId,
            side: e.data.author.kind,
            authorId: e.data.author.id,
            postedAt: e.data.postedAt,
          },
        ],
      };
    case MessageThreadEventType.Read:
      return { ...state, readUpTo: { ...state.readUpTo, [e.data.reader.kind]: e.data.upTo } };
    case MessageThreadEventType.Closed:
      return { ...state, status: 'closed' };
    default:
      return state;
  }
}

/** The messages of the other side that `side` has not read yet. */
export function unreadFor(state: MessageThreadState, side: 'patient' | 'staff'): readonly ThreadMessage[] {
  if (state.status === 'none') return [];
  const upTo = state.readUpTo[side];
  const after = upTo === undefined ? 0 : state.messages.findIndex((m) => m.messageId === upTo) + 1;
  return state.messages.slice(after).filter((m) => m.side !== side);
}
