/**
 * Test support: the configuration the recording service's integration suites start it with (tests only).
 */
import { loadConfig } from '@haven/service';
import { recordingConfigSchema, type RecordingConfig } from './server';

/**
 * The service's configuration for a suite: `natsEnv` (the suite's NATS user), the suite's JWKS, an ephemeral
 * port, a short shutdown grace; `extra` adds or overrides variables.
 */
export function testRecordingConfig(
  natsEnv: Readonly<Record<string, string>>,
  options: { readonly jwksUrl: string },
  extra: Readonly<Record<string, string>> = {},
): RecordingConfig {
  return loadConfig(recordingConfigSchema, {
    ...natsEnv,
    HAVEN_GRPC_PORT: '0',
    HAVEN_JWKS_URL: options.jwksUrl,
    HAVEN_SHUTDOWN_GRACE_MS: '500',
    ...extra,
  });
}
