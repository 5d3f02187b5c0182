/**
 * The media proxy: browsers speak the Janus websocket protocol (`janus-protocol`, what janus.js speaks) to the
 * session service at `/media` (through the gateway, which authenticates the browser and passes its token on as a
 * bearer), never to Janus. Only this service holds a Janus core token.
 *
 * - Every request carries the participant's media credential as its Janus `token`; each one is checked against
 *   the visit as it is now (./media-access.ts) and must be the credential the connection started with, issued to
 *   the bearer's principal.
 * - One upstream Janus websocket per browser connection: closing it makes Janus destroy every session and handle
 *   the participant had on it, publishers and subscribers alike. Kick, leave, end, sign-out and idle logoff close
 *   the participant's connections on every replica (driven by the visit projection and the revocation feed).
 * - Only an allow-list of requests is forwarded (./media-policy.ts), with the room, PIN, room token and a
 *   server-chosen display injected; at most the role's feed limit of publisher joins per participant on this
 *   replica. Everything else gets a Janus-style error and an AccessRefused event, and so does every refusal
 *   Janus itself answers (403, 405, 429, 433…).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  revocationCovers,
  type AccessRefusal,
  type Logger,
  type Principal,
  type SessionRevoked,
  type TokenVerifier,
} from '@haven/service';
import { ParticipantStatus, type VisitState } from '../visit/visit';
import { MediaClose, type Admitted, type MediaAccess } from './media-access';
import {
  JanusError,
  VIDEOROOM_PLUGIN,
  VideoRoomError,
  screenVideoRoomBody,
  validJsep,
  validTrickle,
  type HandleRole,
} from './media-policy';

/** The URL path of the proxy on the session service's HTTP port. */
export const MEDIA_PATH = '/media';
/** A refusal's `method`: `janus <verb>` (create, attach…) or `janus videoroom.<request>` (join, list…). */
export function mediaMethod(what: string): string {
  return `janus ${what}`;
}

/** Limits per browser connection. */
export interface MediaProxyLimits {
  /** Janus sessions per connection (janus.js makes one). Default 2. */
  readonly sessions?: number;
  /** Plugin handles per connection (publisher, screen share, one subscriber per remote feed). Default 16. */
  readonly handles?: number;
  /** Largest message, bytes. Default 128 KiB. */
  readonly maxPayload?: number;
  /** Messages per 10 s before the connection is closed. Default 600. */
  readonly messagesPer10s?: number;
}

/** Dependencies of {@link MediaProxy}. */
export interface MediaProxyDeps {
  readonly access: MediaAccess;
  /** The Janus websocket URL of a node, or undefined when the node is not configured. */
  readonly upstreamUrl: (janusNode: string) => string | undefined;
  /** A valid Janus core token (only the session service has one). */
  readonly coreToken: () => string;
  /** Verifies the bearer token the gateway passes on (the browser's own). */
  readonly verifier: TokenVerifier;
  readonly onRefused: (refusal: AccessRefusal) => void;
  readonly logger: Logger;
  readonly limits?: MediaProxyLimits;
}

interface HandleState {
  readonly session: number;
  role: HandleRole;
  /** A join sent, not yet answered. */
  joining: 'publisher' | 'subscriber' | undefined;
}

interface Pending {
  readonly verb: string;
  readonly request?: string;
  readonly handleId?: number;
  readonly sessionId?: number;
}

/** Janus's replies and events worth reading, loosely typed. */
type JanusMessage = Record<string, unknown> & {
  janus?: unknown;
  transaction?: unknown;
  session_id?: unknown;
  sender?: unknown;
};

