/**
 * The browser's live channel, `GET /api/ws`: a WebSocket authenticated on upgrade from the same cookies as the
 * REST API (staff `haven_access` or patient `haven_patient`), same-origin only, with the CSRF token echoed in
 * `?csrf=`. The hub learns about visits from the bus (session events) and fans out per visit: clinicians get
 * `visit` and `lobby` messages for their own visits (read with their own token, so ownership is the session
 * service's decision), patients get `admitted` / `denied` / `kicked` / `ended` and `visit` for theirs (for
 * their own device: each redemption of a link is its own participant, known from GetVisit's caller_participant).
 * Recording is pushed to every page of the visit (the clinician's and each patient device's): a `recording`
 * message when consent is requested, when recording starts and when it stops (with why), and the `visit`
 * messages carry the recording state for a page that connects later. Secure messages outside visits are pushed
 * as `messages` (ids and counts only) to the pages of the thread's members (message-push.ts); a patient signed in
 * to their messages only (no visit) may open the channel for that push alone. A socket is
 * closed with code 4401 when identity revokes the session (logout, idle logoff, deactivation…), when its token
 * expires (the page refreshes and reconnects), or after the idle timeout without activity from the page.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { EventEnvelope } from '@haven/eventstore';
import type { session } from '@haven/proto';
import { callUnary, clientCallMetadata, revocationCovers } from '@haven/service';
import type {
  AccessRefusal,
  AccessRefusalRecorder,
  Logger,
  Principal,
  SessionRevoked,
  TokenVerifier,
} from '@haven/service';
import { ChatRelay, type ChatSocket } from './chat-ws';
import { MessagePush } from './message-push';
import type { GatewayClients, MediaPresence } from './context';
import { tokenTimes } from './http';
import { recordUpgradeRefusal } from './refusals';
import { MEDIA_WS_PATH } from './media-ws';
import { COOKIES, checkUpgrade, refuseUpgrade } from './security';
import { ownDevicesIn, patientStatus, recordingView, visitCounts, visitView } from './visit-view';
import type { AdmissionLive, LiveMessage, RecordingLive } from './live-view';

/** Close code for "signed out" (revoked, idle, expired token). */
export const WS_CLOSE_SIGNED_OUT = 4401;
/** The WebSocket path. */
export const WS_PATH = '/api/ws';

const SESSION_EVENT = 'haven.session.v1.';

/**
 * The live `recording` message of a recording event, or undefined for other events: `requested` (every page asks
 * its participant for consent unless given), `on` (show the notice until `off`), `off` (with why, and `partial`
 * when the media node was lost; a request that ended unrecorded is `off` with `cancelled_by_clinician` or
 * `consent_refused` and the refusing participant's role in `refusedBy`).
 */
export function recordingMessage(
  name: string,
  visitId: string,
  data: Readonly<Record<string, unknown>>,
): RecordingLive | undefined {
  const recordingId = typeof data['recordingId'] === 'string' ? data['recordingId'] : undefined;
  const reason = typeof data['reason'] === 'string' ? { reason: data['reason'] } : {};
  switch (name) {
    case 'RecordingRequested':
      return {
        type: 'recording',
        visitId,
        state: 'requested',
        awaitingConsent: Array.isArray(data['awaiting'])
          ? data['awaiting'].filter((a): a is string => typeof a === 'string')
          : [],
      };
    case 'RecordingRequestEnded':
      // No recording: the request was cancelled, or someone present refused (their role, never who).
      return {
        type: 'recording',
        visitId,
        state: 'off',
        ...reason,
        ...(typeof data['refusedBy'] === 'string' ? { refusedBy: data['refusedBy'] } : {}),
      };
    case 'RecordingStarted':
      return { type: 'recording', visitId, state: 'on', ...(recordingId ? { recordingId } : {}) };
    case 'RecordingStopped':
      return {
        type: 'recording',
        visitId,
        state: 'off',
        ...(recordingId ? { recordingId } : {}),
        ...reason,
        partial: data['partial'] === true,
      };
    default:
      return undefined;
  }
}
/** Room for a chat message at its length limit (2000 characters of up to 4 UTF-8 bytes) and its JSON. */
const MAX_MESSAGE_BYTES = 16 * 1024;

