/**
 * Start-up against NATS: a service that starts before NATS (or before the operator provisioned the streams)
 * waits with a bounded back-off, says why in its log, and answers gRPC health NOT_SERVING meanwhile, instead of
 * exiting. Once NATS answers and the streams check out, the service starts as usual.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { connect, type NatsConnection } from 'nats';
import {
  HavenStream,
  StreamNotProvisionedError,
  closeNatsConnection,
  natsConnectionOptions,
  verifyHavenStreams,
  type NatsCredentials,
} from '@haven/eventstore';
import { audit, identity, recording, scheduling, session } from '@haven/proto';
import { natsCredentialsOf, type NatsConfig, type TlsConfig } from './config';
import { mutualTlsOf } from './tls';
import type { Logger } from './logger';

/** Options of {@link waitForNats}. */
export interface WaitForNatsOptions {
  readonly credentials: NatsCredentials;
  /** Connection name of the probe (`haven-<service>-startup`). */
  readonly name: string;
  /** Streams the service uses; each must exist with its required settings. */
  readonly streams: readonly HavenStream[];
  readonly logger: Logger;
  /** HAVEN_JETSTREAM_REPLICAS: fewer replicas on a stream are logged as a warning. */
  readonly replicas?: number;
  /** First wait after a failure (default 250 ms); doubles up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  /** Longest wait between attempts (default 5 s). */
  readonly maxDelayMs?: number;
  /** Stops waiting (the process is shutting down). */
  readonly signal?: AbortSignal;
}

/**
 * Resolves once NATS accepts the service's credentials and every stream in `streams` is provisioned as Haven
 * needs it. Until then it retries forever with a back-off (250 ms doubling to 5 s), logging each failure with
 * its reason (warn; error when a stream is missing or changed, which needs the operator). Throws only when
 * `signal` aborts.
 */
export async function waitForNats(options: WaitForNatsOptions): Promise<void> {
  const initial = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt += 1) {
    options.signal?.throwIfAborted();
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({
        ...natsConnectionOptions({ ...options.credentials, name: options.name }),
        reconnect: false,
        timeout: 5_000,
      });
      await verifyHavenStreams(await nc.jetstreamManager(), options.streams, {
        replicas: options.replicas,
        log: options.logger,
      });
      if (attempt > 1)
        options.logger.info({ attempts: attempt }, 'NATS is reachable and its streams are provisioned');
      return;
    } catch (error) {
      const delayMs = Math.min(max, initial * 2 ** Math.min(attempt - 1, 16));
      const problem = error instanceof Error ? error.message : String(error);
      const fields = { attempt, retryInMs: delayMs, problem };
      if (error instanceof StreamNotProvisionedError) {
        options.logger.error(fields, 'waiting for the operator to provision the NATS streams');
      } else {
        options.logger.warn(fields, 'waiting for NATS');
      }
      await sleep(delayMs, options.signal);
    } finally {
      if (nc) await closeNatsConnection(nc, 500);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** A gRPC health service answering NOT_SERVING on the service's port while it waits; {@link close} frees the port. */
export interface StartupHealth {
  readonly port: number;
  close(): Promise<void>;
}

/** The grpc-js definitions of Haven's gRPC services (one process serves one of them). */
const HAVEN_SERVICES: readonly grpc.ServiceDefinition[] = [
  identity.IdentityServiceService,
  scheduling.SchedulingServiceService,
  session.SessionServiceService,
  recording.RecordingServiceService,
  audit.AuditServiceService,
];

/** Handlers for every method of `definition` that answer UNAVAILABLE, the service is still starting. */
function startingImplementation(definition: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  const starting = { code: grpc.status.UNAVAILABLE, details: 'the service is starting: waiting for NATS' };
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      method.responseStream
        ? (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', starting)
        : (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(starting),
    ]),
  );
}

/**
 * Serves grpc.health.v1 on `port` with NOT_SERVING for '' (the whole server), so probes and orchestrators see a
 * service that is starting rather than a closed port. Rejects when the port cannot be bound.
 */