const JANUS_REFUSALS = new Set([403, 405, 429, 432, 433]);
/** The Janus verbs a participant may send (create, and the rest on their own sessions and handles). */
const VERBS = new Set(['create', 'attach', 'keepalive', 'destroy', 'message', 'trickle', 'detach', 'hangup']);
/** Verbs whose `ack` is the final answer (a `message` is acked, then answered by an event). */
const ACK_ENDS = new Set(['keepalive', 'trickle']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** One browser connection and its upstream Janus connection. */
class Connection {
  readonly correlationId = randomUUID();
  bound: (Admitted & { readonly token: string }) | undefined;
  upstream: WebSocket | undefined;
  private upstreamReady: Promise<void> | undefined;
  readonly sessions = new Set<number>();
  readonly handles = new Map<number, HandleState>();
  private readonly pending = new Map<string, Pending>();
  private queue: Promise<void> = Promise.resolve();
  private windowStart = Date.now();
  private inWindow = 0;
  private closing = false;
  private failedChecks = 0;

  constructor(
    private readonly proxy: MediaProxy,
    readonly ws: WebSocket,
    readonly principal: Principal,
    private readonly deps: MediaProxyDeps,
  ) {
    ws.on('message', (data, isBinary) => this.received(data, isBinary));
    ws.on('close', () => this.closed());
    ws.on('error', () => ws.terminate());
  }

  /** Publisher handles of this connection (joined or joining). */
  publishers(): number {
    let n = 0;
    for (const h of this.handles.values()) if (h.role === 'publisher' || h.joining === 'publisher') n++;
    return n;
  }

  /** Closes the browser connection (and so the upstream one). Idempotent. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code, reason);
      setTimeout(() => this.ws.terminate(), 2000).unref();
    }
    this.upstream?.terminate();
  }

  private closed(): void {
    this.closing = true;
    // Janus destroys every session created on this transport connection when it goes (janus_transport_gone).
    this.upstream?.close(1000);
    setTimeout(() => this.upstream?.terminate(), 1000).unref();
    this.proxy.forget(this);
  }

  private received(data: RawData, isBinary: boolean): void {
    const now = Date.now();
    if (now - this.windowStart >= 10_000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    this.inWindow += 1;
    if (this.inWindow > (this.deps.limits?.messagesPer10s ?? 600)) {
      this.refused('message', 'TOO_MANY_MESSAGES', 'too many messages');
      this.close(MediaClose.TooManyMessages, 'too many messages');
      return;
    }
    let msg: JanusMessage;
    try {
      if (isBinary) throw new Error('binary');
      const text = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.from(data as ArrayBuffer).toString('utf8');
      const parsed: unknown = JSON.parse(text);
      if (!isRecord(parsed)) throw new Error('not an object');
      msg = parsed;
    } catch {
      this.reply({ janus: 'error', error: { code: JanusError.InvalidJson, reason: 'JSON error' } });
      return;
    }
    // In order, one at a time: each request waits for its credential check.
    this.queue = this.queue
      .then(() => this.handle(msg))
      .catch((error: unknown) => {
        this.deps.logger.warn({ err: error }, 'media proxy request failed');
        this.close(MediaClose.UpstreamGone, 'internal error');
      });
  }

  private reply(msg: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private coreError(tx: string, code: number, reason: string, extra: Record<string, unknown> = {}): void {
    this.reply({ janus: 'error', transaction: tx, ...extra, error: { code, reason } });
  }

  /**
   * Records a refusal (rate-capped by the recorder): kind `media` (or `unauthenticated` for a credential that
   * opens nothing), a code, the participant it was about once the connection is bound, and the bearer's ids.
   */
  refused(what: string, code: string, reason: string, kind: AccessRefusal['kind'] = 'media'): void {
    const b = this.bound;
    this.deps.onRefused({
      method: mediaMethod(what),
      kind,
      code,
      reason,
      ...(b ? { target: `visits/${b.visitId}/participants/${b.participantId}` } : {}),
      principal: {
        kind: this.principal.kind,
        id: this.principal.id,
        ...(this.principal.role !== undefined ? { role: this.principal.role } : {}),
      },
      correlationId: this.correlationId,
    });
  }

  private async handle(msg: JanusMessage): Promise<void> {
    if (this.closing) return;
    const verb = typeof msg.janus === 'string' && /^[a-z_]{1,32}$/.test(msg.janus) ? msg.janus : 'invalid';
    const tx = typeof msg.transaction === 'string' && msg.transaction.length <= 64 ? msg.transaction : '';
    if (tx === '') {
      this.coreError('', JanusError.InvalidJson, 'Missing mandatory element (transaction)');
      return;
    }
    // The credential, on every request, against the visit as it is now.
    const check = await this.deps.access.check(msg['token']);
    if (this.closing) return;
    if (!check.ok) {
      this.refused(verb, 'MEDIA_CREDENTIAL', check.reason, 'unauthenticated');
      this.coreError(tx, JanusError.Unauthorized, 'Unauthorized request (wrong or missing secret/token)');
      this.failedChecks += 1;
      if (this.bound || this.failedChecks >= 3) this.close(check.close, check.reason);
      return;
    }
    const claims = check.claims;
    const mine =
      claims.kind === this.principal.kind &&
      claims.sub === this.principal.id &&
      (claims.sid === undefined || claims.sid === this.principal.sessionId);
    if (!mine) {
      this.refused(verb, 'MEDIA_CREDENTIAL', 'a media credential issued to someone else', 'unauthenticated');
      this.coreError(tx, JanusError.Unauthorized, 'Unauthorized request (wrong or missing secret/token)');
      this.close(MediaClose.Violation, 'credential of another principal');
      return;
    }
    if (!this.bound) {
      this.bound = { ...check, token: String(msg['token']) };
      this.proxy.bind(this);
    } else if (this.bound.token !== msg['token']) {
      this.refused(verb, 'MEDIA_CREDENTIAL', 'a second credential on one connection', 'unauthenticated');
      this.coreError(tx, JanusError.Unauthorized, 'Unauthorized request (wrong or missing secret/token)');
      this.close(MediaClose.Violation, 'one credential per connection');
      return;
    }
    await this.forward(verb, tx, msg, check);
  }

  private sessionOf(msg: JanusMessage): number | undefined {
    const id = msg.session_id;
    return typeof id === 'number' && this.sessions.has(id) ? id : undefined;
  }

  private handleOf(msg: JanusMessage, sessionId: number): number | undefined {
    const id = msg['handle_id'];
    return typeof id === 'number' && this.handles.get(id)?.session === sessionId ? id : undefined;
  }

  /** Requests sent to Janus and not answered yet, of one verb. */
  private inFlight(verb: string): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.verb === verb) n++;
    return n;
  }

  private async forward(verb: string, tx: string, msg: JanusMessage, admitted: Admitted): Promise<void> {
    const base = { janus: verb, transaction: tx };
    if (!VERBS.has(verb)) {
      this.refused(verb, 'MEDIA_REQUEST', `${verb} is not allowed`);
      this.coreError(tx, JanusError.UnknownRequest, 'Unknown request');
      return;
    }
    if (verb === 'create') {
      if (this.sessions.size + this.inFlight('create') >= (this.deps.limits?.sessions ?? 2)) {
        this.refused(verb, 'MEDIA_LIMIT', 'too many Janus sessions on one connection');
        this.coreError(tx, JanusError.Unauthorized, 'Too many sessions');
        return;
      }
      await this.send(base, { verb });
      return;
    }
    const sessionId = this.sessionOf(msg);
    if (sessionId === undefined) {
      this.coreError(tx, JanusError.SessionNotFound, 'No such session');
      return;
    }
    const withSession = { ...base, session_id: sessionId };
    switch (verb) {
      case 'keepalive':
      case 'destroy':
        await this.send(withSession, { verb, sessionId });
        return;
      case 'attach': {
        if (msg['plugin'] !== VIDEOROOM_PLUGIN) {
          this.refused('attach', 'MEDIA_REQUEST', 'a plugin other than the videoroom');
          this.coreError(tx, JanusError.UnauthorizedPlugin, "Provided token can't access plugin", {
            session_id: sessionId,
          });
          return;
        }
        if (this.handles.size + this.inFlight('attach') >= (this.deps.limits?.handles ?? 16)) {
          this.refused('attach', 'MEDIA_LIMIT', 'too many handles on one connection');
          this.coreError(tx, JanusError.Unauthorized, 'Too many handles', { session_id: sessionId });
          return;
        }
        const opaque = msg['opaque_id'];
        await this.send(
          {
            ...withSession,
            plugin: VIDEOROOM_PLUGIN,
            ...(typeof opaque === 'string' && opaque.length <= 64 ? { opaque_id: opaque } : {}),
          },
          { verb, sessionId },
        );
        return;
      }
      default:
        break;
    }
    const handleId = this.handleOf(msg, sessionId);
    if (handleId === undefined) {
      this.coreError(tx, JanusError.HandleNotFound, 'No such handle in session', { session_id: sessionId });
      return;
    }
    const withHandle = { ...withSession, handle_id: handleId };
    const handle = this.handles.get(handleId)!;
    switch (verb) {
      case 'detach':
      case 'hangup':
        await this.send(withHandle, { verb, sessionId, handleId });
        return;
      case 'trickle':
        if (!validTrickle(msg)) {
          this.coreError(tx, JanusError.InvalidJson, 'Invalid trickle', { session_id: sessionId });
          return;
        }
        await this.send(
          {
            ...withHandle,
            ...(msg['candidate'] !== undefined
              ? { candidate: msg['candidate'] }
              : { candidates: msg['candidates'] }),
          },
          { verb, sessionId, handleId },
        );
        return;
      default:
        await this.message(withHandle, handle, msg, admitted);
    }
  }

  private async message(
    out: { janus: string; transaction: string; session_id: number; handle_id: number },
    handle: HandleState,
    msg: JanusMessage,
    admitted: Admitted,
  ): Promise<void> {
    // A handle with a join on its way counts as joined: a second join on it is refused.
    const verdict = screenVideoRoomBody(msg['body'], handle.joining ?? handle.role, admitted.inject);
    // As Janus answers an asynchronous plugin request: an ack, then the event (janus.js relies on both).
    const pluginError = (code: number, reason: string) => {
      this.reply({ janus: 'ack', session_id: out.session_id, transaction: out.transaction });
      this.reply({
        janus: 'event',
        session_id: out.session_id,
        sender: out.handle_id,
        transaction: out.transaction,
        plugindata: {
          plugin: VIDEOROOM_PLUGIN,
          data: { videoroom: 'event', error_code: code, error: reason },
        },
      });
    };
    if (!verdict.ok) {
      this.refused(`videoroom.${verdict.request}`, 'MEDIA_REQUEST', verdict.reason);
      pluginError(verdict.code, `Refused: ${verdict.reason}`);
      return;
    }
    if (msg['jsep'] !== undefined && !validJsep(msg['jsep'])) {
      this.refused(`videoroom.${verdict.request}`, 'MEDIA_REQUEST', 'an invalid jsep');
      pluginError(VideoRoomError.InvalidRequest, 'Refused: invalid jsep');
      return;
    }
    if (verdict.joins === 'publisher' && this.proxy.publishersOf(admitted) >= admitted.feedLimit) {
      this.refused(
        'videoroom.join',
        'FEED_LIMIT',
        `more than ${admitted.feedLimit} feeds for a ${admitted.role}`,
      );
      pluginError(
        VideoRoomError.PublishersFull,
        `Refused: a ${admitted.role} may publish ${admitted.feedLimit} feeds`,
      );
      return;
    }
    if (verdict.joins) handle.joining = verdict.joins;
    if (verdict.leaves) handle.role = 'none';
    await this.send(
      { ...out, body: verdict.body, ...(msg['jsep'] !== undefined ? { jsep: msg['jsep'] } : {}) },
      { verb: 'message', request: verdict.request, sessionId: out.session_id, handleId: out.handle_id },
    );
  }

  /** Sends to Janus with the service's own core token, opening the upstream connection first when needed. */
  private async send(msg: Record<string, unknown>, pending: Pending): Promise<void> {
    await this.ensureUpstream();
    const tx = String(msg['transaction']);
    if (this.pending.size >= 256) {
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
    }
    this.pending.set(tx, pending);
    if (this.upstream?.readyState === WebSocket.OPEN) {
      this.upstream.send(JSON.stringify({ ...msg, token: this.deps.coreToken() }));
    }
  }

  private ensureUpstream(): Promise<void> {
    if (this.upstreamReady) return this.upstreamReady;
    const url = this.bound ? this.deps.upstreamUrl(this.bound.janusNode) : undefined;
    if (!url) {
      this.close(MediaClose.UpstreamGone, 'no media node');
      return Promise.resolve();
    }
    const upstream = new WebSocket(url, 'janus-protocol', { maxPayload: 4 * 1024 * 1024 });
    this.upstream = upstream;
    upstream.on('message', (data) => this.fromJanus(data));
    upstream.on('close', () => this.close(MediaClose.UpstreamGone, 'media server connection lost'));
    upstream.on('error', () => upstream.terminate());
    this.upstreamReady = new Promise<void>((resolve) => {
      upstream.once('open', () => resolve());
      upstream.once('close', () => resolve());
    });
    return this.upstreamReady;
  }

  /** A message from Janus: update what we know of sessions and handles, record its refusals, pass it on. */
  private fromJanus(data: RawData): void {
    let msg: JanusMessage;
    try {
      const text = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.from(data as ArrayBuffer).toString('utf8');
      const parsed: unknown = JSON.parse(text);
      if (!isRecord(parsed)) return;
      msg = parsed;
    } catch {
      return;
    }
    const tx = typeof msg.transaction === 'string' ? msg.transaction : undefined;
    const pending = tx !== undefined ? this.pending.get(tx) : undefined;
    if (pending && (msg.janus !== 'ack' || ACK_ENDS.has(pending.verb))) this.pending.delete(tx!);
    const data_ = isRecord(msg['data']) ? msg['data'] : undefined;
    const plugin =
      isRecord(msg['plugindata']) && isRecord(msg['plugindata']['data'])
        ? msg['plugindata']['data']
        : undefined;
    const sender = typeof msg.sender === 'number' ? msg.sender : undefined;

    if (msg.janus === 'success' && pending?.verb === 'create' && typeof data_?.['id'] === 'number') {
      this.sessions.add(data_['id']);
    } else if (msg.janus === 'success' && pending?.verb === 'attach' && typeof data_?.['id'] === 'number') {
      if (pending.sessionId !== undefined)
        this.handles.set(data_['id'], { session: pending.sessionId, role: 'none', joining: undefined });
    } else if (msg.janus === 'success' && pending?.verb === 'destroy' && pending.sessionId !== undefined) {
      this.dropSession(pending.sessionId);
    } else if (msg.janus === 'success' && pending?.verb === 'detach' && pending.handleId !== undefined) {
      this.handles.delete(pending.handleId);
    } else if (msg.janus === 'detached' && sender !== undefined) {
      this.handles.delete(sender);
    } else if (msg.janus === 'timeout' && typeof msg.session_id === 'number') {
      this.dropSession(msg.session_id);
    } else if (msg.janus === 'error' && pending) {
      const code = isRecord(msg['error']) ? msg['error']['code'] : undefined;
      if (typeof code === 'number' && JANUS_REFUSALS.has(code)) {
        this.refused(
          pending.request ? `videoroom.${pending.request}` : pending.verb,
          `JANUS_${code}`,
          `Janus answered ${code}`,
        );
      }
    }
    if (plugin && sender !== undefined) this.pluginEvent(sender, plugin, pending);
    this.reply(msg);
  }

  private pluginEvent(handleId: number, data: Record<string, unknown>, pending: Pending | undefined): void {
    const handle = this.handles.get(handleId);
    if (!handle) return;
    const code = data['error_code'];
    if (typeof code === 'number') {
      if (pending?.request === 'join') handle.joining = undefined;
      if (JANUS_REFUSALS.has(code)) {
        this.refused(`videoroom.${pending?.request ?? 'event'}`, `JANUS_${code}`, `Janus answered ${code}`);
      }
      return;
    }
    const event = data['videoroom'];
    if (event === 'joined' && handle.joining === 'publisher') {
      handle.role = 'publisher';
      handle.joining = undefined;
    } else if (event === 'attached' && handle.joining === 'subscriber') {
      handle.role = 'subscriber';
      handle.joining = undefined;
    } else if (event === 'destroyed' || (event === 'event' && data['leaving'] === 'ok')) {
      // Kicked, left, or the room is gone: the handle is no longer in the room.
      handle.role = 'none';
      handle.joining = undefined;
    }
  }

  private dropSession(sessionId: number): void {
    this.sessions.delete(sessionId);
    for (const [id, h] of this.handles) if (h.session === sessionId) this.handles.delete(id);
  }
}

