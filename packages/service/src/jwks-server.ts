/**
 * The small HTTP server a token issuer runs beside its gRPC server: its public key set at
 * `/.well-known/jwks.json` (identity's access tokens, scheduling's patient tokens) and a liveness probe at
 * `/healthz`. Plain HTTP: the keys are public, and verifiers reach it inside the cluster.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import { listening } from './listening';
import type { Logger } from './logger';

/** Path of the key set. */
export const JWKS_PATH = '/.well-known/jwks.json';

/** Options of {@link startJwksServer}. */
export interface JwksServerOptions {
  /** Port to bind; 0 for any free one. */
  readonly port: number;
  /** Interface to bind; default all (`0.0.0.0`). */
  readonly host?: string | undefined;
  /** The key set, or a function read at each request (a key set that rotates). */
  readonly jwks: JSONWebKeySet | (() => JSONWebKeySet);
  /** Told the port once listening, when given. */
  readonly logger?: Logger | undefined;
  /**
   * More routes by exact path (any method; each answers for itself), such as a provider's inbound webhook.
   * They cannot replace the key set or the probe.
   */
  readonly routes?: ReadonlyMap<string, RequestListener> | undefined;
}

/** A running {@link startJwksServer}. */
export interface JwksServer {
  readonly port: number;
  /** `http://<host>:<port>/.well-known/jwks.json` (127.0.0.1 when bound to all interfaces). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the key set (GET and HEAD; 405 for other methods, 404 for other paths) with
 * `application/jwk-set+json`, five minutes of public caching and `nosniff`. Throws when the port cannot be bound.
 */
export async function startJwksServer(options: JwksServerOptions): Promise<JwksServer> {
  const jwks = options.jwks;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = path === JWKS_PATH || path === '/healthz' ? undefined : options.routes?.get(path);
    if (route) {
      route(req, res);
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === JWKS_PATH) {
      const body = JSON.stringify(typeof jwks === 'function' ? jwks() : jwks);
      res
        .writeHead(200, {
          'content-type': 'application/jwk-set+json',
          'cache-control': 'public, max-age=300',
          'content-length': Buffer.byteLength(body),
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
  const port = await listening(server, options.port, options.host ?? '0.0.0.0');
  options.logger?.info({ port }, 'JWKS served over HTTP');
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
