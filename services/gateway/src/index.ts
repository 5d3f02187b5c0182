import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { identity, scheduling } from '@haven/proto';
import { createJwtVerifier, createLogger, installSignalHandlers, serializeError } from '@haven/service';
import { createGatewayApp } from './app';
import { loadGatewayConfig } from './config';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const clients = {
    identity: new identity.IdentityServiceClient(
      config.HAVEN_IDENTITY_GRPC_ADDR,
      credentials.createInsecure(),
    ),
    scheduling: new scheduling.SchedulingServiceClient(
      config.HAVEN_SCHEDULING_GRPC_ADDR,
      credentials.createInsecure(),
    ),
  };
  const tokenVerifier = config.HAVEN_JWKS_URL
    ? createJwtVerifier({
        jwksUrl: config.HAVEN_JWKS_URL,
        issuer: config.HAVEN_JWT_ISSUER,
        audience: config.HAVEN_JWT_AUDIENCE,
      })
    : undefined;
  if (!tokenVerifier)
    logger.warn('HAVEN_JWKS_URL is not set: /api/me shows token claims without verifying them');
  const app = createGatewayApp({
    clients,
    logger,
    config: {
      cookieSecure: config.HAVEN_COOKIE_SECURE,
      webRoot: config.HAVEN_WEB_ROOT,
      trustProxyHops: config.HAVEN_TRUST_PROXY_HOPS,
    },
    ...(tokenVerifier ? { tokenVerifier } : {}),
  });
  const server = createServer(app);
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.HAVEN_HTTP_PORT, config.HAVEN_HTTP_HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.info(
    { port, host: config.HAVEN_HTTP_HOST, cookieSecure: config.HAVEN_COOKIE_SECURE },
    'gateway listening',
  );

  installSignalHandlers(
    [
      () =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => server.closeAllConnections(), config.HAVEN_SHUTDOWN_GRACE_MS);
          timer.unref();
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
          server.closeIdleConnections();
        }),
      async () => {
        clients.identity.close();
        clients.scheduling.close();
      },
    ],
    { logger },
  );
}

main().catch((err: unknown) => {
  // The logger may not exist yet (bad configuration): write one JSON line to stderr and exit.
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', service: 'gateway', msg: err instanceof Error ? err.message : 'failed to start', err: serializeError(err) })}\n`,
  );
  process.exit(1);
});
