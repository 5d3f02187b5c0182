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
  natsCredentialsOf,
  createAccessRefusalRecorder,
  sharedSecretForwarderTrust,
  startGrpcService,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { identityGrpcService, PUBLIC_METHODS } from './grpc';
import { loadIdentityConfig, type IdentityConfig } from './config';
import { CredentialStore } from './credential/credential-store';
import { resealPlaintextCredentials } from './credential/reseal-plaintext';
import { startIdleSweeper, sweepIntervalMs, type IdleSweeper } from './session/idle-sweeper';
import { startJwksServer, type JwksServer } from './tokens/jwks-server';
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

/** Starts the service from a parsed config; `host` defaults to all interfaces (tests pass 127.0.0.1). */
export async function startIdentityService(
  config: IdentityConfig,
  options: { logger: Logger; host?: string },
): Promise<RunningIdentityService> {
  const runtime = await createIdentityRuntime(config, { logger: options.logger });
  let jwks: JwksServer | undefined;
  let grpc: RunningGrpcService | undefined;
  let bus: EventBus | undefined;
  let relay: Subscription | undefined;
  let sweeper: IdleSweeper | undefined;
  // The relay and the idle sweeper heal themselves after a NATS outage; while one is down or behind identity is
  // NOT_SERVING.
  const consumers = new ConsumerHealth();
  try {
    // Secrets written in the clear by an older version are sealed before anyone signs in (ADR 0006).
    await resealPlaintextCredentials({
      store: runtime.store,
      credentials: new CredentialStore(runtime.store, runtime.sealer),
      logger: options.logger,
    });
    // User, role, MFA, service-account and alert events fan out on haven.bus.identity.*; credentials (password
    // hashes, TOTP secrets), sessions (refresh-token digests) and break-glass grants (the written reason) stay
    // in the store only.
    bus = await EventBus.connect({
      ...natsCredentialsOf(config),
      name: 'haven-identity-bus',
      replicas: config.HAVEN_JETSTREAM_REPLICAS,
      logger: options.logger,
    });
    relay = await startRelay({
      store: runtime.store,
      bus,
      context: 'identity',
      excludeAggregates: ['credential', 'session', 'breakglass'],
      logger: options.logger,
      health: consumers,
    });
    // Idle logoff: sessions end at identity when their idle or absolute lifetime is over, revoked at once.
    sweeper = await startIdleSweeper({
      store: runtime.store,
      expire: (sid) => runtime.app.sessions.expireSession(sid),
      intervalMs: sweepIntervalMs(runtime.app.policies.session.idleTimeoutMs),
      logger: options.logger,
      health: consumers,
    });
    jwks = await startJwksServer({
      port: config.HAVEN_HTTP_PORT,
      jwks: () => runtime.keys.jwks(),
      ...(options.host ? { host: options.host } : {}),
    });
    const protoFiles = PROTO_FILES.filter((f) => f.includes('identity'));
    const refusals = createAccessRefusalRecorder({
      store: runtime.store,
      service: 'identity',
      logger: options.logger,
    });
    grpc = await startGrpcService({
      name: 'identity',
      onAccessRefused: refusals.record,
      port: config.HAVEN_GRPC_PORT,
      ...(options.host ? { host: options.host } : {}),
      services: [
        identityGrpcService({
          app: runtime.app,
          verifier: runtime.verifier,
          ...(config.HAVEN_FORWARDER_SECRET !== undefined
            ? { forwarders: sharedSecretForwarderTrust(config.HAVEN_FORWARDER_SECRET) }
            : {}),
        }),
      ],
      auth: { verifier: runtime.verifier, publicMethods: PUBLIC_METHODS },
      logger: options.logger,
      protoFiles: { root: PROTO_ROOT, files: protoFiles },
      shutdownGraceMs: config.HAVEN_SHUTDOWN_GRACE_MS,
      consumers,
    });
  } catch (error) {
    await sweeper?.close();
    await jwks?.close();
    await relay?.close();
    await bus?.close();
    await runtime.close();
    throw error;
  }
  const busConnection = bus;
  const busRelay = relay;
  const idleSweeper = sweeper;
  const grpcServer = grpc;
  const jwksServer = jwks;
  options.logger.info({ httpPort: jwksServer.port }, 'JWKS served at /.well-known/jwks.json');
  let stopped: Promise<void> | undefined;
  return {
    grpcPort: grpcServer.port,
    httpPort: jwksServer.port,
    jwksUrl: jwksServer.url,
    runtime,
    stop: () =>
      (stopped ??= (async () => {
        await grpcServer.stop();
        await idleSweeper.close();
        await jwksServer.close();
        await busRelay.close();
        await busConnection.close();
        await runtime.close();
      })()),
  };
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
