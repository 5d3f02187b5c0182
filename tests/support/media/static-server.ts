/**
 * Test helper: a tiny static server for the media test pages (room.html, room.js) and the Debian janus.js.
 * Serves a fixed allow-list of files only. Run it inside the network namespace, on 127.0.0.1.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { listening } from '@haven/service';

/** Browser janus.js from the libjs-janus-gateway package. */
export const JANUS_JS_PATH = '/usr/share/javascript/janus-gateway/janus.js';

const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/room.html': { file: join(__dirname, 'room.html'), type: 'text/html; charset=utf-8' },
  '/room.js': { file: join(__dirname, 'room.js'), type: 'text/javascript; charset=utf-8' },
  '/janus.js': { file: JANUS_JS_PATH, type: 'text/javascript; charset=utf-8' },
};

/** A running static server. */
export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the server on 127.0.0.1 and an OS-chosen port. Throws Error when it cannot bind.
 */
export async function startStaticServer(): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const entry = FILES[path];
    if (req.method !== 'GET' || entry === undefined) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-store' })
      .end(readFileSync(entry.file));
  });
  const port = await listening(server, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
