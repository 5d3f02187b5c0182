/**
 * Scheduling's small HTTP server: the patient-token JWKS at `/.well-known/jwks.json` and a liveness probe.
 */
import { createServer, type Server } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from '@haven/service';

export const JWKS_PATH = '/.well-known/jwks.json';

/** A running HTTP server. */
export interface RunningHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves the JWKS on `port` (0 = ephemeral). Throws when the port cannot be bound. */
export async function startJwksServer(options: {
  port: number;
  host?: string;
  jwks: JSONWebKeySet;
  logger: Logger;
}): Promise<RunningHttpServer> {
  const body = JSON.stringify(options.jwks);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === JWKS_PATH) {
      res
        .writeHead(200, {
          'content-type': 'application/jwk-set+json',
          'cache-control': 'public, max-age=300',
          'x-content-type-options': 'nosniff',
        })
        .end(req.method === 'HEAD' ? undefined : body);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  options.logger.info({ port }, 'patient-token JWKS served over HTTP');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
