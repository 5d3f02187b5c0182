import { z } from 'zod';
import type { NatsCredentials } from '@haven/eventstore';

/** pino log levels accepted in `LOG_LEVEL`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Event store adapters selectable with `HAVEN_EVENT_STORE`. */
export const EVENT_STORES = ['jetstream', 'kurrentdb'] as const;

/**
 * A TCP port variable (`HAVEN_GRPC_PORT`, `HAVEN_HTTP_PORT`): an integer 0–65535 with the service's default.
 * Use it to give a service its conventional port:
 * `baseConfigSchema.extend({ HAVEN_GRPC_PORT: portSchema(20052) })`.
 */
export function portSchema(defaultPort: number) {
  return z.coerce.number().int().min(0).max(65535).default(defaultPort);
}

/**
 * A comma-list variable (`HAVEN_ALLOWED_ORIGINS=a,b`): its items trimmed, empty ones dropped; '' (the default) is
 * the empty list. Pipe it on to check each item: `commaListSchema().pipe(z.array(z.url()))`.
 */
export function commaListSchema() {
  return z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    );
}

/**
 * The NATS credential variables every NATS client of Haven reads (services, the gateway, the provisioning):
 * the service's own user and password (the chart and the dev stack give each service its own), a `.creds` file
 * for a hospital NATS with decentralised JWT authentication, and the CA of the server's TLS certificate.
 */
export const natsCredentialShape = {
  /** This service's NATS user (its name: identity, scheduling, … or operator for the provisioning). */
  NATS_USER: z.string().min(1).optional(),
  /** The NATS user's password. */
  NATS_PASSWORD: z.string().min(1).optional(),
  /** A NATS `.creds` file (JWT + nkey seed), instead of a user and password. */
  NATS_CREDS_FILE: z.string().min(1).optional(),
  /** PEM file of the CA that signed the NATS server's certificate: connect over TLS and verify it. */
  NATS_TLS_CA_FILE: z.string().min(1).optional(),
  /** PEM client certificate this service presents to NATS (a server with `verify` refuses a client without one). */
  NATS_TLS_CERT_FILE: z.string().min(1).optional(),
  /** PEM private key of NATS_TLS_CERT_FILE. */
  NATS_TLS_KEY_FILE: z.string().min(1).optional(),
  /**
   * Subject prefix of the reply inboxes; default `_INBOX_<NATS_USER>` (what the permissions allow each service).
   * Set it with a creds file (no NATS_USER), e.g. `_INBOX_identity`.
   */
  NATS_INBOX_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'one subject token: letters, digits, _ and -')
    .optional(),
};

/** Values of HAVEN_KMS (the adapters of `openKmsFromEnv` in @haven/crypto). */
export const KMS_PROVIDERS = ['local', 'pkcs11', 'vault-transit'] as const;
/** One of {@link KMS_PROVIDERS}. */
export type KmsProvider = (typeof KMS_PROVIDERS)[number];

/**
 * The KMS variables of every service that wraps or unwraps keys (identity, scheduling, recording): which adapter
 * (HAVEN_KMS) and its settings. Secrets come from files (the PKCS#11 PIN, the Vault token), never from the
 * environment. {@link loadConfig} names a variable the chosen adapter requires and that is missing; the adapter
 * itself is opened with `openKmsFromEnv(kmsEnvOf(config))` from @haven/crypto.
 */
