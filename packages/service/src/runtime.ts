import { ConsumerHealth, createEventStore, type EventStore } from '@haven/eventstore';
import { PROTO_FILES, PROTO_ROOT } from '@haven/proto';
import { natsCredentialsOf, type BaseConfig, type NatsConfig, type TlsConfig } from './config';
import {
  startGrpcService,
  type GrpcServiceOptions,
  type RunningGrpcService,
  type ServiceRegistration,
} from './grpc-server';
import { createVerifierFromConfig } from './jwt';
import type { Logger } from './logger';
import { RevocationFeed } from './revocation';
import { mutualTlsOf } from './tls';
import { createAccessRefusalRecorder, type AccessRefusalRecorder } from './access-refusals';

/**
 * The event store the configuration selects (HAVEN_EVENT_STORE): JetStream at NATS_URL (default) or KurrentDB
 * at KURRENTDB_URL. Throws UnavailableError when it cannot connect.
 */
export async function connectEventStore(
  config: Pick<
    BaseConfig,
    'HAVEN_EVENT_STORE' | keyof NatsConfig | 'KURRENTDB_URL' | 'HAVEN_JETSTREAM_REPLICAS'
  >,
  name: string,
  options: { logger?: Logger } = {},
): Promise<EventStore> {
  const logger = options.logger;
  return config.HAVEN_EVENT_STORE === 'kurrentdb'
    ? createEventStore({ kind: 'kurrentdb', connectionString: config.KURRENTDB_URL ?? '' })
    : createEventStore({
        kind: 'jetstream',
        ...natsCredentialsOf(config),
        name: `haven-${name}`,
        replicas: config.HAVEN_JETSTREAM_REPLICAS,
        ...(logger ? { onWarning: (message: string) => logger.warn(message) } : {}),
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
    | keyof NatsConfig
    | 'HAVEN_JETSTREAM_REPLICAS'
    | 'HAVEN_GRPC_HEALTH_PORT'
    | keyof TlsConfig
  >;
  readonly logger: Logger;
  readonly services: readonly ServiceRegistration[];
  readonly host?: string | undefined;
  readonly publicMethods?: readonly string[];
  readonly onShutdown?: ReadonlyArray<() => Promise<void>>;
  /**
   * Where refused calls are recorded as events: a recorder made from this store (see createAccessRefusalRecorder)
   * unless `refusals` is given; none when both are omitted.
   */
  readonly store?: Pick<EventStore, 'append'>;
  /**
   * The service's one refusal recorder, when other parts of the service record refusals too (the session
   * service's media proxy): the gRPC server reports into it and flushes it at shutdown. Wins over `store`.
   */
  readonly refusals?: AccessRefusalRecorder;
  /**
   * The process's revocation feed, when the service needs it beyond gRPC (e.g. to end media connections at
   * sign-out). The server uses it instead of opening its own, and leaves closing it to the caller.
   */
  readonly revocations?: RevocationFeed;
  /**
   * The service's event consumers (see startGrpcService): the revocation feed joins them. A new registry
   * (with the feed alone) when omitted.
   */
  readonly consumers?: ConsumerHealth;
  /** gRPC server options, e.g. a larger `grpc.max_receive_message_length` for a service that takes files. */
  readonly serverOptions?: GrpcServiceOptions['serverOptions'];
}

/**
 * A Haven service's gRPC server as every service runs it: callers verified against the configured JWKS and
 * refused within seconds of a revocation (identity's revocation feed over NATS), health and reflection over
 * the repo's protos, the configured shutdown grace, and the given shutdown hooks.
 * Throws ConfigError when HAVEN_JWKS_URL is missing, UnavailableError when NATS is unreachable, and when the
 * port is taken.
 */
export async function serveHavenGrpc(options: HavenGrpcOptions): Promise<RunningGrpcService> {
  const consumers = options.consumers ?? new ConsumerHealth();
  const revocations = options.revocations ?? (await connectRevocationFeed({ ...options, consumers }));
  const refusals =
    options.refusals ??
    (options.store
      ? createAccessRefusalRecorder({ store: options.store, service: options.name, logger: options.logger })
      : undefined);
  const mtls = mutualTlsOf(options.config, { logger: options.logger });
  if (!mtls)
    options.logger.warn(
      'HAVEN_TLS_*_FILE are not set: gRPC without TLS, callers not authenticated by certificate',
    );
  return startGrpcService({
    name: options.name,
    ...(refusals ? { onAccessRefused: refusals.record } : {}),
    ...(mtls ? { mtls } : {}),
    ...(options.config.HAVEN_GRPC_HEALTH_PORT !== undefined
      ? { healthPort: options.config.HAVEN_GRPC_HEALTH_PORT }
      : {}),
    port: options.config.HAVEN_GRPC_PORT,
    ...(options.host ? { host: options.host } : {}),
    services: options.services,
    auth: {
      verifier: createVerifierFromConfig(options.config, { revocations }),
      ...(options.publicMethods ? { publicMethods: options.publicMethods } : {}),
    },
    logger: options.logger,
    protoFiles: { root: PROTO_ROOT, files: [...PROTO_FILES] },
    shutdownGraceMs: options.config.HAVEN_SHUTDOWN_GRACE_MS,
    consumers,
    ...(options.serverOptions ? { serverOptions: options.serverOptions } : {}),
    onShutdown: [
      async () => refusals?.flush(),
      ...(options.onShutdown ?? []),
      ...(options.revocations ? [] : [() => revocations.close()]),
    ],
  });
}

/**
 * The revocation feed a service's gRPC server uses (identity's revocations over NATS, from the configuration),
 * reporting to `consumers` when given. Throws UnavailableError when NATS is unreachable.
 */
export function connectRevocationFeed(
  options: Pick<HavenGrpcOptions, 'name' | 'config' | 'logger' | 'consumers'>,
): Promise<RevocationFeed> {
  return RevocationFeed.connect({
    ...(options.consumers ? { health: options.consumers } : {}),
    ...natsCredentialsOf(options.config),
    name: `haven-${options.name}-revocations`,
    logger: options.logger,
  });
}