/** Options of {@link WsHub.attach}. */
export interface WsHubOptions {
  readonly server: Server;
  readonly clients: GatewayClients;
  readonly logger: Logger;
  readonly tokenVerifier?: TokenVerifier | undefined;
  /**
   * Staff sockets without activity from the page for this long are signed out; a function is asked at every
   * sweep (the clinic's setting may change). Default 15 min.
   */
  readonly idleTimeoutMs?: number | (() => number);
  /** Origins accepted besides the request's own host (`http(s)://<Host>`). */
  readonly allowedOrigins?: readonly string[];
  /** Ping interval; a socket that misses a pong is dropped. Default 30 s. */
  readonly heartbeatMs?: number;
  /** Deadline of the hub's backend calls. Default 5 s. */
  readonly deadlineMs?: number;
  readonly now?: () => number;
  /** Where refused upgrades (origin, CSRF, token, kind) are recorded as AccessRefused events. */
  readonly refusals?: AccessRefusalRecorder | undefined;
}

interface Client {
  readonly ws: WebSocket;
  readonly principal: Principal;
  readonly token: string;
  readonly kind: 'staff' | 'patient';
  /** The patient's visit. */
  readonly visitId: string | undefined;
  /** This patient device's own participant id in its visit, once a read told (GetVisit's caller_participant). */
  participantId?: string;
  readonly expMs: number | undefined;
  readonly iatMs: number | undefined;
  lastActivity: number;
  alive: boolean;
  expiryTimer: NodeJS.Timeout | undefined;
  /** The socket as the chat relay sees it. */
  chat?: ChatSocket;
}

/** The WebSocket hub; also tells the REST API who is in a media room ({@link MediaPresence}). */
export class WsHub implements MediaPresence {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private readonly clientsSet = new Set<Client>();
  /** visit id → clinician user id (from VisitOpened, or learned from a successful GetVisit). */
  private readonly owners = new Map<string, string>();
  /** visit id → participant ids in the media room. */
  private readonly media = new Map<string, Set<string>>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt: number;
  private readonly now: () => number;
  private readonly idleTimeoutMs: () => number;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** The timeout the last sweep used, and since when (a shortened one counts from the change, as identity's). */
  private idleInForce: { ms: number; since: number } | undefined;
  private closed = false;
  private readonly deadlineMs: number;
  private readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  private readonly chat: ChatRelay;
  private readonly messages: MessagePush;

  private constructor(private readonly options: WsHubOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    const idle = options.idleTimeoutMs ?? 15 * 60_000;
    this.idleTimeoutMs = typeof idle === 'function' ? idle : () => idle;
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.chat = new ChatRelay({
      clients: options.clients,
      logger: options.logger,
      deadlineMs: this.deadlineMs,
    });
    this.messages = new MessagePush({
      clients: options.clients,
      logger: options.logger,
      deadlineMs: this.deadlineMs,
      since: this.startedAt,
      sockets: () =>
        [...this.clientsSet].map((c) => ({
          token: c.token,
          principal: c.principal,
          send: (message) => this.sendTo(c, message),
        })),
    });
    this.onUpgrade = (req, socket, head) => {
      void this.upgrade(req, socket, head).catch((err: unknown) => {
        options.logger.warn({ err }, 'websocket upgrade failed');
        refuseUpgrade(socket, 500);
      });
    };
    options.server.on('upgrade', this.onUpgrade);
    const heartbeatMs = options.heartbeatMs ?? 30_000;
    const ping = setInterval(() => {
      for (const c of this.clientsSet) {
        if (!c.alive) {
          c.ws.terminate();
          continue;
        }
        c.alive = false;
        c.ws.ping();
      }
    }, heartbeatMs);
    ping.unref();
    this.timers.push(ping);
    // A quarter of the timeout in force between sweeps (asked again each time), 250 ms to 15 s.
    const scheduleSweep = (): void => {
      const sweepMs = Math.max(250, Math.min(this.idleTimeoutMs() / 4, 15_000));
      this.sweepTimer = setTimeout(() => {
        this.sweepIdle();
        if (!this.closed) scheduleSweep();
      }, sweepMs);
      this.sweepTimer.unref();
    };
    scheduleSweep();
  }

  /** Attaches the hub to an HTTP server's `upgrade` event. Throws nothing. */
  static attach(options: WsHubOptions): WsHub {
    return new WsHub(options);
  }

  /** Number of open sockets. */
  get size(): number {
    return this.clientsSet.size;
  }

  inMedia(visitId: string, participantId: string): boolean {
    return this.media.get(visitId)?.has(participantId) ?? false;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    if (url.pathname !== WS_PATH) {
      // The media websocket has its own handler (media-ws.ts); anything else is not ours.
      if (url.pathname !== MEDIA_WS_PATH) refuseUpgrade(socket, 404);
      return;
    }
    const wantPatient = url.searchParams.get('as') === 'patient';
    const door = await checkUpgrade(req, url, {
      allowedOrigins: this.options.allowedOrigins,
      tokenVerifier: this.options.tokenVerifier,
      tokenOf: (jar) =>
        wantPatient ? jar.get(COOKIES.patient) : (jar.get(COOKIES.access) ?? jar.get(COOKIES.patient)),
    });
    if (!door.ok) {
      this.refused(door.refusal);
      refuseUpgrade(socket, door.status);
      return;
    }
    const { token, principal } = door;
    const visitId = /^visits\/([A-Za-z0-9_-]{1,64})$/.exec(principal.subjectOf ?? '')?.[1];
    // A link guest's page is the patient page (the same visit-scoped cookie and messages).
    const kind =
      principal.kind === 'user'
        ? 'staff'
        : principal.kind === 'patient' || principal.kind === 'guest'
          ? 'patient'
          : undefined;
    // A patient signed in to their secure messages only (`messages/…`: no visit) gets the messages push alone.
    const messagesOnly =
      principal.kind === 'patient' && /^messages\/[A-Za-z0-9_-]{1,64}$/.test(principal.subjectOf ?? '');
    if (!kind || (kind === 'patient' && !visitId && !messagesOnly)) {
      this.refused(
        {
          kind: 'permission',
          code: 'NOT_STAFF_OR_PATIENT',
          reason: 'this caller may not open the live feed',
        },
        this.options.tokenVerifier ? principal : undefined,
      );
      refuseUpgrade(socket, 403);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, principal, token, kind, visitId));
  }