export const kmsConfigShape = {
  /** The KMS adapter: `local` (a keyring file), `pkcs11` (an HSM token) or `vault-transit` (Vault / OpenBao). */
  HAVEN_KMS: z.enum(KMS_PROVIDERS).default('local'),
  /** `local`: the keyring file (created 0600 on first start); each service has its default. */
  HAVEN_KEYRING_FILE: z.string().min(1).optional(),
  /** `pkcs11`: path of the vendor's PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  HAVEN_PKCS11_MODULE: z.string().min(1).optional(),
  /** `pkcs11`: label of the token (HSM partition) holding the key-encryption keys. */
  HAVEN_PKCS11_TOKEN_LABEL: z.string().min(1).optional(),
  /** `pkcs11`: file holding the user PIN (mode 0600 or stricter). */
  HAVEN_PKCS11_PIN_FILE: z.string().min(1).optional(),
  /** `pkcs11`: label prefix of this install's keys in the token (default `haven`). */
  HAVEN_PKCS11_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 of [A-Za-z0-9_-]')
    .optional(),
  /** `vault-transit`: Vault / OpenBao address (`https://vault.example:8200`). */
  HAVEN_VAULT_ADDR: z.url({ protocol: /^https?$/ }).optional(),
  /** `vault-transit`: file holding the Vault token (mode 0600 or stricter). */
  HAVEN_VAULT_TOKEN_FILE: z.string().min(1).optional(),
  /** `vault-transit`: name of the Transit key. */
  HAVEN_VAULT_TRANSIT_KEY: z.string().min(1).optional(),
  /** `vault-transit`: mount path of the Transit engine (default `transit`). */
  HAVEN_VAULT_TRANSIT_MOUNT: z.string().min(1).optional(),
  /** `vault-transit`: Vault Enterprise / OpenBao namespace. */
  HAVEN_VAULT_NAMESPACE: z.string().min(1).optional(),
  /** `vault-transit`: PEM of the CA that signed Vault's certificate. */
  HAVEN_VAULT_CA_FILE: z.string().min(1).optional(),
};

/** HAVEN_KEYRING_FILE of a service with no default keyring file: required when HAVEN_KMS=local. */
const keyringFileRequiredWithLocal = z.string().min(1).optional();

/**
 * {@link kmsConfigShape} for a service whose local keyring has no default location: with HAVEN_KMS=local,
 * {@link loadConfig} requires HAVEN_KEYRING_FILE.
 */
export const kmsConfigShapeRequiringKeyring = {
  ...kmsConfigShape,
  /** `local`: the keyring file (created 0600 on first start). Required with `local`. */
  HAVEN_KEYRING_FILE: keyringFileRequiredWithLocal,
};

/** The variables each KMS adapter requires beyond HAVEN_KMS (the keyring file has per-service defaults). */
export const KMS_REQUIRED_VARIABLES: Readonly<Record<KmsProvider, readonly string[]>> = {
  local: [],
  pkcs11: ['HAVEN_PKCS11_MODULE', 'HAVEN_PKCS11_TOKEN_LABEL', 'HAVEN_PKCS11_PIN_FILE'],
  'vault-transit': ['HAVEN_VAULT_ADDR', 'HAVEN_VAULT_TOKEN_FILE', 'HAVEN_VAULT_TRANSIT_KEY'],
};

/** The KMS variables of a parsed configuration. */
export type KmsConfig = {
  readonly HAVEN_KMS: KmsProvider;
} & { readonly [K in Exclude<keyof typeof kmsConfigShape, 'HAVEN_KMS'>]?: string | undefined };

/**
 * The environment `openKmsFromEnv` (@haven/crypto) reads, from a parsed configuration: the KMS variables only,
 * with `defaultKeyringFile` when HAVEN_KEYRING_FILE is unset. Throws nothing.
 */
export function kmsEnvOf(
  config: KmsConfig,
  options: { readonly defaultKeyringFile?: string } = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of Object.keys(kmsConfigShape) as (keyof typeof kmsConfigShape)[]) {
    const value = config[name];
    if (typeof value === 'string' && value !== '') env[name] = value;
  }
  if (env['HAVEN_KEYRING_FILE'] === undefined && options.defaultKeyringFile !== undefined) {
    env['HAVEN_KEYRING_FILE'] = options.defaultKeyringFile;
  }
  return env;
}