/** The proxy: accepts `/media` upgrades and keeps every connection of this replica, by visit and participant. */
export class MediaProxy {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly byVisit = new Map<string, Map<string, Set<Connection>>>();

  constructor(private readonly deps: MediaProxyDeps) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.limits?.maxPayload ?? 128 * 1024,
      handleProtocols: (protocols) => (protocols.has('janus-protocol') ? 'janus-protocol' : false),
    });
  }

  /** Number of open browser connections on this replica. */
  get size(): number {
    return this.connections.size;
  }

  /** Handles an HTTP upgrade for {@link MEDIA_PATH}: the bearer token must verify. Throws nothing. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    void this.upgrade(req, socket, head).catch((error: unknown) => {
      this.deps.logger.warn({ err: error }, 'media upgrade failed');
      refuseUpgrade(socket, 500, 'Internal Server Error');
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const auth = req.headers.authorization ?? '';
    const token = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(auth)?.[1];
    let principal: Principal;
    try {
      if (!token) throw new Error('missing bearer token');
      principal = await this.deps.verifier.verify(token);
    } catch {
      this.deps.onRefused({
        method: mediaMethod('connect'),
        kind: 'unauthenticated',
        code: 'UNAUTHENTICATED',
        reason: token ? 'token refused' : 'missing bearer token',
        correlationId: randomUUID(),
      });
      refuseUpgrade(socket, 401, 'Unauthorized');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.connections.add(new Connection(this, ws, principal, this.deps));
    });
  }

  /** @internal A connection learned whose it is. */
  bind(c: Connection): void {
    const b = c.bound;
    if (!b) return;
    const visit = this.byVisit.get(b.visitId) ?? new Map<string, Set<Connection>>();
    const set = visit.get(b.participantId) ?? new Set<Connection>();
    set.add(c);
    visit.set(b.participantId, set);
    this.byVisit.set(b.visitId, visit);
  }

  /** @internal A connection closed. */
  forget(c: Connection): void {
    this.connections.delete(c);
    const b = c.bound;
    if (!b) return;
    const visit = this.byVisit.get(b.visitId);
    const set = visit?.get(b.participantId);
    set?.delete(c);
    if (set?.size === 0) visit?.delete(b.participantId);
    if (visit?.size === 0) this.byVisit.delete(b.visitId);
  }

  /** @internal Publisher handles of a participant over all their connections on this replica. */
  publishersOf(a: Admitted): number {
    let n = 0;
    for (const c of this.byVisit.get(a.visitId)?.get(a.participantId) ?? []) n += c.publishers();
    return n;
  }

  /**
   * The visit changed (the projection folded an event, on every replica): closes the connections of whoever
   * is no longer admitted under the admission their connection started with, or all of them when it ended.
   * Throws nothing.
   */
  visitChanged(visitId: string, state: VisitState): void {
    const visit = this.byVisit.get(visitId);
    if (!visit || state.status === 'none') return;
    for (const [pid, set] of visit) {
      const p = state.status === 'open' ? state.participants[pid] : undefined;
      for (const c of [...set]) {
        if (state.status === 'ended') c.close(MediaClose.Ended, 'visit ended');
        else if (!p || p.status !== ParticipantStatus.Admitted || p.admission !== c.bound?.admission) {
          c.close(MediaClose.Removed, `participant is ${p?.status ?? 'unknown'}`);
        }
      }
    }
  }

  /**
   * A revocation from identity (sign-out, idle logoff, deactivation…): closes every connection of that
   * session, or of that subject for credentials issued at or before it. Throws nothing.
   */
  revoked(r: SessionRevoked): void {
    for (const c of [...this.connections]) {
      const iat = c.bound?.claims.iat;
      if (revocationCovers(r, c.principal, iat === undefined ? undefined : iat * 1000)) {
        c.close(MediaClose.SignedOut, r.reason === 'idle' ? 'idle' : 'signed out');
      }
    }
  }

  /** Closes every connection (1001) and the server. */
  async close(): Promise<void> {
    for (const c of [...this.connections]) c.close(1001, 'going away');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
