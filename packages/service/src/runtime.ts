import { createEventStore, type EventStore } from '@haven/eventstore';
import { PROTO_FILES, PROTO_ROOT } from '@haven/proto';
import type { BaseConfig } from './config';
import { startGrpcService, type RunningGrpcService, type ServiceRegistration } from './grpc-server';
import { createVerifierFromConfig } from './jwt';
import type { Logger } from './logger';

/**
 * The event store the configuration selects (HAVEN_EVENT_STORE): JetStream at NATS_URL (default) or KurrentDB
 * at KURRENTDB_URL. Throws UnavailableError when it cannot connect.
 */
export async function connectEventStore(
  config: Pick<BaseConfig, 'HAVEN_EVENT_STORE' | 'NATS_URL' | 'NATS_CREDS_FILE' | 'KURRENTDB_URL'>,
  name: string,
): Promise<EventStore> {
  return config.HAVEN_EVENT_STORE === 'kurrentdb'
    ? createEventStore({ kind: 'kurrentdb', connectionString: config.KURRENTDB_URL ?? '' })
    : createEventStore({
        kind: 'jetstream',
        servers: config.NATS_URL,
        name: `haven-${name}`,
        ...(config.NATS_CREDS_FILE ? { credsFile: config.NATS_CREDS_FILE } : {}),
      });
}

/** Options of {@link serveHavenGrpc}. */
export interface HavenGrpcOptions {
  readonly name: string;
  readonly config: Pick<
    BaseConfig,
    | 'HAVEN_GRPC_PORT'
    | 'HAVEN_JWKS_URL'
    | 'HAVEN_PATIENT_JWKS_URL'
    | 'HAVEN_JWT_ISSUER'
    | 'HAVEN_JWT_AUDIENCE'
    | 'HAVEN_SHUTDOWN_GRACE_MS'
  >;
  readonly logger: Logger;
  readonly services: readonly ServiceRegistration[];
  readonly host?: string | undefined;
  readonly publicMethods?: readonly string[];
  readonly onShutdown?: ReadonlyArray<() => Promise<void>>;
}

/**
 * A Haven service's gRPC server as every service runs it: callers verified against the configured JWKS,
 * health and reflection over the repo's protos, the configured shutdown grace, and the given shutdown hooks.
 * Throws ConfigError when HAVEN_JWKS_URL is missing, and when the port is taken.
 */
export function serveHavenGrpc(options: HavenGrpcOptions): Promise<RunningGrpcService> {
  return startGrpcService({
    name: options.name,
    port: options.config.HAVEN_GRPC_PORT,
    ...(options.host ? { host: options.host } : {}),
    services: options.services,
    auth: {
      verifier: createVerifierFromConfig(options.config),
      ...(options.publicMethods ? { publicMethods: options.publicMethods } : {}),
    },
    logger: options.logger,
    protoFiles: { root: PROTO_ROOT, files: [...PROTO_FILES] },
    shutdownGraceMs: options.config.HAVEN_SHUTDOWN_GRACE_MS,
    ...(options.onShutdown ? { onShutdown: options.onShutdown } : {}),
  });
}
