/**
 * The visit chat on the live channel (`/api/ws`). A page sends
 *
 *   { type: 'chat-open', visitId }            → { type: 'chat', visitId, messages: [...] } (the history)
 *   { type: 'chat-send', visitId, text, ref } → { type: 'chat-sent', ref, message } or
 *                                               { type: 'chat-error', ref, code, reason, retryAfterMs? }
 *
 * (a patient's socket is bound to its token's visit; `visitId` is ignored there). Every call is made with the
 * socket's own token, so membership, limits and auditing are the session service's: a non-member's open or send
 * is refused there and recorded as AccessRefused. When a ChatMessagePosted event arrives on the bus, each socket
 * that opened that visit's chat reads what it has not seen yet (again with its own token: each read is a
 * PhiAccessed) and gets `{ type: 'chat', visitId, messages }`. The text is never logged here.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { session } from '@haven/proto';
import { callUnary, clientCallMetadata, parseStatusDetails } from '@haven/service';
import type { Logger } from '@haven/service';
import type { ChatMessageView } from './chat-view';
import type { ChatReplyLive } from './live-view';
import type { GatewayClients } from './context';
import { PATH_ID } from './http';

/** A socket as the chat sees it. */
export interface ChatSocket {
  readonly token: string;
  readonly kind: 'staff' | 'patient';
  /** A patient socket's visit (from its token). */
  readonly visitId: string | undefined;
  send(message: ChatReplyLive): void;
}

/** A chat message as pages get it. */
export function chatMessageView(m: session.ChatMessage): ChatMessageView {
  const [, visitId = '', , id = ''] = m.name.split('/');
  return {
    ...(m.file
      ? {
          file: {
            id: m.file.name.split('/').at(-1) ?? '',
            name: m.file.fileName,
            mediaType: m.file.mediaType,
            sizeBytes: Number(m.file.sizeBytes),
          },
        }
      : {}),
    id,
    visitId,
    sender: m.sender.split('/').at(-1) ?? '',
    senderRole:
      m.senderRole === session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN
        ? 'clinician'
        : m.senderRole === session.ParticipantRole.PARTICIPANT_ROLE_GUEST
          ? 'guest'
          : 'patient',
    text: m.text,
    at: m.createTime ? m.createTime.toISOString() : '',
    mine: m.fromCaller,
  };
}

/** Answers a page's chat call with an error, echoing the call's `ref` when it had one. */
function sendChatError(
  socket: ChatSocket,
  ref: string | undefined,
  error: { readonly code: string; readonly reason: string; readonly retryAfterMs?: number },
): void {
  socket.send({ type: 'chat-error', ...(ref ? { ref } : {}), ...error });
}

/** The page's word for a refused chat call. */
function errorCode(code: number | undefined): string {
  switch (code) {
    case status.INVALID_ARGUMENT:
      return 'invalid';
    case status.PERMISSION_DENIED:
    case status.UNAUTHENTICATED:
      return 'forbidden';
    case status.RESOURCE_EXHAUSTED:
      return 'rate-limited';
    case status.FAILED_PRECONDITION:
      return 'ended';
    case status.NOT_FOUND:
      return 'not-found';
    default:
      return 'unavailable';
  }
}

/** The chat side of the WebSocket hub. */
export class ChatRelay {
  /** socket → visit id → the last message it got (a message id), or '' before any. */
  private readonly open = new Map<ChatSocket, Map<string, string>>();
  /** socket+visit → the delivery in flight (one at a time, so nothing is sent twice). */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly keys = new WeakMap<ChatSocket, number>();
  private nextKey = 1;

  constructor(private readonly options: { clients: GatewayClients; logger: Logger; deadlineMs: number }) {}

  /** Handles a chat message from a page; false when it is not one. Throws nothing. */
  handle(socket: ChatSocket, message: Record<string, unknown>): boolean {
    const type = message['type'];
    if (type !== 'chat-open' && type !== 'chat-send') return false;
    const wanted = typeof message['visitId'] === 'string' ? message['visitId'] : '';
    const visitId = socket.kind === 'patient' ? socket.visitId : PATH_ID.test(wanted) ? wanted : undefined;
    const ref =
      typeof message['ref'] === 'string' && PATH_ID.test(message['ref']) ? message['ref'] : undefined;
    if (!visitId) {
      sendChatError(socket, ref, { code: 'invalid', reason: 'visitId is required' });
      return true;
    }
    if (type === 'chat-open') {
      const seen = this.open.get(socket) ?? new Map<string, string>();
      this.open.set(socket, seen);
      if (!seen.has(visitId)) seen.set(visitId, '');
      this.deliver(socket, visitId);
    } else {
      const text = typeof message['text'] === 'string' ? message['text'] : '';
      void this.send(socket, visitId, text, ref);
    }
    return true;
  }

