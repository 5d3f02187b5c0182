/**
 * Test support: the configuration scheduling's integration suites start it with (integration tests only).
 */
import { join } from 'node:path';
import type { EventStore } from '@haven/eventstore';
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

/**
 * A `wrapStore` for the service: appends to the patient-access streams (PhiAccessed) fail while `failing()` says
 * so, everything else passes through — to prove that no PHI leaves when its access cannot be recorded.
 */
export function failingPhiAccessAppends(failing: () => boolean): (inner: EventStore) => EventStore {
  return (inner) => ({
    append: (stream, expected, events) =>
      failing() && stream.startsWith('scheduling.patient_access-')
        ? Promise.reject(new Error('injected: the store is down'))
        : inner.append(stream, expected, events),
    read: (stream, options) => inner.read(stream, options),
    subscribe: (options) => inner.subscribe(options),
    head: (options) => inner.head(options),
    deleteStream: (stream) => inner.deleteStream(stream),
    close: () => inner.close(),
  });
}
