/**
 * The browser's media websocket, `GET /api/media`: the gateway stays the browser's only door. It authenticates
 * the upgrade like the live channel does (same origin, the CSRF token echoed in `?csrf=`, the staff
 * `haven_access` or — with `?as=patient` — the patient `haven_patient` cookie, verified), then opens the session
 * service's media proxy (HAVEN_SESSION_MEDIA_URL) with that token as a bearer and relays the Janus protocol
 * (`janus-protocol`) both ways, frame by frame, close codes included. The proxy checks the media credential on
 * every request; the gateway also closes the relay at once when identity revokes the browser's session.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  revocationCovers,
  type AccessRefusal,
  type AccessRefusalRecorder,
  type Logger,
  type Principal,
  type SessionRevoked,
  type TokenVerifier,
} from '@haven/service';
import { tokenTimes } from './http';
import { recordUpgradeRefusal } from './refusals';
import { COOKIES, checkUpgrade, refuseUpgrade } from './security';

/** The media websocket's path on the gateway. */
export const MEDIA_WS_PATH = '/api/media';

/** Options of {@link MediaRelay.attach}. */
export interface MediaRelayOptions {
  readonly server: Server;
  /** `ws://<session>:<http port>/media`. */
  readonly sessionMediaUrl: string;
  readonly logger: Logger;
  readonly tokenVerifier?: TokenVerifier | undefined;
  /** Origins accepted besides the request's own host. */
  readonly allowedOrigins?: readonly string[];
  /** Largest frame from the browser, bytes. Default 128 KiB (an SDP offer is a few KiB). */
  readonly maxPayload?: number;
  /** Where refused upgrades (origin, CSRF, cookie, token) are recorded as AccessRefused events. */
  readonly refusals?: AccessRefusalRecorder | undefined;
}

interface Relay {
  readonly browser: WebSocket;
  readonly upstream: WebSocket;
  readonly principal: Principal;
  /** `iat` of the browser's token, ms (a subject revocation applies to tokens issued before it). */
  readonly iatMs: number | undefined;
}

/** A close code a websocket may send on (1005, 1006 and 1015 are reserved for "none"/"abnormal"). */
function sendable(code: number): number {
  return code === 1000 ||
    (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code < 5000)
    ? code
    : 1011;
}

/** Relays `/api/media` websockets to the session service's media proxy. */
export class MediaRelay {
  private readonly wss: WebSocketServer;
  private readonly relays = new Set<Relay>();
  private readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

  private constructor(private readonly options: MediaRelayOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayload ?? 128 * 1024,
      handleProtocols: (protocols) => (protocols.has('janus-protocol') ? 'janus-protocol' : false),
    });
    this.onUpgrade = (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://gateway.invalid').pathname !== MEDIA_WS_PATH) return;
      void this.upgrade(req, socket, head).catch((err: unknown) => {
        options.logger.warn({ err }, 'media websocket upgrade failed');
        refuseUpgrade(socket, 500);
      });
    };
    options.server.on('upgrade', this.onUpgrade);
  }

  /** Attaches to an HTTP server's `upgrade` event (only {@link MEDIA_WS_PATH}). Throws nothing. */
  static attach(options: MediaRelayOptions): MediaRelay {
    return new MediaRelay(options);
  }

  /** Open relays. */
  get size(): number {
    return this.relays.size;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const asPatient = url.searchParams.get('as') === 'patient';
    const door = await checkUpgrade(req, url, {
      allowedOrigins: this.options.allowedOrigins,
      tokenVerifier: this.options.tokenVerifier,
      tokenOf: (jar) => jar.get(asPatient ? COOKIES.patient : COOKIES.access),
    });
    if (!door.ok) {
      this.refused(door.refusal);
      refuseUpgrade(socket, door.status);
      return;
    }
    const { token, principal } = door;
    // The session service checks the token again, and the media credential on every request.
    const upstream = new WebSocket(this.options.sessionMediaUrl, 'janus-protocol', {
      headers: { authorization: `Bearer ${token}` },
      maxPayload: 4 * 1024 * 1024,
      handshakeTimeout: 5000,
    });
    const opened = await new Promise<number>((resolve) => {
      upstream.once('open', () => resolve(101));
      upstream.once('unexpected-response', (_r, res) => {
        resolve(res.statusCode === 401 ? 401 : 502);
        upstream.terminate();
      });
      upstream.once('error', () => resolve(502));
    });
    if (opened !== 101) {
      upstream.terminate();
      refuseUpgrade(socket, opened);
      return;
    }
    const { iatMs } = tokenTimes(token);
    this.wss.handleUpgrade(req, socket, head, (browser) =>
      this.relay({ browser, upstream, principal, iatMs }),
    );
  }

  /** Records a refused upgrade (the route and why; no URL, cookie or client address). Never throws. */
  private refused(why: Pick<AccessRefusal, 'kind' | 'code' | 'reason'>, principal?: Principal): void {
    recordUpgradeRefusal(this.options.refusals, MEDIA_WS_PATH, why, principal);
  }

  private relay(relay: Relay): void {
    const { browser, upstream } = relay;
    this.relays.add(relay);
    const pass = (to: WebSocket) => (data: RawData, isBinary: boolean) => {
      if (to.readyState === WebSocket.OPEN) to.send(data, { binary: isBinary });
    };
    browser.on('message', pass(upstream));
    upstream.on('message', pass(browser));
    browser.on('close', (code, reason) => {
      this.relays.delete(relay);
      if (upstream.readyState === WebSocket.OPEN) upstream.close(sendable(code), reason);
      else upstream.terminate();
    });
    upstream.on('close', (code, reason) => {
      this.relays.delete(relay);
      if (browser.readyState === WebSocket.OPEN) browser.close(sendable(code), reason);
      setTimeout(() => browser.terminate(), 2000).unref();
    });
    browser.on('error', () => browser.terminate());
    upstream.on('error', () => upstream.terminate());
  }

  /** A revocation from identity: closes (4401) the relays of that session or subject. Throws nothing. */
  revoked(r: SessionRevoked): void {
    for (const { browser, upstream, principal, iatMs } of this.relays) {
      if (!revocationCovers(r, principal, iatMs)) continue;
      browser.close(4401, r.reason === 'idle' ? 'idle' : 'signed out');
      upstream.terminate();
    }
  }

  /** Closes every relay (1001) and detaches from the server. */
  async close(): Promise<void> {
    this.options.server.off('upgrade', this.onUpgrade);
    for (const { browser, upstream } of this.relays) {
      browser.close(1001, 'going away');
      upstream.terminate();
    }
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
