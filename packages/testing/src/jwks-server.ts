/**
 * A JWKS endpoint for tests: serves key sets over HTTP on 127.0.0.1 (a free port), as the identity and
 * scheduling services do, so services under test verify tokens against it exactly as in production.
 */
import { createServer } from 'node:http';
import { listening } from '@haven/service';

/** A running key-set server. */
export interface JwksServer {
  /** `http://127.0.0.1:<port>/.well-known/jwks.json`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`, for other paths when `jwks` is a function. */
  readonly origin: string;
  close(): Promise<void>;
}

/** Serves `jwks` (or `jwks(path)` for each request path) as JSON. Resolves once listening. */
export async function serveJwks(jwks: object | ((path: string) => object)): Promise<JwksServer> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(typeof jwks === 'function' ? jwks(req.url ?? '/') : jwks));
  });
  const origin = `http://127.0.0.1:${await listening(server, 0, '127.0.0.1')}`;
  return {
    origin,
    url: `${origin}/.well-known/jwks.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
