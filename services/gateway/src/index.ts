import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { credentials } from '@grpc/grpc-js';
import { EventBus } from '@haven/bus';
import { ConsumerHealth, HavenStream } from '@haven/eventstore';
import { audit, identity, passkeys, recording, scheduling, session } from '@haven/proto';
import {
  RevocationFeed,
  connectEventStore,
  createAccessRefusalRecorder,
  createJwtVerifier,
  createLogger,
  createVerifierFromConfig,
  loadSsoConfig,
  awaitNatsAtStart,
  installSignalHandlers,
  listening,
  mutualTlsOf,
  natsCredentialsOf,
  serializeError,
  PATIENT_TOKEN_ISSUER,
} from '@haven/service';
import type { Logger, TokenVerifier } from '@haven/service';
import { createGatewayApp } from './app';
import { followGatewayClinicSettings, idleTimeoutSecOf } from './idle-timeout';
import type { GatewayAppConfig } from './app';
import { loadGatewayConfig } from './config';
import { gatewaySsoOptions } from './sso';
import { MediaRelay } from './media-ws';
import { subscribeHubFeeds } from './hub-feed';
import { WsHub } from './ws';

type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

/** NATS down or streams not provisioned yet: wait instead of exiting (the HTTP port opens once it is there). */
async function awaitNats(config: GatewayConfig, logger: Logger): Promise<void> {
  if (!config.NATS_URL) return;
  await awaitNatsAtStart({
    name: 'gateway',
    config: { ...config, NATS_URL: config.NATS_URL },
    logger,
    streams: [
      ...(config.HAVEN_EVENT_STORE === 'kurrentdb' ? [] : [HavenStream.EventStore]),
      HavenStream.Bus,
      HavenStream.Revocations,
    ],
  });
}

/**
 * The gRPC clients of every service the gateway calls: over mutual TLS when the gateway has a certificate
 * (each server must prove it is the service it is called as), plaintext otherwise (a warning).
 */
function createClients(config: GatewayConfig, logger: Logger) {
  const tls = mutualTlsOf(config, { logger });
  if (!tls) logger.warn('HAVEN_TLS_*_FILE are not set: the gateway calls the services without TLS');
  const credentialsFor = (server: string) =>
    tls ? tls.channelCredentials({ server }) : credentials.createInsecure();
  return {
    identity: new identity.IdentityServiceClient(config.HAVEN_IDENTITY_GRPC_ADDR, credentialsFor('identity')),
    passkeys: new passkeys.PasskeyServiceClient(config.HAVEN_IDENTITY_GRPC_ADDR, credentialsFor('identity')),
    scheduling: new scheduling.SchedulingServiceClient(
      config.HAVEN_SCHEDULING_GRPC_ADDR,
      credentialsFor('scheduling'),
    ),
    session: new session.SessionServiceClient(config.HAVEN_SESSION_GRPC_ADDR, credentialsFor('session')),
    audit: new audit.AuditServiceClient(config.HAVEN_AUDIT_GRPC_ADDR, credentialsFor('audit')),
    recording: new recording.RecordingServiceClient(
      config.HAVEN_RECORDING_GRPC_ADDR,
      credentialsFor('recording'),
    ),
  };
}

/** Identity's verifier (with the revocation feed), else the patient-token verifier, else none (a warning). */
function createTokenVerifier(
  config: GatewayConfig,
  revocations: RevocationFeed | undefined,
  logger: Logger,
): TokenVerifier | undefined {
  let tokenVerifier: TokenVerifier | undefined;
  if (config.HAVEN_JWKS_URL) {
    tokenVerifier = createVerifierFromConfig(config, revocations ? { revocations } : {});
  } else if (config.HAVEN_PATIENT_JWKS_URL) {
    tokenVerifier = createJwtVerifier({
      jwksUrl: config.HAVEN_PATIENT_JWKS_URL,
      issuer: PATIENT_TOKEN_ISSUER,
      audience: config.HAVEN_JWT_AUDIENCE,
    });
  }
  if (!tokenVerifier)
    logger.warn('HAVEN_JWKS_URL is not set: the gateway reads token claims without verifying them');
  return tokenVerifier;
}

/** Listens on the configured host and port (with header and request timeouts). Rejects when it cannot. */
async function listen(server: Server, config: GatewayConfig, logger: Logger): Promise<void> {
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  const port = await listening(server, config.HAVEN_HTTP_PORT, config.HAVEN_HTTP_HOST);
  logger.info(
    { port, host: config.HAVEN_HTTP_HOST, cookieSecure: config.HAVEN_COOKIE_SECURE },
    'gateway listening',
  );
}

