/**
 * Composition shared by the service (index.ts) and the CLI (cli.ts): one code path from config to
 * IdentityApp, so the CLI bootstraps users exactly as the RPCs do.
 */
import { resolve } from 'node:path';
import { openKmsFromEnv, type ClosableKms } from '@haven/crypto';
import type { ConsumerHealth, EventStore } from '@haven/eventstore';
import {
  connectEventStore,
  createJwtVerifier,
  CLINIC_SETTING_DEFAULTS,
  followClinicSettings,
  type ClinicSettingsFeed,
  kmsEnvOf,
  loadSsoConfig,
  natsCredentialsOf,
  RevocationPublisher,
  type Logger,
  type Principal,
  type TokenVerifier,
} from '@haven/service';
import { IdentityApp, type IdentityAppOptions } from './identity-app';
import { openSecretSealer, type SecretSealer } from './credential/secret-sealer';
import { DEFAULT_LOGIN_THROTTLE, type LoginThrottlePolicy } from './shared/login-throttle';
import type { IdentityConfig } from './config';
import { loadCommonPasswords } from './credential/password/common-passwords';
import { createPasswordHasher } from './credential/password/hasher';
import { DEFAULT_PASSWORD_POLICY } from './credential/password/policy';
import { webAuthnSettings } from './passkey/settings';
import { SigningKeyRing } from './tokens/keys';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from './tokens/tokens';

export interface IdentityRuntime {
  readonly app: IdentityApp;
  readonly store: EventStore;
  readonly keys: SigningKeyRing;
  /** Seals the credential streams' secrets (keys in HAVEN_DATA_DIR/credential-keys, wrapped by the keyring). */
  readonly sealer: SecretSealer;
  /** Verifies tokens against this instance's own key ring (follows rotation). */
  readonly verifier: TokenVerifier;
  close(): Promise<void>;
}

