/**
 * The in-memory index of message threads for ListMessageThreads: folded from the scheduling feed (the read
 * model's follower) and from this replica's own commands (read-your-writes). Ids, topics, counts and times
 * only: message text never reaches it. Decisions never use it: they load the thread's stream.
 */
import {
  evolveMessageThread,
  initialMessageThreadState,
  messageThreadStreamPrefix,
  type MessageThreadState,
} from './thread';

/** A thread as the index knows it. */
export type IndexedThread = Exclude<MessageThreadState, { status: 'none' }> & {
  readonly revision: number;
  readonly createTime: string;
  /** The last message's time, or the opening time. */
  readonly updateTime: string;
};

/** The index. */
export class MessageThreadIndex {
  readonly #threads = new Map<string, IndexedThread>();

  /** Folds one stored event of a thread stream; other streams and out-of-order revisions are ignored. */
  apply(event: {
    readonly stream: string;
    readonly revision: bigint | number;
    readonly type: string;
    readonly data: unknown;
  }): void {
    if (!event.stream.startsWith(messageThreadStreamPrefix)) return;
    const id = event.stream.slice(messageThreadStreamPrefix.length);
    const current = this.#threads.get(id);
    const revision = Number(event.revision);
    if (revision !== (current?.revision ?? -1) + 1) return;
    const next = evolveMessageThread(current ?? initialMessageThreadState, event);
    if (next.status === 'none') return;
    const openedAt = (event.data as { openedAt?: unknown }).openedAt;
    const createTime = current?.createTime ?? (typeof openedAt === 'string' ? openedAt : '');
    this.#threads.set(id, indexed(next, revision, createTime));
  }

  /** Records the state a handler of this replica just produced, when newer than what is known. */
  put(state: IndexedThread): void {
    const current = this.#threads.get(state.threadId);
    if (!current || state.revision > current.revision) this.#threads.set(state.threadId, state);
  }

  /** Every thread `include` accepts, newest activity first. */
  list(include: (thread: IndexedThread) => boolean): IndexedThread[] {
    return [...this.#threads.values()]
      .filter(include)
      .sort((a, b) => b.updateTime.localeCompare(a.updateTime) || a.threadId.localeCompare(b.threadId));
  }
}

/** A thread state as indexed: its update time is its last message's, or its opening. */
export function indexed(
  state: Exclude<MessageThreadState, { status: 'none' }>,
  revision: number,
  createTime: string,
): IndexedThread {
  return { ...state, revision, createTime, updateTime: state.messages.at(-1)?.postedAt ?? createTime };
}
