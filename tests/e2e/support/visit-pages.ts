/**
 * Test web server for the in-visit media page, run inside the network namespace on 127.0.0.1: serves
 * the built visit screen (web/dist, found through Vite's manifest) with styles.css, Debian's janus.js at
 * /vendor/janus.js, a minimal visit
 * page, the raw media test page (tests/support/media/room.*), media/leave endpoints with the gateway's
 * contract (POST, double-submit CSRF, JSON errors `{error:{code,message}}`) whose answers the driver supplies, and
 * the gateway's own media websocket relay at /api/media (services/gateway/src/media-ws.ts) to the session
 * service's media proxy, authenticated by the `haven_access` / `haven_patient` cookies the driver sets.
 * The page is served with the gateway's CSP.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createLogger, listening } from '@haven/service';
import { MediaRelay } from '../../../services/gateway/src/media-ws';

const ROOT = join(__dirname, '..', '..', '..');
/** The built browser app (`npm run build`). */
const WEB = join(ROOT, 'web', 'dist');
const MEDIA = join(ROOT, 'tests', 'support', 'media');
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** The visit screen's entry in the build: its script, the chunks it imports and its stylesheets. */
interface ManifestChunk {
  readonly file: string;
  readonly css?: readonly string[];
  readonly imports?: readonly string[];
}

function visitEntry(): { script: string; files: string[]; css: string[] } {
  const manifest = JSON.parse(readFileSync(join(WEB, '.vite', 'manifest.json'), 'utf8')) as Record<
    string,
    ManifestChunk
  >;
  const entry = manifest['src/visit/mount.tsx'];
  if (!entry) throw new Error('web/dist has no visit screen: run `npm run build`');
  const files = new Set<string>();
  const css = new Set<string>();
  const walk = (chunk: ManifestChunk) => {
    if (files.has(chunk.file)) return;
    files.add(chunk.file);
    for (const c of chunk.css ?? []) css.add(c);
    for (const i of chunk.imports ?? []) if (manifest[i]) walk(manifest[i]);
  };
  walk(entry);
  return { script: entry.file, files: [...files], css: [...css] };
}