/** Opens the key ring and event store and builds the app. Rejects when NATS or the data dir is unusable. */
export async function createIdentityRuntime(
  config: IdentityConfig,
  options: {
    logger?: Logger;
    store?: EventStore;
    rotateKeys?: boolean;
    /** Where revocations go; by default a RevocationPublisher on NATS_URL. */
    revocations?: { publish: RevocationPublisher['publish']; close?: () => Promise<void> };
    /**
     * Follow the clinic's settings (the service: an admin's idle timeout applies without a restart), reporting to
     * `health`. Absent (the CLI): the deployment's idle timeout.
     */
    clinicSettings?: { readonly health?: ConsumerHealth };
  } = {},
): Promise<IdentityRuntime> {
  const ssoConfig = loadSsoConfig(config.HAVEN_SSO_CONFIG_FILE);
  const keys = await SigningKeyRing.open({ dataDir: resolve(config.HAVEN_DATA_DIR) });
  const kms = await openKmsWithRetry(config);
  const sealer = openSecretSealer({ dataDir: resolve(config.HAVEN_DATA_DIR), kms });
  if (
    options.rotateKeys !== false &&
    (await keys.rotateIfOlderThan(config.HAVEN_SIGNING_KEY_ROTATION_DAYS * 86_400_000))
  ) {
    options.logger?.info({ kid: keys.currentKey().kid }, 'signing key rotated');
  }
  const store =
    options.store ??
    (await connectEventStore(config, 'identity', options.logger ? { logger: options.logger } : {}));
  let revocations: { publish: RevocationPublisher['publish']; close?: () => Promise<void> };
  let clinic: ClinicSettingsFeed | undefined;
  try {
    revocations =
      options.revocations ??
      (await RevocationPublisher.connect({
        ...natsCredentialsOf(config),
        name: 'haven-identity-revocations',
      }));
    if (options.clinicSettings) {
      try {
        clinic = await followClinicSettings(store, {
          name: 'identity.clinic-settings',
          // Only the idle timeout is identity's (absent: the deployment's HAVEN_IDLE_TIMEOUT_SEC, in the session
          // policy, applies); the other defaults are placeholders identity never reads.
          defaults: CLINIC_SETTING_DEFAULTS,
          ...(options.clinicSettings.health ? { health: options.clinicSettings.health } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        });
      } catch (error) {
        if (!options.revocations) await revocations.close?.();
        throw error;
      }
    }
  } catch (error) {
    if (!options.store) await store.close();
    await kms.close();
    throw error;
  }
  const clinicIdle = clinic;
  const app = new IdentityApp({
    store,
    sealer,
    revocations,
    keys,
    sso: { config: ssoConfig },
    ...identityPolicies(config),
    ...(clinicIdle
      ? {
          idleTimeout: () => {
            const { idleTimeoutSeconds: sec, idleTimeoutChangeTime } = clinicIdle.current();
            if (sec === undefined) return undefined;
            const since = idleTimeoutChangeTime === undefined ? NaN : Date.parse(idleTimeoutChangeTime);
            return { ms: sec * 1000, ...(Number.isFinite(since) ? { since } : {}) };
          },
        }
      : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const verifier = ownKeyVerifier(keys);
  return {
    app,
    store,
    keys,
    sealer,
    verifier,
    close: async () => {
      await clinic?.close();
      if (!options.revocations) await revocations.close?.();
      if (!options.store) await store.close();
      await kms.close();
    },
  };
}

/** The hasher, policies and throttles of the configuration. */
function identityPolicies(
  config: IdentityConfig,
): Omit<IdentityAppOptions, 'store' | 'sealer' | 'revocations' | 'keys' | 'logger' | 'now'> {
  return {
    mfaRequiredRoles: config.HAVEN_MFA_REQUIRED_ROLES,
    webAuthn: webAuthnSettings(config),
    hasher: createPasswordHasher({
      memoryCost: config.HAVEN_ARGON2_MEMORY_KIB,
      timeCost: config.HAVEN_ARGON2_TIME_COST,
      parallelism: config.HAVEN_ARGON2_PARALLELISM,
    }),
    commonPasswords: loadCommonPasswords(),
    passwordPolicy: {
      ...DEFAULT_PASSWORD_POLICY,
      minLength: config.HAVEN_PASSWORD_MIN_LENGTH,
      maxAgeDays: config.HAVEN_PASSWORD_MAX_AGE_DAYS === 0 ? null : config.HAVEN_PASSWORD_MAX_AGE_DAYS,
    },
    lockoutPolicy: {
      threshold: config.HAVEN_LOCKOUT_THRESHOLD,
      baseLockMs: config.HAVEN_LOCKOUT_BASE_SEC * 1000,
      multiplier: 2,
      maxLockMs: config.HAVEN_LOCKOUT_MAX_SEC * 1000,
    },
    sessionPolicy: {
      idleTimeoutMs: (config.HAVEN_IDLE_TIMEOUT_SEC ?? config.HAVEN_SESSION_IDLE_TIMEOUT_SEC) * 1000,
      absoluteLifetimeMs: config.HAVEN_SESSION_MAX_LIFETIME_SEC * 1000,
      refreshReuseGraceMs: config.HAVEN_REFRESH_REUSE_GRACE_SEC * 1000,
    },
    loginThrottle: loginThrottlePolicy(config),
    accessTokenTtlSec: config.HAVEN_ACCESS_TOKEN_TTL_SEC,
  };
}

/** Verifies tokens against this instance's own key ring, following its rotation. */
function ownKeyVerifier(keys: SigningKeyRing): TokenVerifier {
  let cached: { kids: string; verifier: TokenVerifier } | undefined;
  return {
    verify(token: string): Promise<Principal> {
      const jwks = keys.jwks();
      const kids = jwks.keys.map((k) => k.kid).join(',');
      if (cached?.kids !== kids) {
        cached = {
          kids,
          verifier: createJwtVerifier({
            jwks: jwks,
            issuer: TOKEN_ISSUER,
            audience: TOKEN_AUDIENCE,
            cacheSize: 0,
          }),
        };
      }
      return cached.verifier.verify(token);
    },
  };
}

/** The login throttles from the configuration. */
export function loginThrottlePolicy(config: IdentityConfig): LoginThrottlePolicy {
  const maxDelayMs = config.HAVEN_LOGIN_BACKOFF_MAX_SEC * 1000;
  return {
    addressRate: {
      capacity: config.HAVEN_LOGIN_IP_BURST,
      refillPerSec: config.HAVEN_LOGIN_IP_PER_MINUTE / 60,
      maxKeys: 10_000,
    },
    addressBackoff: {
      ...DEFAULT_LOGIN_THROTTLE.addressBackoff,
      freeFailures: config.HAVEN_LOGIN_ADDRESS_FAILURES,
      maxDelayMs,
    },
    accountBackoff: {
      ...DEFAULT_LOGIN_THROTTLE.accountBackoff,
      freeFailures: config.HAVEN_LOGIN_ACCOUNT_FAILURES,
      maxDelayMs,
    },
  };
}

/**
 * Opens the KMS of HAVEN_KMS (created on first start). The local keyring may be shared (the dev stack gives every
 * service one file) and another process may be writing it on its very first start: a file still being written is
 * retried briefly.
 */
async function openKmsWithRetry(config: IdentityConfig): Promise<ClosableKms> {
  const dataDir = resolve(config.HAVEN_DATA_DIR);
  const env = kmsEnvOf(config, { defaultKeyringFile: `${dataDir}/keyring.json` });
  if (env['HAVEN_KEYRING_FILE'] !== undefined) env['HAVEN_KEYRING_FILE'] = resolve(env['HAVEN_KEYRING_FILE']);
  for (let attempt = 0; ; attempt++) {
    try {
      return await openKmsFromEnv(env, { create: true });
    } catch (error) {
      if (attempt >= 10 || !/not a valid Haven keyring: not JSON/.test(String((error as Error).message)))
        throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