  /** A session event from the bus: a posted message is read by every socket that opened that visit's chat. */
  event(name: string, visitId: string): void {
    if (name !== 'ChatMessagePosted' && name !== 'ChatFileShared') return;
    for (const [socket, visits] of this.open) if (visits.has(visitId)) this.deliver(socket, visitId);
  }

  /** The socket closed. */
  forget(socket: ChatSocket): void {
    this.open.delete(socket);
  }

  private async send(
    socket: ChatSocket,
    visitId: string,
    text: string,
    ref: string | undefined,
  ): Promise<void> {
    const client = this.options.clients.session;
    if (!client) {
      sendChatError(socket, ref, { code: 'unavailable', reason: 'no session service' });
      return;
    }
    try {
      const r = await callUnary(
        client,
        'sendChatMessage',
        { visit: `visits/${visitId}`, text },
        clientCallMetadata({ token: socket.token }),
        { deadlineMs: this.options.deadlineMs },
      );
      socket.send({
        type: 'chat-sent',
        ...(ref ? { ref } : {}),
        message: r.message ? chatMessageView(r.message) : null,
      });
    } catch (error) {
      const err = error as ServiceError;
      const d = typeof err.code === 'number' ? parseStatusDetails(err) : undefined;
      const code = errorCode(d?.code);
      sendChatError(socket, ref, {
        code,
        // Field violations say what to fix (length, empty); other reasons stay generic.
        reason:
          code === 'invalid' && d && d.fieldViolations.length > 0
            ? d.fieldViolations.map((v) => v.description).join('; ')
            : code,
        ...(d?.retryDelayMs !== undefined ? { retryAfterMs: d.retryDelayMs } : {}),
      });
    }
  }

  /** Reads what the socket has not seen of the visit's chat and sends it; one read at a time per socket+visit. */
  private deliver(socket: ChatSocket, visitId: string): void {
    let key = this.keys.get(socket);
    if (key === undefined) {
      key = this.nextKey++;
      this.keys.set(socket, key);
    }
    const chainKey = `${key}:${visitId}`;
    const before = this.chains.get(chainKey) ?? Promise.resolve();
    const run = before.then(() => this.read(socket, visitId));
    this.chains.set(chainKey, run);
    void run.finally(() => {
      if (this.chains.get(chainKey) === run) this.chains.delete(chainKey);
    });
  }

  private async read(socket: ChatSocket, visitId: string): Promise<void> {
    const seen = this.open.get(socket);
    const client = this.options.clients.session;
    if (!seen?.has(visitId) || !client) return;
    const after = seen.get(visitId) ?? '';
    try {
      const r = await callUnary(
        client,
        'listChatMessages',
        {
          visit: `visits/${visitId}`,
          after: after ? `visits/${visitId}/messages/${after}` : '',
          pageSize: 0,
        },
        clientCallMetadata({ token: socket.token }),
        { deadlineMs: this.options.deadlineMs },
      );
      const messages = r.messages.map(chatMessageView);
      const last = messages.at(-1);
      if (last) seen.set(visitId, last.id);
      if (messages.length > 0 || after === '') socket.send({ type: 'chat', visitId, messages });
    } catch (error) {
      const err = error as ServiceError;
      const code = errorCode(typeof err.code === 'number' ? err.code : undefined);
      if (err.code === status.FAILED_PRECONDITION && err.details === 'patient data erased') {
        // The patient was erased: the history can never be read again; say so once.
        seen.delete(visitId);
        socket.send({ type: 'chat-error', code: 'erased', reason: 'erased', visitId });
        return;
      }
      if (code === 'forbidden' || code === 'not-found') {
        // Not (or no longer) a member: stop reading for this socket; the refusal is recorded by the service.
        seen.delete(visitId);
        socket.send({ type: 'chat-error', code, reason: code, visitId });
        return;
      }
      this.options.logger.warn({ err: { code: err.code }, visitId }, 'chat read failed');
    }
  }
}
