import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { UnavailableError } from '@haven/errors';
import { backoffDelay } from './consumers';

/**
 * Drains a NATS connection, but never waits longer than `timeoutMs` (default 2 s): when the server is gone a
 * drain would wait for a reconnect forever and hold the process open. After the bound the connection is closed.
 * Throws nothing.
 */
export async function closeNatsConnection(nc: NatsConnection, timeoutMs = 2_000): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    nc.drain().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}

/**
 * Who connects to NATS and how: the server URL(s) and the credentials (NATS_URL, NATS_USER / NATS_PASSWORD or
 * NATS_CREDS_FILE, NATS_TLS_CA_FILE). The field names `user` and `pass` are nats.js's own, so one object fits
 * both `connectNats` and nats.js `connect`.
 */
export interface NatsCredentials {
  readonly servers: string | readonly string[];
  /** The NATS user (a Haven service's own user, e.g. `scheduling`, or `operator`). */
  readonly user?: string | undefined;
  /** The user's password. */
  readonly pass?: string | undefined;
  /** Path of a NATS `.creds` file (decentralised JWT authentication on a hospital's NATS). */
  readonly credsFile?: string | undefined;
  /** PEM file of the CA that signed the server's TLS certificate (implies TLS). */
  readonly tlsCaFile?: string | undefined;
  /** PEM client certificate presented to the server (with `tlsKeyFile`; implies TLS). Read at each connect. */
  readonly tlsCertFile?: string | undefined;
  /** PEM private key of `tlsCertFile`. */
  readonly tlsKeyFile?: string | undefined;
  /** Subject prefix of this client's reply inboxes; default {@link inboxPrefixOf}(user) when a user is set. */
  readonly inboxPrefix?: string | undefined;
  /**
   * How long {@link connectNats} keeps trying when the first connection fails transiently (refused, timed out:
   * NATS restarting, stalled or out of reach for a moment), with the consumers' back-off (from 250 ms doubling to
   * 5 s, jittered); default 60 000 ms. A refused credential fails at once. 0 tries once.
   */
  readonly retryForMs?: number | undefined;
  /**
   * How often the client PINGs the server (default 5 000 ms). A connection with 3 PINGs unanswered is dropped and
   * reconnected, so one whose reads stopped while its socket stays open (a half-open TCP connection, or nats.js's
   * reader ending on a byte it cannot parse) recovers within about 20 s instead of nats.js's 4 minutes.
   */
  readonly pingIntervalMs?: number | undefined;
}

/** Where and how to connect to NATS, plus the connection name shown by the server. */
export interface NatsConnectOptions extends NatsCredentials {
  readonly name: string;
}

/**
 * The reply-inbox prefix of a NATS user, `_INBOX_<user>`: every Haven user may subscribe only under its own
 * prefix (see the permissions in `nats-permissions.ts`), so no service reads another's replies.
 */
export function inboxPrefixOf(user: string): string {
  return `_INBOX_${user}`;
}

const DEFAULT_PING_INTERVAL_MS = 5_000;
const MAX_PINGS_OUT = 3;

/** nats.js connection options for the credentials (shared by {@link connectNats} and the start-up probe). */
export function natsConnectionOptions(options: NatsConnectOptions): ConnectionOptions {
  const connectOptions: ConnectionOptions = {
    servers: typeof options.servers === 'string' ? options.servers : [...options.servers],
    name: options.name,
    maxReconnectAttempts: -1,
    pingInterval: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    maxPingOut: MAX_PINGS_OUT,
    // nats.js builds two Error objects (stack traces) per request to enrich a later timeout message; at ~5 µs
    // each that is a third of the client-side cost of an event append. Haven's errors carry their own context
    // (UnavailableError names the operation), so the traces are not needed.
    noAsyncTraces: true,
  };
  if (options.user !== undefined) {
    connectOptions.user = options.user;
    if (options.pass !== undefined) connectOptions.pass = options.pass;
  }
  const inboxPrefix =
    options.inboxPrefix ?? (options.user !== undefined ? inboxPrefixOf(options.user) : undefined);
  if (inboxPrefix !== undefined) connectOptions.inboxPrefix = inboxPrefix;
  if (options.credsFile !== undefined) {
    connectOptions.authenticator = credsAuthenticator(readFileSync(options.credsFile));
  }
  if (options.tlsCaFile !== undefined || options.tlsCertFile !== undefined) {
    connectOptions.tls = tlsReadAtEachConnect(options);
  }
  return connectOptions;
}

/**
 * nats.js's TLS options with the PEM files read, synchronously, each time a connection starts its handshake (a
 * rotated certificate is picked up on the next reconnect). Not nats.js's own `caFile`/`certFile`/`keyFile`: it
 * reads those asynchronously between the server's greeting and the handshake, while the plain socket has no
 * error listener, so a connection reset in that gap ended the process (Unhandled 'error' event, ECONNRESET).
 */
function tlsReadAtEachConnect(options: NatsCredentials): NonNullable<ConnectionOptions['tls']> {
  const { tlsCaFile, tlsCertFile, tlsKeyFile } = options;
  const tls = {};
  const readAtConnect = (name: 'ca' | 'cert' | 'key', file: string | undefined): void => {
    if (file !== undefined) {
      Object.defineProperty(tls, name, { enumerable: true, get: () => readFileSync(file) });
    }
  };
  readAtConnect('ca', tlsCaFile);
  readAtConnect('cert', tlsCertFile);
  readAtConnect('key', tlsKeyFile);
  return tls;
}

/**
 * Error codes (nats.js's and Node's socket errors) of a first connection that may succeed when tried again, as
 * opposed to a refused credential or a bad configuration.
 */
const TRANSIENT_CONNECT_CODES: ReadonlySet<string> = new Set([
  'CONNECTION_REFUSED',
  'CONNECTION_TIMEOUT',
  'CONNECTION_CLOSED',
  'TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
]);

/**
 * Opens a NATS connection that reconnects forever (the services ride out NATS restarts), authenticating with
 * the user and password or the creds file when given, replies under the user's own inbox prefix, TLS verified
 * against `tlsCaFile` when given, without per-request async stack traces. A first connection that fails
 * transiently is tried again for up to `options.retryForMs`, so a service meeting a NATS hiccup at start does not
 * exit. Throws UnavailableError (`<what>: …`) when NATS refuses the credentials or stays unreachable.
 */
export async function connectNats(options: NatsConnectOptions, what = 'NATS'): Promise<NatsConnection> {
  const connectOptions = natsConnectionOptions(options);
  const until = Date.now() + (options.retryForMs ?? 60_000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(connectOptions);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const delay = backoffDelay(attempt, { maxMs: 5_000 });
      if (typeof code === 'string' && TRANSIENT_CONNECT_CODES.has(code) && Date.now() + delay < until) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        continue;
      }
      throw new UnavailableError(
        `${what}: NATS at ${String(connectOptions.servers)}${options.user ? ` (user ${options.user})` : ''} is not reachable: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
}
