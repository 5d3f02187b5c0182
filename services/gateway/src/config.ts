import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import {
  commaListSchema,
  DEFAULT_GRPC_PORTS,
  EVENT_STORES,
  LOG_LEVELS,
  loadConfig,
  natsCredentialShape,
  tlsShape,
  portSchema,
} from '@haven/service';

/** `host:port` of a gRPC server (no scheme). */
const grpcAddress = (fallback: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, 'must be host:port')
    .default(fallback);

const booleanFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

/** The gateway's configuration variables. */
export const gatewayConfigSchema = z.object({
  HAVEN_HTTP_PORT: portSchema(8080),
  /** Interface to listen on; default all (like the gRPC services); 127.0.0.1 keeps it local. */
  HAVEN_HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  HAVEN_IDENTITY_GRPC_ADDR: grpcAddress(`127.0.0.1:${DEFAULT_GRPC_PORTS.identity}`),
  HAVEN_SCHEDULING_GRPC_ADDR: grpcAddress(`127.0.0.1:${DEFAULT_GRPC_PORTS.scheduling}`),
  HAVEN_SESSION_GRPC_ADDR: grpcAddress(`127.0.0.1:${DEFAULT_GRPC_PORTS.session}`),
  /** The audit service: a patient's own access log (who looked at their record). */
  HAVEN_AUDIT_GRPC_ADDR: grpcAddress(`127.0.0.1:${DEFAULT_GRPC_PORTS.audit}`),
  /** The recording service: playback grants and the decrypted byte ranges of a recording. */
  HAVEN_RECORDING_GRPC_ADDR: grpcAddress(`127.0.0.1:${DEFAULT_GRPC_PORTS.recording}`),
  /**
   * NATS: the bus (session events for the WebSocket fan-out) and identity's revocations (closing sockets at
   * logout or idle logoff). Without it the WebSocket still authenticates but gets no live updates.
   */
  NATS_URL: z.string().min(1).optional(),
  ...natsCredentialShape,
  /** The gateway's certificate for its gRPC calls (mutual TLS with every service; all three files or none). */
  ...tlsShape,
  /**
   * The event store where the gateway records its own refusals (401/403 it answers itself) as AccessRefused
   * events, like every service: `jetstream` at NATS_URL (default) or `kurrentdb` at KURRENTDB_URL. Without
   * either the refusals are only logged.
   */
  HAVEN_EVENT_STORE: z.enum(EVENT_STORES).default('jetstream'),
  KURRENTDB_URL: z.string().min(1).optional(),
  /** Replicas HAVEN_JETSTREAM_REPLICAS asks for: fewer on a stream the gateway uses is logged as a warning. */
  HAVEN_JETSTREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** Staff WebSockets without activity for this long are signed out (identity's idle logoff; stack-wide name). */
  HAVEN_IDLE_TIMEOUT_SEC: z.coerce.number().int().min(1).max(86_400).default(900),
  /**
   * The largest file a visit member may share in the chat, in bytes (stack-wide name: the session service
   * enforces it too). Default 10 MiB.
   */
  HAVEN_CHAT_FILE_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024)
    .default(10 * 1024 * 1024),
  /**
   * The dev stack's mail catcher page (`http://127.0.0.1:8025/`): the web app shows what it caught. Development
   * only: a URL off the loopback interface is refused, and without it the route does not exist.
   */
  HAVEN_DEV_MAIL_URL: z
    .url({ protocol: /^http$/ })
    .refine((u) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(u).hostname), {
      message: 'must be a mail catcher on the loopback interface (development only)',
    })
    .optional(),
  /** Extra origins allowed to open the WebSocket (comma list); the gateway's own origin always is. */
  HAVEN_ALLOWED_ORIGINS: commaListSchema(),
  /** Cookies carry `Secure`. Turn off only for plain-http development on a host other than localhost. */
  HAVEN_COOKIE_SECURE: booleanFlag(true),
  /** Where the browser app's files are. */
  HAVEN_WEB_ROOT: z
    .string()
    .min(1)
    .default(resolve(__dirname, '..', '..', '..', 'web', 'dist')),
  /**
   * Number of proxies in front of the gateway whose X-Forwarded-For is trusted (rate limiting by client IP). Safe
   * only when nothing but those proxies can reach the gateway (the chart's NetworkPolicy); otherwise list them in
   * HAVEN_TRUSTED_PROXIES.
   */
  HAVEN_TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /**
   * The proxies (the ingress) whose X-Forwarded-For is believed: comma list of IP addresses, CIDR ranges and the
   * names `loopback`, `linklocal`, `uniquelocal`. A request from any other peer is taken as coming from that peer.
   * Not together with HAVEN_TRUST_PROXY_HOPS.
   */
  HAVEN_TRUSTED_PROXIES: commaListSchema().pipe(
    z.array(
      z
        .string()
        .refine(
          (p) => ['loopback', 'linklocal', 'uniquelocal'].includes(p) || isProxyAddress(p),
          'must be an IP address, a CIDR range, loopback, linklocal or uniquelocal',
        ),
    ),
  ),
  /**
   * Shared with identity (same variable there): with it the gateway passes each browser's address on to
   * identity's login, and identity throttles by that address instead of the gateway's. At least 32 characters.
   */
  HAVEN_FORWARDER_SECRET: z.string().min(32).optional(),
  HAVEN_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The scheduling service's patient-token keys: lets the gateway verify the patient cookie. */
  HAVEN_PATIENT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  HAVEN_JWT_ISSUER: z.string().min(1).default('haven-identity'),
  HAVEN_JWT_AUDIENCE: z.string().min(1).default('haven'),
  /**
   * The session service's media proxy (its HTTP port, path /media): the gateway forwards the browser's media
   * websocket (`/api/media`) there with the browser's token as a bearer. Browsers never reach Janus.
   */
  HAVEN_SESSION_MEDIA_URL: z.url({ protocol: /^wss?$/ }).default('ws://127.0.0.1:8090/media'),
  /** Debian's janus.js (libjs-janus-gateway), served at /vendor/janus.js for the in-visit media page. */
  HAVEN_JANUS_JS: z.string().min(1).default('/usr/share/javascript/janus-gateway/janus.js'),
  /**
   * The clinics' OpenID Connect providers (JSON; README "Staff single sign-on"): the sign-in page offers "Sign in
   * with …" for each. Needs HAVEN_PUBLIC_URL.
   */
  HAVEN_SSO_CONFIG_FILE: z.string().min(1).optional(),
  /** The browser's origin of Haven (`https://haven.clinic.example`): SSO's redirect URI derives from it. */
  HAVEN_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  HAVEN_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
});

