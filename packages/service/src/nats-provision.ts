/**
 * Provisioning of Haven's JetStream streams with the operator credential, as a process: the chart runs it as a
 * Job on every install and upgrade (`node packages/service/dist/nats-provision-main.js`). The dev stack and the
 * test harness call `provisionHavenStreams` in-process instead.
 */
import { connect, type NatsConnection } from 'nats';
import { z } from 'zod';
import {
  closeNatsConnection,
  natsConnectionOptions,
  provisionHavenStreams,
  type ProvisionedStream,
} from '@haven/eventstore';
import { LOG_LEVELS, loadConfig, natsCredentialShape, natsCredentialsOf } from './config';
import type { Logger } from './logger';

/** The provisioning's variables: the operator's NATS credentials, the replicas, how long to wait for NATS. */
export const natsProvisionConfigSchema = z.object({
  NATS_URL: z.string().min(1),
  ...natsCredentialShape,
  /** Replicas of every stream (3 on the bundled cluster). */
  HAVEN_JETSTREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** How long to keep trying while NATS starts or forms its cluster. */
  HAVEN_PROVISION_TIMEOUT_SEC: z.coerce.number().int().min(1).max(3600).default(300),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});
/** The parsed {@link natsProvisionConfigSchema}. */
export type NatsProvisionConfig = z.output<typeof natsProvisionConfigSchema>;

/** Parses the provisioning's environment. Throws ConfigError naming each bad variable. */
export function loadNatsProvisionConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return loadConfig(natsProvisionConfigSchema, env, { ignoreVariables: [] });
}

/**
 * Connects with the configured (operator) credential and provisions every stream, retrying with a back-off
 * (1 s doubling to 10 s) while NATS is unreachable or JetStream is not ready yet, until
 * HAVEN_PROVISION_TIMEOUT_SEC. Resolves with what it did to each stream. Throws the last error when the time
 * is up — e.g. a permissions violation when the credential is not the operator's.
 */
export async function provisionNatsStreams(
  config: Readonly<NatsProvisionConfig>,
  logger: Logger,
): Promise<ProvisionedStream[]> {
  const deadline = Date.now() + config.HAVEN_PROVISION_TIMEOUT_SEC * 1000;
  for (let attempt = 1; ; attempt += 1) {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({
        ...natsConnectionOptions({ ...natsCredentialsOf(config), name: 'haven-nats-provisioning' }),
        reconnect: false,
        timeout: 5_000,
      });
      const report = await provisionHavenStreams(nc, { replicas: config.HAVEN_JETSTREAM_REPLICAS });
      for (const r of report) {
        logger.info(
          { stream: r.stream, action: r.action, changed: r.changed },
          `stream ${r.stream} ${r.action}`,
        );
      }
      return report;
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      const delayMs = Math.min(10_000, 1_000 * 2 ** Math.min(attempt - 1, 10));
      if (Date.now() + delayMs > deadline) throw error;
      logger.warn({ attempt, retryInMs: delayMs, problem }, 'provisioning the NATS streams failed; retrying');
      await new Promise((r) => setTimeout(r, delayMs));
    } finally {
      if (nc) await closeNatsConnection(nc, 1_000);
    }
  }
}