/** Each NATS credential variable of {@link natsCredentialShape} and the connect option it sets. */
const NATS_CREDENTIAL_OPTIONS = {
  NATS_USER: 'user',
  NATS_PASSWORD: 'pass',
  NATS_CREDS_FILE: 'credsFile',
  NATS_TLS_CA_FILE: 'tlsCaFile',
  NATS_TLS_CERT_FILE: 'tlsCertFile',
  NATS_TLS_KEY_FILE: 'tlsKeyFile',
  NATS_INBOX_PREFIX: 'inboxPrefix',
} as const satisfies Record<keyof typeof natsCredentialShape, keyof NatsCredentials>;

/** The NATS variables of a parsed configuration. */
export type NatsConfig = { readonly NATS_URL: string } & {
  readonly [K in keyof typeof NATS_CREDENTIAL_OPTIONS]?: string | undefined;
};

/**
 * The NATS credentials of a configuration, for connectNats, JetStreamEventStore.connect, EventBus.connect and
 * RevocationFeed.connect (spread it and add a connection name). Throws nothing.
 */
export function natsCredentialsOf(config: NatsConfig): NatsCredentials {
  const credentials: { -readonly [K in keyof NatsCredentials]: NatsCredentials[K] } = {
    servers: config.NATS_URL,
  };
  for (const name of Object.keys(NATS_CREDENTIAL_OPTIONS) as (keyof typeof NATS_CREDENTIAL_OPTIONS)[]) {
    const value = config[name];
    if (value !== undefined) credentials[NATS_CREDENTIAL_OPTIONS[name]] = value;
  }
  return credentials;
}

/** Trust domain of the workload names when none is configured (`spiffe://haven.internal/<name>`). */
export const DEFAULT_TRUST_DOMAIN = 'haven.internal';
/** How often the certificate files are read again by default (cert-manager renews well before expiry). */
export const DEFAULT_TLS_REFRESH_MS = 60_000;

/** The TLS variables every Haven gRPC server and client reads (all three files, or none: mTLS off). */
export const tlsShape = {
  /** PEM of the CA that signs every Haven workload's certificate (peers are verified against it). */
  HAVEN_TLS_CA_FILE: z.string().min(1).optional(),
  /** PEM certificate (chain) of this workload: its URI SAN `spiffe://<trust domain>/<name>` names it. */
  HAVEN_TLS_CERT_FILE: z.string().min(1).optional(),
  /** PEM private key of this workload's certificate. */
  HAVEN_TLS_KEY_FILE: z.string().min(1).optional(),
  /** The trust domain of the workload names in the certificates' URI SANs. */
  HAVEN_TLS_TRUST_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]+$/, 'a DNS-like name')
    .default(DEFAULT_TRUST_DOMAIN),
  /** Milliseconds between two reads of the certificate files (rotation is picked up within it). */
  HAVEN_TLS_REFRESH_MS: z.coerce.number().int().min(100).max(3_600_000).default(DEFAULT_TLS_REFRESH_MS),
};

/** The TLS variables of a parsed configuration. */
export interface TlsConfig {
  readonly HAVEN_TLS_CA_FILE?: string | undefined;
  readonly HAVEN_TLS_CERT_FILE?: string | undefined;
  readonly HAVEN_TLS_KEY_FILE?: string | undefined;
  readonly HAVEN_TLS_TRUST_DOMAIN?: string | undefined;
  readonly HAVEN_TLS_REFRESH_MS?: number | undefined;
}

