/**
 * Test support: the configuration scheduling's integration suites start it with (integration tests only).
 */
import { join } from 'node:path';
import { loadConfig } from '@haven/service';
import { schedulingConfigSchema, type SchedulingConfig } from './server';

/**
 * The service's configuration for a suite: `natsEnv` (the suite's NATS user), the suite's JWKS, ephemeral
 * ports, data and local keyring under `dataDir`, a short shutdown grace; `extra` adds or overrides variables.
 */
export function testSchedulingConfig(
  natsEnv: Readonly<Record<string, string>>,
  options: { readonly jwksUrl: string; readonly dataDir: string },
  extra: Readonly<Record<string, string>> = {},
): SchedulingConfig {
  return loadConfig(schedulingConfigSchema, {
    ...natsEnv,
    HAVEN_GRPC_PORT: '0',
    HAVEN_HTTP_PORT: '0',
    HAVEN_JWKS_URL: options.jwksUrl,
    HAVEN_DATA_DIR: join(options.dataDir, 'scheduling'),
    HAVEN_KEYRING_FILE: join(options.dataDir, 'keyring.json'),
    HAVEN_SHUTDOWN_GRACE_MS: '500',
    ...extra,
  });
}