export async function serveStartupHealth(options: {
  port: number;
  host?: string;
  /** The service's own server credentials (its mutual TLS), default insecure. */
  credentials?: grpc.ServerCredentials;
  /** The plaintext health-only port (HAVEN_GRPC_HEALTH_PORT), served NOT_SERVING too. */
  healthPort?: number;
}): Promise<StartupHealth> {
  const server = new grpc.Server();
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  health.addToServer(server);
  // Every Haven RPC answers UNAVAILABLE meanwhile: a client retries, instead of giving up on UNIMPLEMENTED (the
  // answer for a method the server does not know), which a careful client treats as final.
  for (const definition of HAVEN_SERVICES) server.addService(definition, startingImplementation(definition));
  const host = options.host ?? '0.0.0.0';
  const bind = (target: grpc.Server, port: number, credentials: grpc.ServerCredentials): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      target.bindAsync(address, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
    });
  const port = await bind(
    server,
    options.port,
    options.credentials ?? grpc.ServerCredentials.createInsecure(),
  );
  let healthServer: grpc.Server | undefined;
  if (options.healthPort !== undefined) {
    healthServer = new grpc.Server();
    health.addToServer(healthServer);
    try {
      await bind(healthServer, options.healthPort, grpc.ServerCredentials.createInsecure());
    } catch (error) {
      server.forceShutdown();
      throw error;
    }
  }
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        healthServer?.forceShutdown();
        resolve();
      }),
  };
}

/** The streams a Haven service checks at start: the event store (unless KurrentDB holds it), bus, checkpoints, revocations. */
export function serviceStreams(config: { readonly HAVEN_EVENT_STORE?: string }): HavenStream[] {
  return [
    ...(config.HAVEN_EVENT_STORE === 'kurrentdb' ? [] : [HavenStream.EventStore]),
    HavenStream.Bus,
    HavenStream.Checkpoints,
    HavenStream.Revocations,
  ];
}

/**
 * The start-up gate of a service process: health NOT_SERVING on `grpcPort` (when given) while {@link waitForNats}
 * waits for NATS and the service's streams, then the port is freed for the service's own gRPC server.
 * Throws only when `signal` aborts or the port cannot be bound.
 */
export async function awaitNatsAtStart(options: {
  readonly name: string;
  readonly config: NatsConfig &
    TlsConfig & {
      readonly HAVEN_EVENT_STORE?: string;
      readonly HAVEN_JETSTREAM_REPLICAS?: number;
      readonly HAVEN_GRPC_HEALTH_PORT?: number | undefined;
    };
  readonly logger: Logger;
  readonly grpcPort?: number | undefined;
  readonly streams?: readonly HavenStream[];
  readonly signal?: AbortSignal;
}): Promise<void> {
  const health =
    options.grpcPort !== undefined && options.grpcPort > 0
      ? await serveStartupHealth({
          port: options.grpcPort,
          ...startupCredentials(options.config, options.logger),
          ...(options.config.HAVEN_GRPC_HEALTH_PORT !== undefined
            ? { healthPort: options.config.HAVEN_GRPC_HEALTH_PORT }
            : {}),
        })
      : undefined;
  try {
    await waitForNats({
      credentials: natsCredentialsOf(options.config),
      name: `haven-${options.name}-startup`,
      streams: options.streams ?? serviceStreams(options.config),
      logger: options.logger,
      ...(options.config.HAVEN_JETSTREAM_REPLICAS !== undefined
        ? { replicas: options.config.HAVEN_JETSTREAM_REPLICAS }
        : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    await health?.close();
  }
}

/** The service's mutual TLS server credentials for the start-up port, when it has a certificate. */
function startupCredentials(config: TlsConfig, logger: Logger): { credentials?: grpc.ServerCredentials } {
  const mtls = mutualTlsOf(config, { logger });
  return mtls ? { credentials: mtls.serverCredentials() } : {};
}
