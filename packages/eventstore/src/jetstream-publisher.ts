/**
 * The event store's JetStream requests on its hot paths (publish an event; read the last message of a subject)
 * with one reply subscription for all of them: what `js.publish` and `jsm.streams.getMessage` do, without
 * their per-request costs. nats.js 2.x builds, for every request that succeeds, a `NatsError` (a stack trace)
 * when it cancels the request it just resolved, a timer, two promises raced against each other and a generator:
 * about a third of the client's own CPU per append. Here a request is a token in a map, replies arrive on
 * `<inbox prefix>.<nuid>.<token>`, and one interval times out the requests that got no answer.
 *
 * Errors keep nats.js's shapes (`NatsError` with `api_error` for a JetStream API error such as "wrong last
 * sequence", code `503` for no responders, `TIMEOUT`, `CONNECTION_CLOSED`), so callers translate them as before.
 */
import {
  createInbox,
  ErrorCode,
  headers as natsHeaders,
  MsgHdrsImpl,
  NatsError,
  type ConnectionOptions,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from 'nats';

/** The server's answer to a publish into a stream. */
export interface PublishAck {
  readonly seq: number;
  readonly duplicate: boolean;
}

/** What a publish carries besides subject and payload. */
export interface PublishOptions {
  /** `Nats-Msg-Id`: the server's dedup key. */
  readonly msgId: string;
  /** `Nats-Expected-Last-Subject-Sequence` (0: the subject has no message yet). */
  readonly expectedLastSubjectSequence: number;
  /** Further headers (name → value). */
  readonly headers: Readonly<Record<string, string>>;
}

interface Pending {
  readonly resolve: (reply: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly deadline: number;
}

interface JsApiReply {
  readonly error?: { readonly code: number; readonly err_code?: number; readonly description?: string };
}

/** A stored message's sequence and headers. */
export interface StoredHeaders {
  readonly seq: number;
  readonly headers: MsgHdrs;
}

const API_PREFIX = '$JS.API';
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Options of {@link JetStreamPublisher}. */
export interface JetStreamPublisherOptions {
  /** How long a publish waits for the server's answer (default 5 000 ms, nats.js's JetStream default). */
  readonly timeoutMs?: number;
}

/**
 * Publishes into JetStream streams and reads a subject's last message over one connection (see the module
 * comment). Safe for concurrent use.
 */
export class JetStreamPublisher {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #pending = new Map<string, Pending>();
  #inbox: string | undefined;
  #subscription: NatsSubscription | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #next = 0;
  /** Why the reply subscription ended (a permission refused, the connection closed); then publishes fail. */
  #broken: Error | undefined;
  /** close() waiting for the last pending publish. */
  readonly #idle: (() => void)[] = [];

  constructor(nc: NatsConnection, options: JetStreamPublisherOptions = {}) {
    this.#nc = nc;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  /**
   * Publishes `data` on `subject` and resolves with the stream's acknowledgement. Throws (rejects with) a
   * NatsError: the JetStream API error (with `api_error`, e.g. err_code 10071 when the subject's last sequence
   * is not the expected one), no responders, a timeout, or the connection closed.
   */
  publish(subject: string, data: Uint8Array, options: PublishOptions): Promise<PublishAck> {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', options.msgId);
    h.set('Nats-Expected-Last-Subject-Sequence', String(options.expectedLastSubjectSequence));
    for (const [name, value] of Object.entries(options.headers)) h.set(name, value);
    return this.#request(subject, data, h).then((reply) => {
      const ack = reply as { seq?: unknown; duplicate?: unknown };
      if (typeof ack.seq !== 'number') throw NatsError.errorForCode(ErrorCode.JetStreamInvalidAck);
      return { seq: ack.seq, duplicate: ack.duplicate === true };
    });
  }

  /**
   * The last message stored on `subject` in `stream` (its sequence and headers; the body is not decoded), what
   * `jsm.streams.getMessage(stream, { last_by_subj })` returns. Throws (rejects with) a NatsError like
   * {@link publish}: err_code 10037 when the subject has no message, 10059 when the stream does not exist.
   */
  lastMessage(stream: string, subject: string): Promise<StoredHeaders> {
    const query = encoder.encode(JSON.stringify({ last_by_subj: subject }));
    return this.#request(`${API_PREFIX}.STREAM.MSG.GET.${stream}`, query, undefined).then((reply) => {
      const message = (reply as { message?: { seq?: unknown; hdrs?: unknown } }).message;
      if (typeof message?.seq !== 'number') throw NatsError.errorForCode(ErrorCode.JetStreamInvalidAck);
      const headers =
        typeof message.hdrs === 'string'
          ? MsgHdrsImpl.decode(Buffer.from(message.hdrs, 'base64'))
          : natsHeaders();
      return { seq: message.seq, headers };
    });
  }

  /** One request: the JSON reply, or the NatsError of an error reply, no responders, a timeout. */
  #request(subject: string, data: Uint8Array, headers: MsgHdrs | undefined): Promise<unknown> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    let inbox: string;
    try {
      inbox = this.#inbox ?? this.#open();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    const token = (this.#next++).toString(36);
    return new Promise<unknown>((resolve, reject) => {
      this.#pending.set(token, { resolve, reject, deadline: Date.now() + this.#timeoutMs });
      try {
        this.#nc.publish(subject, data, {
          reply: `${inbox}.${token}`,
          ...(headers ? { headers } : {}),
        });
      } catch (err) {
        this.#pending.delete(token);
        reject(asError(err));
        this.#settled();
      }
    });
  }

  /**
   * Waits for the publishes under way (each answered or timed out), then ends the reply subscription; later
   * publishes fail with CONNECTION_CLOSED.
   */
  async close(): Promise<void> {
    while (this.#pending.size > 0 && this.#broken === undefined) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    this.#fail(NatsError.errorForCode(ErrorCode.ConnectionClosed));
  }

  #settled(): void {
    if (this.#pending.size === 0) for (const wake of this.#idle.splice(0)) wake();
  }

  #open(): string {
    // The connection's own reply prefix: each Haven NATS user may subscribe only under `_INBOX_<user>`.
    const prefix = (this.#nc as Partial<{ options: ConnectionOptions }>).options?.inboxPrefix;
    const inbox = createInbox(prefix);
    this.#subscription = this.#nc.subscribe(`${inbox}.*`, {
      callback: (err, msg) => (err ? this.#fail(err) : this.#reply(inbox, msg)),
    });
    this.#sweep = setInterval(() => this.#expire(), Math.min(1_000, this.#timeoutMs));
    this.#sweep.unref();
    void this.#nc.closed().then(() => this.#fail(NatsError.errorForCode(ErrorCode.ConnectionClosed)));
    this.#inbox = inbox;
    return inbox;
  }

  #reply(inbox: string, msg: Msg): void {
    const token = msg.subject.slice(inbox.length + 1);
    const pending = this.#pending.get(token);
    if (!pending) return; // timed out meanwhile
    this.#pending.delete(token);
    try {
      pending.resolve(parseReply(msg));
    } catch (err) {
      pending.reject(asError(err));
    }
    this.#settled();
  }

  #expire(): void {
    const now = Date.now();
    for (const [token, pending] of this.#pending) {
      if (pending.deadline > now) continue;
      this.#pending.delete(token);
      pending.reject(NatsError.errorForCode(ErrorCode.Timeout));
    }
    this.#settled();
  }

  #fail(err: Error): void {
    this.#broken ??= err;
    if (this.#sweep) clearInterval(this.#sweep);
    const subscription = this.#subscription;
    this.#subscription = undefined;
    try {
      subscription?.unsubscribe();
    } catch {
      // the connection is closed: so is the subscription
    }
    for (const pending of this.#pending.values()) pending.reject(err);
    this.#pending.clear();
    this.#settled();
  }
}

/** The JSON of a JetStream API reply; throws the NatsError nats.js would for an error reply. */
function parseReply(msg: Msg): unknown {
  if (msg.data.length === 0 && statusOf(msg.headers) === 503) {
    throw NatsError.errorForCode(ErrorCode.NoResponders);
  }
  const reply = JSON.parse(decoder.decode(msg.data)) as JsApiReply;
  if (reply.error) {
    const { code, description } = reply.error;
    const err = new NatsError((description ?? '').toLowerCase() || ErrorCode.Unknown, String(code));
    err.api_error = { code, err_code: reply.error.err_code ?? 0, description: description ?? '' };
    throw err;
  }
  return reply;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function statusOf(h: MsgHdrs | undefined): number | undefined {
  return h?.code;
}