function isProxyAddress(value: string): boolean {
  const [address = '', bits, ...rest] = value.split('/');
  if (rest.length > 0) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

/** The parsed gateway configuration. */
export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

/**
 * HAVEN_* variables that the dev stack sets for other services, beyond the stack-wide ones loadConfig already
 * tolerates (STACK_WIDE_VARIABLES); the gateway tolerates them without reading them.
 */
export const IGNORED_VARIABLES = [
  'HAVEN_GRPC_PORT',
  'HAVEN_JANUS_DEBUG_LEVEL',
  'HAVEN_HOME',
  'HAVEN_DEV_SERVICES',
  'HAVEN_SESSION_IDLE_TIMEOUT_SEC',
] as const;

/** Parses the gateway configuration. Throws ConfigError naming each unknown, missing or malformed variable. */
export function loadGatewayConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return loadConfig(
    gatewayConfigSchema
      .refine((c) => c.HAVEN_TRUSTED_PROXIES.length === 0 || c.HAVEN_TRUST_PROXY_HOPS === 0, {
        path: ['HAVEN_TRUSTED_PROXIES'],
        message: 'set HAVEN_TRUSTED_PROXIES or HAVEN_TRUST_PROXY_HOPS, not both',
      })
      .refine((c) => c.HAVEN_SSO_CONFIG_FILE === undefined || c.HAVEN_PUBLIC_URL !== undefined, {
        path: ['HAVEN_PUBLIC_URL'],
        message: 'HAVEN_SSO_CONFIG_FILE needs HAVEN_PUBLIC_URL (the redirect URI derives from it)',
      }),
    env,
    { ignoreVariables: IGNORED_VARIABLES },
  );
}
