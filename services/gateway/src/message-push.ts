/**
 * Live push of secure messages (scheduling's message threads) on the browser's live channel: when a message is
 * posted in a thread, read (a read receipt), opened or closed, every open page of a member of that thread gets a
 * `messages` message with the thread's id and counts, never text. The page then reads the thread itself, so each
 * read of the text stays one PhiAccessed in scheduling.
 *
 * Who is a member is scheduling's decision, not the gateway's: for each caller with an open socket who could be
 * one (the thread's patient, clinicians, the front desk), the hub lists that caller's threads with the caller's
 * own token (ListMessageThreads: ids and counts, no PHI, no PhiAccessed) and pushes only when the thread is
 * among them. Bursts of events in one thread are coalesced into one round of reads.
 */
import type { EventEnvelope } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import type { Logger, Principal } from '@haven/service';
import type { GatewayClients } from './context';
import type { MessagesLive } from './live-view';

const PREFIX = 'haven.scheduling.v1.';
/** The thread events a page wants to hear about, and what the push calls them. */
const PUSHED: Readonly<Record<string, string>> = {
  MessageThreadOpened: 'opened',
  SecureMessagePosted: 'posted',
  SecureMessagesRead: 'read',
  MessageThreadClosed: 'closed',
};
const STAFF_ROLES = new Set(['clinician', 'front_desk']);

/** A socket as the push sees it. */
export interface PushSocket {
  readonly token: string;
  readonly principal: Principal;
  send(message: MessagesLive): void;
}

/** Options of {@link MessagePush}. */
export interface MessagePushOptions {
  readonly clients: Pick<GatewayClients, 'scheduling'>;
  readonly logger: Logger;
  readonly deadlineMs: number;
  /** The open sockets. */
  readonly sockets: () => Iterable<PushSocket>;
  /** Events that occurred before this (a replay) push nothing. */
  readonly since: number;
  /** Coalescing delay. Default 30 ms. */
  readonly delayMs?: number;
}

/** The `messages` push of the live channel. */
export class MessagePush {
  /** threadId → patientId, learned from events and reads: narrows whose sockets are asked. */
  private readonly patients = new Map<string, string>();
  private readonly pending = new Map<string, { timer: NodeJS.Timeout; kinds: Set<string> }>();

  constructor(private readonly options: MessagePushOptions) {}

  /** True when `event` is a scheduling event (handled here, pushed when it is a thread event). Throws nothing. */
  event(event: EventEnvelope): boolean {
    if (!event.type.startsWith(PREFIX)) return false;
    const name = event.type.slice(PREFIX.length);
    const kind = PUSHED[name];
    const threadId = typeof event.data['threadId'] === 'string' ? event.data['threadId'] : undefined;
    if (!kind || !threadId) return true;
    const patientId = patientOf(name, event.data);
    if (patientId && this.patients.size < 100_000) this.patients.set(threadId, patientId);
    if (Date.parse(event.occurredAt) < this.options.since - 5000) return true;
    const pending = this.pending.get(threadId);
    if (pending) {
      pending.kinds.add(kind);
      return true;
    }
    const timer = setTimeout(() => {
      const kinds = this.pending.get(threadId)?.kinds ?? new Set([kind]);
      this.pending.delete(threadId);
      void this.push(threadId, kinds).catch((err: unknown) =>
        this.options.logger.warn({ err, threadId }, 'message push failed'),
      );
    }, this.options.delayMs ?? 30);
    timer.unref();
    this.pending.set(threadId, { timer, kinds: new Set([kind]) });
    return true;
  }

  /** Cancels pushes not sent yet. */
  close(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  private async push(threadId: string, kinds: ReadonlySet<string>): Promise<void> {
    const patientId = this.patients.get(threadId);
    // One read per caller (kind and id), with one of their own tokens.
    const callers = new Map<string, PushSocket[]>();
    for (const s of this.options.sockets()) {
      const p = s.principal;
      const candidate =
        p.kind === 'patient'
          ? patientId === undefined || p.id === patientId
          : p.kind === 'user' && STAFF_ROLES.has(p.role ?? '');
      if (!candidate) continue;
      const key = `${p.kind}:${p.id}`;
      callers.set(key, [...(callers.get(key) ?? []), s]);
    }
    const name = `messageThreads/${threadId}`;
    await Promise.all(
      [...callers.values()].map(async (sockets) => {
        const first = sockets[0];
        if (!first) return;
        const thread = await this.threadFor(first, name, patientId);
        if (!thread) return;
        const owner = thread.patient.split('/').at(-1);
        if (owner) this.patients.set(threadId, owner);
        const message: MessagesLive = {
          type: 'messages',
          threadId,
          events: [...kinds],
          messageCount: thread.messageCount,
          unreadCount: thread.unreadCount,
          open: thread.state === scheduling.MessageThreadState.MESSAGE_THREAD_STATE_OPEN,
        };
        for (const s of sockets) s.send(message);
      }),
    );
  }

  /** The thread as `socket`'s caller lists it, or undefined when it is not theirs (or the read failed). */
  private async threadFor(
    socket: PushSocket,
    name: string,
    patientId: string | undefined,
  ): Promise<scheduling.MessageThread | undefined> {
    try {
      const r = await callUnary(
        this.options.clients.scheduling,
        'listMessageThreads',
        scheduling.ListMessageThreadsRequest.fromPartial({
          patient: patientId && socket.principal.kind !== 'patient' ? `patients/${patientId}` : '',
          pageSize: 200,
        }),
        clientCallMetadata({ token: socket.token }),
        { deadlineMs: this.options.deadlineMs },
      );
      return r.threads.find((t) => t.name === name);
    } catch {
      return undefined; // expired, refused or the service is down: nothing to push
    }
  }
}

/** The thread's patient when the event names it (the opening, or the patient as author or reader). */
function patientOf(name: string, data: Readonly<Record<string, unknown>>): string | undefined {
  if (name === 'MessageThreadOpened') {
    return typeof data['patientId'] === 'string' ? data['patientId'] : undefined;
  }
  const party = (name === 'SecureMessagePosted' ? data['author'] : data['reader']) as
    { kind?: unknown; id?: unknown } | undefined;
  return party?.kind === 'patient' && typeof party.id === 'string' ? party.id : undefined;
}
