/** Serves the JWKS over plain HTTP at /.well-known/jwks.json (and /healthz). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Jwks } from './keys';

export interface JwksServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Path of the key set. */
export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * Starts the HTTP server on `port` (0 = any) and `host` (default all interfaces).
 * Rejects when the port cannot be bound.
 */
export async function startJwksServer(options: {
  port: number;
  host?: string;
  jwks: () => Jwks;
}): Promise<JwksServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === JWKS_PATH) {
      const body = JSON.stringify(options.jwks());
      res.writeHead(200, {
        'content-type': 'application/jwk-set+json',
        'cache-control': 'public, max-age=300',
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${JWKS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
