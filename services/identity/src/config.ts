/** The identity service's configuration, parsed once from the environment (strict zod). */
import { z } from 'zod';
import {
  DEFAULT_GRPC_PORTS,
  commaListSchema,
  createBaseConfigSchema,
  kmsConfigShape,
  loadConfig,
  portSchema,
} from '@haven/service';

const seconds = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

/** Identity's default gRPC port (HAVEN_GRPC_PORT). */
export const IDENTITY_GRPC_PORT = DEFAULT_GRPC_PORTS.identity;

/** Identity's variables on top of the shared base (HAVEN_GRPC_PORT defaults to {@link IDENTITY_GRPC_PORT}). */
export const identityConfigSchema = createBaseConfigSchema({ grpcPort: IDENTITY_GRPC_PORT }).extend({
  /** JWKS over HTTP. */
  HAVEN_HTTP_PORT: portSchema(8081),
  /** Where the signing keys live (0600 JSON). */
  HAVEN_DATA_DIR: z.string().min(1).default('.haven/identity'),
  /** argon2id cost; defaults are OWASP's (19 MiB, 2 passes, 1 lane). Lower them only in tests. */
  HAVEN_ARGON2_MEMORY_KIB: z.coerce.number().int().min(1024).max(4_194_304).default(19_456),
  HAVEN_ARGON2_TIME_COST: z.coerce.number().int().min(1).max(20).default(2),
  HAVEN_ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  /** Session idle timeout (automatic logoff), seconds. Default 15 min. */
  HAVEN_SESSION_IDLE_TIMEOUT_SEC: seconds(900),
  /** Same as HAVEN_SESSION_IDLE_TIMEOUT_SEC (the name the chart and the issue use); wins when both are set. */
  HAVEN_IDLE_TIMEOUT_SEC: z.coerce.number().int().min(1).optional(),
  /** Roles that must enroll TOTP (comma list; `none` for nobody). Default admin,clinician. */
  HAVEN_MFA_REQUIRED_ROLES: z
    .string()
    .default('admin,clinician')
    .transform((v) =>
      v.trim() === 'none'
        ? []
        : v
            .split(',')
            .map((r) => r.trim())
            .filter((r) => r !== ''),
    )
    .pipe(z.array(z.enum(['admin', 'clinician', 'front_desk', 'auditor']))),
  /**
   * Refresh-token reuse grace, seconds: for this long after a rotation, the token it replaced may come back once
   * (an answer lost on the way to the browser, two tabs refreshing at once) and rotates again instead of ending
   * the session as reuse. 0 turns it off. Default 30 (at most 300).
   */
  HAVEN_REFRESH_REUSE_GRACE_SEC: z.coerce.number().int().min(0).max(300).default(30),
  /** Absolute session lifetime, seconds. Default 12 h. */
  HAVEN_SESSION_MAX_LIFETIME_SEC: seconds(43_200),
  /** Access token lifetime, seconds. Default 5 min. */
  HAVEN_ACCESS_TOKEN_TTL_SEC: seconds(300, 10),
  /** Password rotation in days; 0 disables it (NIST SP 800-63B). Default 90. */
  HAVEN_PASSWORD_MAX_AGE_DAYS: z.coerce.number().int().min(0).max(3650).default(90),
  HAVEN_PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(12),
  /** Failed logins before the first lock, first lock length and cap. */
  HAVEN_LOCKOUT_THRESHOLD: z.coerce.number().int().min(1).max(100).default(5),
  HAVEN_LOCKOUT_BASE_SEC: seconds(60),
  HAVEN_LOCKOUT_MAX_SEC: seconds(3600),
  /** Per-client-address login throttle: burst size and refill per minute (every attempt counts). */
  HAVEN_LOGIN_IP_BURST: z.coerce.number().int().min(1).max(100_000).default(20),
  HAVEN_LOGIN_IP_PER_MINUTE: z.coerce.number().min(0).max(100_000).default(20),
  /** Failed logins from one client address before it backs off (1 s, doubling). */
  HAVEN_LOGIN_ADDRESS_FAILURES: z.coerce.number().int().min(1).max(100_000).default(20),
  /** Failed logins for one account name (known or not) before it backs off (1 s, doubling). */
  HAVEN_LOGIN_ACCOUNT_FAILURES: z.coerce.number().int().min(1).max(100_000).default(10),
  /** Longest login back-off, seconds. */
  HAVEN_LOGIN_BACKOFF_MAX_SEC: z.coerce.number().int().min(1).max(86_400).default(900),
  /**
   * Shared with the gateway (same variable there): a caller presenting it may pass the end client's address on,
   * so the login throttles see the browser's address and not the gateway's. Unset: every caller is throttled by
   * its own address. At least 32 characters.
   */
  HAVEN_FORWARDER_SECRET: z.string().min(32).optional(),
  /**
   * The KMS that wraps the keys sealing credential secrets (TOTP secrets, recovery codes, password hashes):
   * HAVEN_KMS local | pkcs11 | vault-transit and its settings. The local keyring (HAVEN_KEYRING_FILE) is created
   * (0600) on first start, default `<HAVEN_DATA_DIR>/keyring.json`; in Kubernetes the chart mounts the keyring
   * secret so the key-encryption key does not sit next to the data keys.
   */
  ...kmsConfigShape,
  /** The clinics' OpenID Connect providers and their group → role tables (JSON; README "Staff single sign-on"). */
  HAVEN_SSO_CONFIG_FILE: z.string().min(1).optional(),
  /** The web app's origin (the gateway's public URL): where passkeys are used. */
  HAVEN_PUBLIC_URL: z.url({ protocol: /^https?$/ }).default('http://localhost:8080'),
  /**
   * The WebAuthn relying party id: the host of HAVEN_PUBLIC_URL (the default) or a parent domain of it. Never an IP
   * address: with an IP host and no RP ID, passkeys are off.
   */
  HAVEN_WEBAUTHN_RP_ID: z.string().min(1).max(253).optional(),
  /** The clinic's passkey attestation policy: `none` (any authenticator) or `direct` (only HAVEN_PASSKEY_AAGUIDS). */
  HAVEN_PASSKEY_ATTESTATION: z.enum(['none', 'direct']).default('none'),
  /** Comma list of the authenticator models (AAGUIDs) a `direct` policy allows. */
  HAVEN_PASSKEY_AAGUIDS: commaListSchema(),
  /** Signing-key rotation age in days (checked at start). Default 30. */
  HAVEN_SIGNING_KEY_ROTATION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
});

/** The parsed configuration. */
export type IdentityConfig = ReturnType<typeof loadIdentityConfig>;

/**
 * Variables the dev stack or a shared ConfigMap set that identity does not read, beyond the stack-wide list
 * `loadConfig` already tolerates (STACK_WIDE_VARIABLES in @haven/service).
 */
const OTHER_SERVICES_VARIABLES = ['HAVEN_HOME', 'HAVEN_GATEWAY_HTTP_ADDR'];

/** Parses the environment. Throws ConfigError naming every bad variable. */
export function loadIdentityConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return loadConfig(identityConfigSchema, env, { ignoreVariables: OTHER_SERVICES_VARIABLES });
}
