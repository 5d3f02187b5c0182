import type { z } from 'zod';
import { initTelemetry } from '@haven/telemetry';
import { loadConfig, type LoadConfigOptions, type NatsConfig, type TlsConfig } from './config';
import type { RunningGrpcService } from './grpc-server';
import { createLogger, type Logger } from './logger';
import { installSignalHandlers } from './signals';
import { awaitNatsAtStart } from './startup';

/** What {@link runServiceMain} needs to run one service process. */
export interface ServiceMainOptions<S extends z.ZodObject> {
  /** Short name: `scheduling`; the OpenTelemetry service name becomes `haven-<name>`. */
  readonly name: string;
  readonly schema: S;
  readonly configOptions?: LoadConfigOptions;
  readonly start: (config: z.output<S>, logger: Logger) => Promise<RunningGrpcService>;
}

/**
 * The `main` of every service process: parse configuration (a bad variable stops the process with a message
 * naming it), create the logger and telemetry, wait for NATS and its streams (health NOT_SERVING on the gRPC
 * port meanwhile, retrying with a bounded back-off instead of exiting), start the service, stop it cleanly on
 * SIGTERM/SIGINT. Exits with status 1 when start-up fails otherwise.
 */
export function runServiceMain<S extends z.ZodObject>(options: ServiceMainOptions<S>): void {
  const run = async (): Promise<void> => {
    const config = loadConfig(options.schema, process.env, options.configOptions) as z.output<S> &
      NatsConfig &
      TlsConfig & {
        LOG_LEVEL?: string;
        HAVEN_GRPC_PORT?: number;
        HAVEN_EVENT_STORE?: string;
        HAVEN_JETSTREAM_REPLICAS?: number;
      };
    const logger = createLogger({
      service: options.name,
      ...(config.LOG_LEVEL ? { level: config.LOG_LEVEL } : {}),
    });
    const telemetry = initTelemetry({ serviceName: `haven-${options.name}` });
    await awaitNatsAtStart({ name: options.name, config, logger, grpcPort: config.HAVEN_GRPC_PORT });
    const service = await options.start(config, logger);
    logger.info({ port: service.port }, `${options.name} service listening`);
    installSignalHandlers([() => service.stop(), () => telemetry.shutdown()], { logger });
  };
  run().catch((error: unknown) => {
    process.stderr.write(`${options.name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
