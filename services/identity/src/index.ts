/**
 * The identity service: `node services/identity/dist/index.js`.
 * gRPC on HAVEN_GRPC_PORT (20051), JWKS over HTTP on HAVEN_HTTP_PORT (8081).
 */
import { EventBus, startRelay } from '@haven/bus';
import { ConsumerHealth, type Subscription } from '@haven/eventstore';
import { PROTO_FILES, PROTO_ROOT } from '@haven/proto';
import {
  createLogger,
  awaitNatsAtStart,
  installSignalHandlers,
  mutualTlsOf,
  natsCredentialsOf,
  createAccessRefusalRecorder,
  sharedSecretForwarderTrust,
  startGrpcService,
  startJwksServer,
  type JwksServer,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { identityGrpcServices, PUBLIC_METHODS } from './grpc';
import { loadIdentityConfig, type IdentityConfig } from './config';
import { CredentialStore } from './credential/credential-store';
import { resealPlaintextCredentials } from './credential/reseal-plaintext';
import { startIdleSweeper, sweepIntervalMs, type IdleSweeper } from './session/idle-sweeper';
import { createIdentityRuntime, type IdentityRuntime } from './wiring';

export { IdentityApp } from './identity-app';
export type { IdentityAppOptions } from './identity-app';
export { MFA_ENROLL_SCOPE } from './tokens/tokens';
export { BREAK_GLASS_SCOPE } from '@haven/service';
export { LOGIN_FAILED_MESSAGE } from './session/session-service';
export type { LoginResult, TokenSetView } from './session/session-service';
export { SERVICE_ACCOUNT_TOKEN_TTL_SEC } from './service-account/service-account-service';
export type { ServiceAccountView } from './service-account/service-account-service';
export type { RevocationSink } from './shared/revocation';
export type { UserView } from './user/view';
export { identityConfigSchema, loadIdentityConfig } from './config';
export type { IdentityConfig } from './config';
export { createIdentityRuntime } from './wiring';
export type { IdentityRuntime } from './wiring';

/** A running identity service. */
export interface RunningIdentityService {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly jwksUrl: string;
  readonly runtime: IdentityRuntime;
  stop(): Promise<void>;
}

/** The running parts of the service, in the order they start. */
interface Parts {
  bus?: EventBus;
  relay?: Subscription;
  sweeper?: IdleSweeper;
  jwks?: JwksServer;
  grpc?: RunningGrpcService;
}

/** Starts the service from a parsed config; `host` defaults to all interfaces (tests pass 127.0.0.1). */
export async function startIdentityService(
  config: IdentityConfig,
  options: { logger: Logger; host?: string },
): Promise<RunningIdentityService> {
  // The relay, the idle sweeper and the clinic-settings feed heal themselves after a NATS outage; while one is
  // down or behind identity is NOT_SERVING.
  const consumers = new ConsumerHealth();
  const runtime = await createIdentityRuntime(config, {
    logger: options.logger,
    clinicSettings: { health: consumers },
  });
  const parts: Parts = {};
  let jwks: JwksServer;
  let grpc: RunningGrpcService;
  try {
    // Secrets written in the clear by an older version are sealed before anyone signs in (ADR 0006).
    await resealPlaintextCredentials({
      store: runtime.store,
      credentials: new CredentialStore(runtime.store, runtime.sealer),
      logger: options.logger,
    });
    await startFollowers(parts, runtime, config, { logger: options.logger, consumers });
    jwks = parts.jwks = await startJwksServer({
      port: config.HAVEN_HTTP_PORT,
      jwks: () => runtime.keys.jwks(),
      ...(options.host ? { host: options.host } : {}),
    });
    grpc = parts.grpc = await startIdentityGrpc(runtime, config, { ...options, consumers });
  } catch (error) {
    await stopParts(parts, runtime);
    throw error;
  }
  options.logger.info({ httpPort: jwks.port }, 'JWKS served at /.well-known/jwks.json');
  let stopped: Promise<void> | undefined;
  return {
    grpcPort: grpc.port,
    httpPort: jwks.port,
    jwksUrl: jwks.url,
    runtime,
    stop: () => (stopped ??= stopParts(parts, runtime)),
  };
}

/**
 * The bus relay and the idle sweeper. User, role, MFA, service-account and alert events fan out on
 * haven.bus.identity.*; credentials (password hashes, TOTP secrets), sessions (refresh-token digests) and
 * break-glass grants (the written reason) stay in the store only.
 */
async function startFollowers(
  parts: Parts,
  runtime: IdentityRuntime,
  config: IdentityConfig,
  options: { logger: Logger; consumers: ConsumerHealth },
): Promise<void> {
  parts.bus = await EventBus.connect({
    ...natsCredentialsOf(config),
    name: 'haven-identity-bus',
    replicas: config.HAVEN_JETSTREAM_REPLICAS,
    logger: options.logger,
  });
  parts.relay = await startRelay({
    store: runtime.store,
    bus: parts.bus,
    context: 'identity',
    excludeAggregates: ['credential', 'session', 'breakglass'],
    logger: options.logger,
    health: options.consumers,
  });
  // Idle logoff: sessions end at identity when their idle or absolute lifetime is over, revoked at once.
  parts.sweeper = await startIdleSweeper({
    store: runtime.store,
    expire: (sid) => runtime.app.sessions.expireSession(sid),
    intervalMs: () => sweepIntervalMs(runtime.app.sessionPolicy().idleTimeoutMs),
    policy: runtime.app.sessionPolicy,
    logger: options.logger,
    health: options.consumers,
  });
}

/** The gRPC server: the IdentityService of every slice, access refusals recorded in the store. */
function startIdentityGrpc(
  runtime: IdentityRuntime,
  config: IdentityConfig,
  options: { logger: Logger; host?: string; consumers: ConsumerHealth },
): Promise<RunningGrpcService> {
  const refusals = createAccessRefusalRecorder({
    store: runtime.store,
    service: 'identity',
    logger: options.logger,
  });
  const mtls = mutualTlsOf(config, { logger: options.logger });
  if (!mtls) options.logger.warn('HAVEN_TLS_*_FILE are not set: gRPC without TLS');
  return startGrpcService({
    name: 'identity',
    onAccessRefused: refusals.record,
    ...(mtls ? { mtls } : {}),
    ...(config.HAVEN_GRPC_HEALTH_PORT !== undefined ? { healthPort: config.HAVEN_GRPC_HEALTH_PORT } : {}),
    port: config.HAVEN_GRPC_PORT,
    ...(options.host ? { host: options.host } : {}),
    services: identityGrpcServices({
      app: runtime.app,
      verifier: runtime.verifier,
      ...(config.HAVEN_FORWARDER_SECRET !== undefined
        ? { forwarders: sharedSecretForwarderTrust(config.HAVEN_FORWARDER_SECRET) }
        : {}),
    }),
    auth: { verifier: runtime.verifier, publicMethods: PUBLIC_METHODS },
    logger: options.logger,
    protoFiles: { root: PROTO_ROOT, files: PROTO_FILES.filter((f) => f.includes('identity')) },
    shutdownGraceMs: config.HAVEN_SHUTDOWN_GRACE_MS,
    consumers: options.consumers,
  });
}

/** Stops what started, in the order the service always has: gRPC first, the runtime last. */
async function stopParts(parts: Parts, runtime: IdentityRuntime): Promise<void> {
  await parts.grpc?.stop();
  await parts.sweeper?.close();
  await parts.jwks?.close();
  await parts.relay?.close();
  await parts.bus?.close();
  await runtime.close();
}

async function main(): Promise<void> {
  const config = loadIdentityConfig();
  const logger = createLogger({ service: 'identity', level: config.LOG_LEVEL });
  // NATS down or streams not provisioned yet: wait (health NOT_SERVING) instead of exiting.
  await awaitNatsAtStart({ name: 'identity', config, logger, grpcPort: config.HAVEN_GRPC_PORT });
  const service = await startIdentityService(config, { logger });
  installSignalHandlers([() => service.stop()], { logger });
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`identity: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
