/**
 * The session service's HTTP port: Janus's HTTP event handler posts to `/janus-events` (videoroom publisher
 * joins and leaves, handed on in order), and websocket upgrades on one path go to the media proxy.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { listening, type Logger } from '@haven/service';
import { videoRoomMediaEvents, type VideoRoomMediaEvent } from './janus-events';

/** Options of {@link startJanusEventsServer}. */
export interface JanusEventsServerOptions {
  readonly port: number;
  readonly host: string;
  /**
   * The password Janus sends (HTTP Basic, user `janus`); posts without it are refused with 401. Undefined:
   * posts are accepted from anyone who can reach the port (a warning says so).
   */
  readonly secret: string | undefined;
  /** Called with each post's media events, one post after the other; a rejection is logged. */
  readonly onMediaEvents: (events: readonly VideoRoomMediaEvent[]) => Promise<void>;
  /** Websocket upgrades on `path` go to `handle`; any other upgrade is answered 404. */
  readonly upgrade: {
    readonly path: string;
    readonly handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  };
  readonly logger: Logger;
}

/** A listening events server. */
export interface JanusEventsServer {
  readonly server: Server;
  /** Settles once every media event received so far has been handed on. */
  drained(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY = 1_000_000;

/** Constant-time comparison of a received Authorization header with the expected one. */
function sameSecret(received: string | undefined, expected: Buffer): boolean {
  const got = Buffer.from(received ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string> = {},
) {
  req.resume();
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end();
}

/** Reads a JSON body of at most {@link MAX_BODY} bytes (413 beyond, 400 when it is not JSON), then answers 204. */
function readJsonBody(req: IncomingMessage, res: ServerResponse, onBody: (body: unknown) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      res.statusCode = 413;
      res.end();
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.statusCode = 400;
      res.end();
      return;
    }
    res.statusCode = 204;
    res.end();
    onBody(body);
  });
}

/** Starts the events server; resolves once it listens. */
export async function startJanusEventsServer(options: JanusEventsServerOptions): Promise<JanusEventsServer> {
  const { logger } = options;
  let mediaQueue: Promise<void> = Promise.resolve();
  const authorization =
    options.secret !== undefined
      ? Buffer.from(`Basic ${Buffer.from(`janus:${options.secret}`).toString('base64')}`)
      : undefined;
  if (!authorization) {
    logger.warn('HAVEN_JANUS_EVENTS_SECRET is not set: /janus-events accepts posts without authentication');
  }
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/janus-events') return refuse(req, res, 404);
    if (authorization && !sameSecret(req.headers.authorization, authorization)) {
      return refuse(req, res, 401, { 'www-authenticate': 'Basic realm="janus-events"' });
    }
    readJsonBody(req, res, (body) => {
      const events = videoRoomMediaEvents(body);
      if (events.length === 0) return;
      mediaQueue = mediaQueue
        .then(() => options.onMediaEvents(events))
        .catch((error: unknown) => logger.warn({ err: error }, 'janus events not processed'));
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://session.invalid').pathname === options.upgrade.path) {
      options.upgrade.handle(req, socket, head);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  await listening(server, options.port, options.host);
  return {
    server,
    drained: () => mediaQueue,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