/** What createGatewayApp needs from the configuration. */
function appConfigOf(config: GatewayConfig): GatewayAppConfig {
  return {
    cookieSecure: config.HAVEN_COOKIE_SECURE,
    webRoot: config.HAVEN_WEB_ROOT,
    trustProxyHops: config.HAVEN_TRUST_PROXY_HOPS,
    trustedProxies: config.HAVEN_TRUSTED_PROXIES,
    ...(config.HAVEN_FORWARDER_SECRET !== undefined
      ? { forwarderSecret: config.HAVEN_FORWARDER_SECRET }
      : {}),
    janusJsPath: config.HAVEN_JANUS_JS,
    idleTimeoutSec: config.HAVEN_IDLE_TIMEOUT_SEC,
    chatFileMaxBytes: config.HAVEN_CHAT_FILE_MAX_BYTES,
    ...(config.HAVEN_DEV_MAIL_URL !== undefined ? { devMailUrl: config.HAVEN_DEV_MAIL_URL } : {}),
    ...(config.HAVEN_PATIENT_JWKS_URL !== undefined
      ? { emailUnsubscribeUrl: new URL('/email/unsubscribe', config.HAVEN_PATIENT_JWKS_URL).toString() }
      : {}),
    ...(config.HAVEN_SSO_CONFIG_FILE !== undefined && config.HAVEN_PUBLIC_URL !== undefined
      ? {
          sso: gatewaySsoOptions(loadSsoConfig(config.HAVEN_SSO_CONFIG_FILE), config.HAVEN_PUBLIC_URL),
        }
      : {}),
  };
}

/**
 * The gateway's own refusals (cookie, CSRF, role, WebSocket upgrade) go to the event store like every
 * service's: `security.refusals_gateway-<hour>`, appended with the gateway's own store connection.
 */
async function connectRefusals(config: GatewayConfig, withNats: boolean, logger: Logger) {
  const store =
    config.HAVEN_EVENT_STORE === 'kurrentdb' || withNats
      ? await connectEventStore({ ...config, NATS_URL: config.NATS_URL ?? '' }, 'gateway', { logger })
      : undefined;
  if (!store) logger.warn('no event store (NATS_URL unset): the gateway does not record its refusals');
  const refusals = store ? createAccessRefusalRecorder({ store, service: 'gateway', logger }) : undefined;
  return { store, refusals };
}

/** Stops accepting connections; open ones are cut after `graceMs`. */
function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** The hub's bus feeds (hub-feed.ts) on a connection of their own; none without NATS. */
async function subscribeSessionEvents(
  nats: (ReturnType<typeof natsCredentialsOf> & { replicas: number }) | undefined,
  options: { consumers: ConsumerHealth; hub: WsHub; logger: Logger },
) {
  const { consumers, hub, logger } = options;
  const bus = nats ? await EventBus.connect({ ...nats, name: 'haven-gateway', logger }) : undefined;
  const durable = `gateway-${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}`;
  const subscription = bus ? await subscribeHubFeeds(bus, hub, { durable, health: consumers }) : undefined;
  if (!bus) logger.warn('NATS_URL is not set: the WebSocket gets no live visit updates');
  return { bus, subscription };
}

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  await awaitNats(config, logger);
  const clients = createClients(config, logger);
  const nats = config.NATS_URL
    ? {
        ...natsCredentialsOf({ ...config, NATS_URL: config.NATS_URL }),
        replicas: config.HAVEN_JETSTREAM_REPLICAS,
      }
    : undefined;
  // The revocation feed and the bus subscription heal themselves after a NATS outage; /readyz fails while
  // either is down or behind.
  const consumers = new ConsumerHealth();
  const revocations = nats ? await RevocationFeed.connect({ ...nats, logger, health: consumers }) : undefined;
  const tokenVerifier = createTokenVerifier(config, revocations, logger);

  const { store, refusals } = await connectRefusals(config, nats !== undefined, logger);
  // The clinic's idle timeout (an admin's ClinicSettingsChanged over HAVEN_IDLE_TIMEOUT_SEC), followed so /api/me
  // and the live channel's idle sign-out apply a change without a restart.
  const clinicSettings = store
    ? await followGatewayClinicSettings(store, { health: consumers, logger })
    : undefined;
  const idleTimeoutSec = idleTimeoutSecOf(clinicSettings, config.HAVEN_IDLE_TIMEOUT_SEC);

  const server = createServer();
  const hub = WsHub.attach({
    refusals,
    server,
    clients,
    logger,
    tokenVerifier,
    idleTimeoutMs: () => idleTimeoutSec() * 1000,
    allowedOrigins: config.HAVEN_ALLOWED_ORIGINS,
  });
  const app = createGatewayApp({
    clients,
    logger,
    config: appConfigOf(config),
    media: hub,
    ...(refusals ? { refusals } : {}),
    consumers,
    ...(tokenVerifier ? { tokenVerifier } : {}),
    ...(clinicSettings ? { clinicSettings } : {}),
  });
  const media = MediaRelay.attach({
    refusals,
    server,
    sessionMediaUrl: config.HAVEN_SESSION_MEDIA_URL,
    logger,
    tokenVerifier,
    allowedOrigins: config.HAVEN_ALLOWED_ORIGINS,
  });
  server.on('request', app);
  const unsubscribeRevocations = revocations?.onRevoked((r) => {
    hub.revoked(r);
    media.revoked(r);
  });

  const { bus, subscription } = await subscribeSessionEvents(nats, { consumers, hub, logger });

  await listen(server, config, logger);

  installSignalHandlers(
    [
      () => hub.close(),
      () => media.close(),
      () => closeServer(server, config.HAVEN_SHUTDOWN_GRACE_MS),
      async () => {
        await subscription?.close();
        await bus?.close();
        unsubscribeRevocations?.();
        await revocations?.close();
        await refusals?.flush();
        await clinicSettings?.close();
        await store?.close();
      },
      async () => {
        clients.identity.close();
        clients.passkeys.close();
        clients.scheduling.close();
        clients.session.close();
        clients.audit.close();
        clients.recording.close();
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
