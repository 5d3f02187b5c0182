/**
 * `node packages/service/dist/nats-provision-main.js` — creates (or brings up to date) HAVEN_ES, HAVEN_BUS, the
 * checkpoint bucket, HAVEN_REVOCATIONS and HAVEN_ACCEPTED with the operator credential: NATS_URL, NATS_USER=operator and
 * NATS_PASSWORD (or NATS_CREDS_FILE), NATS_TLS_CA_FILE, HAVEN_JETSTREAM_REPLICAS, HAVEN_PROVISION_TIMEOUT_SEC.
 * The chart's provisioning Job runs it; exits 0 when every stream is as Haven needs it, 1 otherwise.
 */
import { createLogger } from './logger';
import { loadNatsProvisionConfig, provisionNatsStreams } from './nats-provision';

async function main(): Promise<void> {
  const config = loadNatsProvisionConfig();
  const logger = createLogger({ service: 'nats-provisioning', level: config.LOG_LEVEL });
  await provisionNatsStreams(config, logger);
  logger.info('the NATS streams are provisioned');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`nats-provisioning: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