const baseShape = {
  /** The gRPC port. Required here; give it the service's default with {@link createBaseConfigSchema} or {@link portSchema}. */
  HAVEN_GRPC_PORT: z.coerce.number().int().min(0).max(65535),
  /**
   * A plaintext port serving gRPC health alone, for probes that cannot present a client certificate (the
   * kubelet's); unset: none.
   */
  HAVEN_GRPC_HEALTH_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  ...natsCredentialShape,
  ...tlsShape,
  HAVEN_EVENT_STORE: z.enum(EVENT_STORES).default('jetstream'),
  KURRENTDB_URL: z.string().min(1).optional(),
  /** Replicas of the JetStream streams Haven creates (3 on a clustered NATS; 1 on a single server). */
  HAVEN_JETSTREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  HAVEN_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  HAVEN_JWT_ISSUER: z.string().min(1).default('haven-identity'),
  /** JWKS of the scheduling service, which signs patient tokens (issuer `haven-scheduling`, kind patient only). */
  HAVEN_PATIENT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  HAVEN_JWT_AUDIENCE: z.string().min(1).default('haven'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  HAVEN_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
};

function requireKurrentUrl(
  value: { HAVEN_EVENT_STORE: string; KURRENTDB_URL?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (value.HAVEN_EVENT_STORE === 'kurrentdb' && !value.KURRENTDB_URL) {
    ctx.addIssue({
      code: 'custom',
      path: ['KURRENTDB_URL'],
      message: 'required when HAVEN_EVENT_STORE=kurrentdb',
    });
  }
}

/**
 * The configuration every Haven service shares. Extend it with the service's own variables
 * (`baseConfigSchema.extend({ HAVEN_HTTP_PORT: portSchema(8080) })`) and parse it with {@link loadConfig}.
 * `HAVEN_GRPC_PORT` has no default here (it is required); {@link createBaseConfigSchema} gives it one.
 * `KURRENTDB_URL` is required when `HAVEN_EVENT_STORE=kurrentdb` (a refinement that `.extend` keeps,
 * and that {@link loadConfig} checks again).
 */
export const baseConfigSchema = z.object(baseShape).superRefine(requireKurrentUrl);

/**
 * The default gRPC port of each service (HAVEN_GRPC_PORT; the gateway's HAVEN_<SERVICE>_GRPC_ADDR defaults).
 * The block 20051–20055 lies below Linux's ephemeral port range (32768–60999: the kernel hands those out as
 * the local ports of outgoing connections, so a fixed listening port in it can be taken when the service
 * starts — the old 50051–50055 met EADDRINUSE), below Kubernetes' NodePort range (30000–32767) and clear of
 * Istio's 15000–15090; it keeps the familiar `…51` of gRPC examples.
 */
export const DEFAULT_GRPC_PORTS = {
  identity: 20051,
  scheduling: 20052,
  session: 20053,
  recording: 20054,
  audit: 20055,
} as const;

/**
 * {@link baseConfigSchema} with the service's conventional gRPC port as the default of `HAVEN_GRPC_PORT`
 * (see {@link DEFAULT_GRPC_PORTS}).
 */
export function createBaseConfigSchema(options: { grpcPort: number }) {
  return z
    .object({ ...baseShape, HAVEN_GRPC_PORT: portSchema(options.grpcPort) })
    .superRefine(requireKurrentUrl);
}

/** The parsed {@link baseConfigSchema}. */
export type BaseConfig = z.output<typeof baseConfigSchema>;

/** One bad configuration variable and why. */
export interface ConfigProblem {
  readonly variable: string;
  readonly problem: string;
}

/** The environment does not describe a valid configuration. The message names every bad variable. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const SENSITIVE = /SECRET|PASSWORD|KEY|TOKEN|CREDS|PASS/i;

/** True when a variable's value must never be printed (its name contains SECRET, PASSWORD, KEY, TOKEN…). */
export function isSensitiveVariable(name: string): boolean {
  return SENSITIVE.test(name);
}

/** Options of {@link loadConfig}. */
/**
 * HAVEN_* variables the dev stack and the Helm chart set for the whole stack. A service that does not read one
 * tolerates it; any other unknown HAVEN_* variable is still a typo that stops the process.
 */
export const STACK_WIDE_VARIABLES: readonly string[] = [
  'HAVEN_EVENT_STORE',
  'HAVEN_JWKS_URL',
  'HAVEN_PATIENT_JWKS_URL',
  'HAVEN_KMS',
  'HAVEN_KEYRING_FILE',
  'HAVEN_JANUS_WS_URLS',
  'HAVEN_JANUS_ADMIN_URLS',
  'HAVEN_JANUS_ADMIN_SECRET',
  'HAVEN_JANUS_TOKEN_SECRET',
  'HAVEN_JANUS_EVENTS_SECRET',
  'HAVEN_RECORDINGS_DIR',
  'HAVEN_DATA_DIR',
  'HAVEN_HTTP_PORT',
  'HAVEN_JETSTREAM_REPLICAS',
  'HAVEN_IDENTITY_GRPC_ADDR',
  'HAVEN_SCHEDULING_GRPC_ADDR',
  'HAVEN_SESSION_GRPC_ADDR',
  'HAVEN_RECORDING_GRPC_ADDR',
  'HAVEN_AUDIT_GRPC_ADDR',
  'HAVEN_SSO_CONFIG_FILE',
];

export interface LoadConfigOptions {
  /**
   * HAVEN_* variables this service tolerates without reading them (e.g. variables a shared ConfigMap
   * sets for other services). Every other HAVEN_* variable not in the schema is an error.
   */
  readonly ignoreVariables?: readonly string[];
}

type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/**
 * Parses the environment with a zod object schema into a deep-frozen object.
 * Empty values count as unset. An unknown `HAVEN_*` variable is an error (a typo must stop the process).
 * Throws ConfigError when a variable is unknown, missing or malformed; its message names each variable and
 * why, and shows the offending value only when the variable's name is not sensitive.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: LoadConfigOptions = {},
): DeepReadonly<z.output<S>> {
  const known = new Set(Object.keys(schema.shape));
  const ignored = new Set([...STACK_WIDE_VARIABLES, ...(options.ignoreVariables ?? [])]);
  const problems: ConfigProblem[] = [];
  const input: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (known.has(name)) {
      if (value !== undefined && value !== '') input[name] = value;
    } else if (name.startsWith('HAVEN_') && !ignored.has(name)) {
      const suggestion = closest(name, [...known]);
      problems.push({
        variable: name,
        problem: `unknown variable${suggestion ? ` (did you mean ${suggestion}?)` : ''}`,
      });
    }
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const variable = String(issue.path[0] ?? '(configuration)');
      const raw = input[variable];
      const shown =
        raw !== undefined && !isSensitiveVariable(variable) ? ` (got ${JSON.stringify(truncate(raw))})` : '';
      problems.push({
        variable,
        problem: `${raw === undefined && issue.code === 'invalid_type' ? 'required' : issue.message}${shown}`,
      });
    }
  } else {
    const out = result.data as Record<string, unknown>;
    if (out['HAVEN_EVENT_STORE'] === 'kurrentdb' && known.has('KURRENTDB_URL') && !out['KURRENTDB_URL']) {
      if (!problems.some((p) => p.variable === 'KURRENTDB_URL')) {
        problems.push({ variable: 'KURRENTDB_URL', problem: 'required when HAVEN_EVENT_STORE=kurrentdb' });
      }
    }
  }
  problems.push(...kmsProblems(schema, input));
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(result.data) as DeepReadonly<z.output<S>>;
}

/** The variables the chosen KMS adapter requires and that are missing (schemas with {@link kmsConfigShape}). */
function kmsProblems(schema: z.ZodObject, input: Readonly<Record<string, string>>): ConfigProblem[] {
  const shape = schema.shape as Record<string, unknown>;
  if (!('HAVEN_PKCS11_MODULE' in shape)) return [];
  const kms = (input['HAVEN_KMS'] ?? 'local') as KmsProvider;
  if (!KMS_PROVIDERS.includes(kms)) return []; // the schema names HAVEN_KMS itself
  const required = [...KMS_REQUIRED_VARIABLES[kms]];
  if (kms === 'local' && shape['HAVEN_KEYRING_FILE'] === keyringFileRequiredWithLocal) {
    required.push('HAVEN_KEYRING_FILE');
  }
  return required
    .filter((variable) => input[variable] === undefined)
    .map((variable) => ({ variable, problem: `required when HAVEN_KMS=${kms}` }));
}

function truncate(value: string): string {
  return value.length > 64 ? `${value.slice(0, 61)}...` : value;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const c of candidates) {
    const d = levenshtein(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? Math.max(a.length, b.length);
}