function pageFiles(): { files: Record<string, { file: string; type: string }>; page: string } {
  const visit = visitEntry();
  const files: Record<string, { file: string; type: string }> = {
    '/styles.css': { file: join(WEB, 'styles.css'), type: CSS },
    '/vendor/janus.js': { file: '/usr/share/javascript/janus-gateway/janus.js', type: JS },
    '/janus.js': { file: '/usr/share/javascript/janus-gateway/janus.js', type: JS },
    '/room.js': { file: join(MEDIA, 'room.js'), type: JS },
    '/room.html': { file: join(MEDIA, 'room.html'), type: 'text/html; charset=utf-8' },
  };
  for (const f of visit.files) files[`/${f}`] = { file: join(WEB, f), type: JS };
  for (const f of visit.css) files[`/${f}`] = { file: join(WEB, f), type: CSS };
  const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Haven visit</title>
    <link rel="stylesheet" href="/styles.css" />
    ${visit.css.map((c) => `<link rel="stylesheet" href="/${c}" />`).join('\n    ')}
    <script type="module" src="/${visit.script}"></script>
  </head>
  <body>
    <main id="main" class="card"><h1 id="title">Your visit</h1><div id="visit"></div></main>
  </body>
</html>`;
  return { files, page };
}

/** What a media endpoint answers: credentials, or an error status with a message. */
export type MediaAnswer =
  | { readonly ok: true; readonly body: Record<string, unknown> }
  | { readonly ok: false; readonly status: number; readonly message: string };

/** Maps a gRPC failure to the gateway's HTTP error contract. */
export function answerFromError(err: unknown): MediaAnswer {
  const code = (err as { code?: number }).code;
  const message = (err as { details?: string }).details ?? 'error';
  const status =
    code === grpc.status.PERMISSION_DENIED
      ? 403
      : code === grpc.status.FAILED_PRECONDITION
        ? 409
        : code === grpc.status.NOT_FOUND
          ? 404
          : code === grpc.status.UNAUTHENTICATED
            ? 401
            : 503;
  return { ok: false, status, message };
}

/** A running page server. */
export interface VisitPages {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Sets what `POST /api/test/media/<key>` answers. */
  setMedia(key: string, answer: () => Promise<MediaAnswer>): void;
  /** Sets what `POST /api/test/leave/<key>` does. */
  setLeave(key: string, action: () => Promise<void>): void;
  /** Requests to the media endpoints that carried a valid CSRF header / that did not. */
  readonly csrf: { ok: number; missing: number };
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** Starts the server on 127.0.0.1 (OS-chosen port), relaying /api/media to `sessionMediaUrl`. */
export async function startVisitPages(sessionMediaUrl: string): Promise<VisitPages> {
  const media = new Map<string, () => Promise<MediaAnswer>>();
  const leave = new Map<string, () => Promise<void>>();
  const csrf = { ok: 0, missing: 0 };
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "media-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

  const { files: FILES, page: PAGE } = pageFiles();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' && path === '/visit.html') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'set-cookie': `haven_csrf=${randomBytes(32).toString('base64url')}; Path=/; SameSite=Strict`,
        'cache-control': 'no-store',
      });
      res.end(PAGE);
      return;
    }
    const file = FILES[path];
    if (req.method === 'GET' && file) {
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
      res.end(readFileSync(file.file));
      return;
    }
    const m = /^\/api\/test\/(media|leave)\/([a-z0-9-]+)$/.exec(path);
    if (req.method === 'POST' && m) {
      req.resume();
      const cookie = cookieOf(req, 'haven_csrf');
      const header = req.headers['x-csrf-token'];
      if (!cookie || header !== cookie) {
        csrf.missing += 1;
        json(res, 403, { error: { code: 'CSRF', message: 'Missing CSRF token.' } });
        return;
      }
      csrf.ok += 1;
      const key = m[2] ?? '';
      if (m[1] === 'leave') {
        void (leave.get(key)?.() ?? Promise.resolve()).then(
          () => json(res, 200, {}),
          () => json(res, 503, { error: { code: 'UNAVAILABLE', message: 'leave failed' } }),
        );
        return;
      }
      const handler = media.get(key);
      if (!handler) {
        json(res, 404, { error: { code: 'NOT_FOUND', message: 'no such media endpoint' } });
        return;
      }
      handler().then(
        (a) =>
          a.ok
            ? json(res, 200, { iceServers: [], ...a.body })
            : json(res, a.status, { error: { code: String(a.status), message: a.message } }),
        (err: unknown) => {
          const a = answerFromError(err);
          json(res, a.ok ? 200 : a.status, { error: { code: 'ERROR', message: a.ok ? '' : a.message } });
        },
      );
      return;
    }
    res.writeHead(404).end();
  });
  // Every socket, upgraded ones included (closeAllConnections leaves those out), so that close() ends them all.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const relay = MediaRelay.attach({
    server,
    sessionMediaUrl,
    logger: createLogger({ service: 'visit-pages', level: 'silent' }),
  });
  const port = await listening(server, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    setMedia: (key, answer) => media.set(key, answer),
    setLeave: (key, action) => leave.set(key, action),
    csrf,
    close: async () => {
      await relay.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

/**
 * Wraps RTCPeerConnection in the page (add with `context.addInitScript`) so a test can sum inbound RTP over
 * EVERY peer connection the page ever made: `window.__havenInbound()` → {bytes, packets, framesDecoded}.
 */
export const TRACK_PEER_CONNECTIONS = `(() => {
  const Orig = window.RTCPeerConnection;
  if (!Orig || window.__havenPcs) return;
  window.__havenPcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Orig(...args);
    window.__havenPcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Orig.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Orig);
  window.__havenInbound = async () => {
    const out = { bytes: 0, packets: 0, framesDecoded: 0, pcs: window.__havenPcs.length };
    for (const pc of window.__havenPcs) {
      let report;
      try { report = await pc.getStats(); } catch { continue; }
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        out.bytes += s.bytesReceived || 0;
        out.packets += s.packetsReceived || 0;
        out.framesDecoded += s.framesDecoded || 0;
      });
    }
    return out;
  };
})();`;
