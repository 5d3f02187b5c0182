import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { UnavailableError } from '@haven/errors';

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

/** Where and how to connect to NATS (NATS_URL, a connection name, NATS_CREDS_FILE). */
export interface NatsConnectOptions {
  readonly servers: string | readonly string[];
  readonly name: string;
  /** Path of a NATS `.creds` file. */
  readonly credsFile?: string | undefined;
}

/**
 * Opens a NATS connection that reconnects forever (the services ride out NATS restarts), authenticating with
 * the creds file when one is given, without per-request async stack traces. Throws UnavailableError (`<what>: …`) when NATS cannot be reached.
 */
export async function connectNats(options: NatsConnectOptions, what = 'NATS'): Promise<NatsConnection> {
  const connectOptions: ConnectionOptions = {
    servers: typeof options.servers === 'string' ? options.servers : [...options.servers],
    name: options.name,
    maxReconnectAttempts: -1,
    // nats.js builds two Error objects (stack traces) per request to enrich a later timeout message; at ~5 µs
    // each that is a third of the client-side cost of an event append. Haven's errors carry their own context
    // (UnavailableError names the operation), so the traces are not needed.
    noAsyncTraces: true,
  };
  if (options.credsFile !== undefined) {
    connectOptions.authenticator = credsAuthenticator(readFileSync(options.credsFile));
  }
  try {
    return await connect(connectOptions);
  } catch (error) {
    throw new UnavailableError(
      `${what}: NATS at ${String(connectOptions.servers)} is not reachable: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