  /** Records a refused upgrade (no client address, no cookie, no URL: the route and why). */
  private refused(why: Pick<AccessRefusal, 'kind' | 'code' | 'reason'>, principal?: Principal): void {
    recordUpgradeRefusal(this.options.refusals, WS_PATH, why, principal);
  }

  private connected(
    ws: WebSocket,
    principal: Principal,
    token: string,
    kind: 'staff' | 'patient',
    visitId: string | undefined,
  ): void {
    const { expMs, iatMs } = tokenTimes(token);
    const client: Client = {
      ws,
      principal,
      token,
      kind,
      visitId,
      expMs,
      iatMs,
      lastActivity: this.now(),
      alive: true,
      expiryTimer: undefined,
    };
    if (expMs !== undefined) {
      const ms = Math.max(0, expMs - this.now());
      // setTimeout holds at most ~24.8 days; tokens live minutes.
      client.expiryTimer = setTimeout(() => this.signOut(client, 'expired'), Math.min(ms, 2 ** 31 - 1));
      client.expiryTimer.unref();
    }
    client.chat = {
      token,
      kind,
      visitId,
      send: (message) => this.sendTo(client, message),
    };
    this.clientsSet.add(client);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        const text = Buffer.isBuffer(data)
          ? data.toString('utf8')
          : Buffer.from(data as ArrayBuffer).toString('utf8');
        const message = JSON.parse(text) as { type?: unknown };
        if (message.type === 'activity' || message.type === 'ping') client.lastActivity = this.now();
        if (message.type === 'ping') this.sendTo(client, { type: 'pong' });
        if (typeof message === 'object' && message !== null && client.chat) {
          if (this.chat.handle(client.chat, message)) client.lastActivity = this.now();
        }
      } catch {
        // not JSON: ignored
      }
    });
    ws.on('close', () => {
      if (client.expiryTimer) clearTimeout(client.expiryTimer);
      if (client.chat) this.chat.forget(client.chat);
      this.clientsSet.delete(client);
    });
    ws.on('error', () => ws.terminate());
    this.sendTo(client, { type: 'hello', kind, ...(visitId ? { visitId } : {}) });
    if (kind === 'patient' && visitId) this.schedule(visitId, 0);
  }

  private sendTo(client: Client, message: LiveMessage): void {
    if (client.ws.readyState === WebSocket.OPEN) client.ws.send(JSON.stringify(message));
  }

  private signOut(client: Client, reason: 'idle' | 'revoked' | 'expired'): void {
    if (reason !== 'expired') this.sendTo(client, { type: 'signed-out', reason });
    client.ws.close(WS_CLOSE_SIGNED_OUT, reason);
    // A client that does not answer the close handshake is dropped.
    setTimeout(() => client.ws.terminate(), 2000).unref();
  }

  private sweepIdle(): void {
    const now = this.now();
    const idleTimeoutMs = this.idleTimeoutMs();
    if (this.idleInForce?.ms !== idleTimeoutMs)
      this.idleInForce = { ms: idleTimeoutMs, since: this.idleInForce ? now : 0 };
    // A page idle when the timeout was shortened gets the new timeout from the change (it learns it from /api/me).
    const since = this.idleInForce.since;
    for (const c of this.clientsSet) {
      if (c.kind === 'staff' && now - Math.max(c.lastActivity, since) >= idleTimeoutMs)
        this.signOut(c, 'idle');
    }
  }

  /**
   * A revocation from identity: closes (4401) every socket of that session, or of that subject for tokens issued
   * at or before the revocation. Throws nothing.
   */
  revoked(revocation: SessionRevoked): void {
    for (const c of this.clientsSet) {
      if (revocationCovers(revocation, c.principal, c.iatMs)) {
        this.signOut(c, revocation.reason === 'idle' ? 'idle' : 'revoked');
      }
    }
  }

  /**
   * A session event from the bus: keeps the owner and media maps, tells patients what happened to them at once,
   * and schedules a fresh read of the visit for its clinician's and patients' sockets. Events older than the hub
   * (a replay at start-up) only update the maps. Throws nothing.
   */
  event(event: EventEnvelope): void {
    if (this.messages.event(event)) return;
    if (!event.type.startsWith(SESSION_EVENT)) return;
    const name = event.type.slice(SESSION_EVENT.length);
    const data = event.data;
    const visitId = typeof data['visitId'] === 'string' ? data['visitId'] : undefined;
    if (!visitId) return;
    const participantId = typeof data['participantId'] === 'string' ? data['participantId'] : undefined;
    if (name === 'VisitOpened' && typeof data['clinicianId'] === 'string') {
      this.owners.set(visitId, data['clinicianId']);
    } else if (name === 'ParticipantJoinedMedia' && participantId) {
      const set = this.media.get(visitId) ?? new Set<string>();
      set.add(participantId);
      this.media.set(visitId, set);
    } else if ((name === 'ParticipantLeftMedia' || name === 'ParticipantKicked') && participantId) {
      this.media.get(visitId)?.delete(participantId);
    } else if (name === 'VisitEnded') {
      this.media.delete(visitId);
    }
    if (Date.parse(event.occurredAt) < this.startedAt - 5000) return;
    if (name === 'LobbyNoticePosted') {
      // The waiting room reads the note itself (GET /api/patient/lobby-notice: a typed one is a PHI read).
      for (const c of this.clientsSet) {
        if (c.kind === 'patient' && c.visitId === visitId) this.sendTo(c, { type: 'lobby-notice', visitId });
      }
      return;
    }
    if (name === 'ChatMessagePosted' || name === 'ChatFileShared') {
      // Chat changes nothing else a page shows: no visit refresh.
      this.chat.event(name, visitId);
      return;
    }

    const principal = typeof data['principal'] === 'string' ? data['principal'] : undefined;
    const direct: Readonly<Record<string, AdmissionLive['type']>> = {
      ParticipantAdmitted: 'admitted',
      ParticipantDenied: 'denied',
      ParticipantKicked: 'kicked',
    };
    for (const c of this.clientsSet) {
      if (c.kind !== 'patient' || c.visitId !== visitId) continue;
      if (name === 'VisitEnded') this.sendTo(c, { type: 'ended', visitId });
      const type = direct[name];
      const own = `${c.principal.kind === 'guest' ? 'guests' : 'patients'}/${c.principal.id}`;
      if (type && principal === own && participantId) {
        // Only to the device this is about: each redemption of a link is its own participant.
        void this.sendToDevice(c, visitId, participantId, { type, visitId });
      }
    }
    const owner = this.owners.get(visitId);
    if (name === 'VisitEnded') {
      for (const c of this.clientsSet) {
        if (c.kind === 'staff' && c.principal.id === owner) this.sendTo(c, { type: 'ended', visitId });
      }
    }
    const recording = recordingMessage(name, visitId, data);
    if (recording) {
      // Every page of the visit, at once: the patient's devices and the owning clinician's sockets.
      for (const c of this.clientsSet) {
        const mine =
          c.kind === 'patient'
            ? c.visitId === visitId
            : c.principal.role === 'clinician' && c.principal.id === owner;
        if (mine) this.sendTo(c, recording);
      }
    }
    this.schedule(visitId, 30);
  }

  /** Sends to a patient's socket when `participantId` is that device's own participant (read once, then known). */
  private async sendToDevice(
    c: Client,
    visitId: string,
    participantId: string,
    message: AdmissionLive,
  ): Promise<void> {
    if (c.participantId === undefined) {
      const visit = await this.getVisit(visitId, c.token);
      const own = visit?.callerParticipant.split('/').at(-1);
      if (own) c.participantId = own;
    }
    if (c.participantId === participantId) this.sendTo(c, message);
  }

  /** Coalesces bursts of events into one read per visit. */
  private schedule(visitId: string, delayMs: number): void {
    if (this.pending.has(visitId)) return;
    const timer = setTimeout(() => {
      this.pending.delete(visitId);
      void this.refresh(visitId).catch((err: unknown) =>
        this.options.logger.warn({ err, visitId }, 'websocket visit refresh failed'),
      );
    }, delayMs);
    timer.unref();
    this.pending.set(visitId, timer);
  }

  private async getVisit(visitId: string, token: string): Promise<session.Visit | undefined> {
    const client = this.options.clients.session;
    if (!client) return undefined;
    try {
      const r = await callUnary(
        client,
        'getVisit',
        { name: `visits/${visitId}` },
        clientCallMetadata({ token }),
        { deadlineMs: this.deadlineMs },
      );
      return r.visit;
    } catch {
      return undefined; // not theirs, gone, or the service is down: nothing to send
    }
  }

  private async refresh(visitId: string): Promise<void> {
    const owner = this.owners.get(visitId);
    // One read per clinician user (with one of their own tokens): ownership is the session service's call.
    const byUser = new Map<string, Client[]>();
    for (const c of this.clientsSet) {
      if (c.kind !== 'staff' || c.principal.role !== 'clinician') continue;
      if (owner !== undefined && c.principal.id !== owner) continue;
      const list = byUser.get(c.principal.id) ?? [];
      list.push(c);
      byUser.set(c.principal.id, list);
    }
    const reads: Promise<void>[] = [];
    for (const [userId, sockets] of byUser) {
      reads.push(
        (async () => {
          const first = sockets[0];
          if (!first) return;
          const visit = await this.getVisit(visitId, first.token);
          if (!visit) return;
          this.owners.set(visitId, userId);
          const view = visitView(visit, this);
          const counts = visitCounts(view);
          const recording = recordingView(visit);
          for (const c of sockets) {
            this.sendTo(c, {
              type: 'visit',
              visitId,
              status: view.status,
              locked: view.locked,
              recording: recording.state,
              ...counts,
            });
            this.sendTo(c, {
              type: 'lobby',
              visitId,
              participants: view.participants.filter((p) => p.kind !== 'clinician'),
            });
          }
        })(),
      );
    }
    for (const c of this.clientsSet) {
      if (c.kind !== 'patient' || c.visitId !== visitId) continue;
      reads.push(
        (async () => {
          const visit = await this.getVisit(visitId, c.token);
          if (!visit) return;
          const own = visit.callerParticipant.split('/').at(-1);
          if (own) c.participantId = own;
          const recording = recordingView(visit);
          this.sendTo(c, {
            type: 'visit',
            visitId,
            status: patientStatus(visit),
            locked: visit.locked,
            recording: recording.state,
            recordingConsented: recording.consented,
            yourOtherDevicesIn: ownDevicesIn(visit),
          });
        })(),
      );
    }
    await Promise.all(reads);
  }

  /** Closes every socket (1001 going away) and detaches from the server. Idempotent. */
  async close(): Promise<void> {
    this.options.server.off('upgrade', this.onUpgrade);
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.sweepTimer);
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
    this.messages.close();
    for (const c of this.clientsSet) {
      if (c.expiryTimer) clearTimeout(c.expiryTimer);
      c.ws.close(1001, 'going away');
      setTimeout(() => c.ws.terminate(), 500).unref();
    }
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
