/**
 * The session service alone, as the Janus specs run it: a real nats-server, a JWKS server for identity's staff
 * tokens and scheduling's patient tokens (`/patients/...`), the built session service as a child process on
 * 127.0.0.1 with its own data directory, its gRPC client and a store on the same nats-server. Janus is the
 * spec's: `janus` starts it once the session's HTTP port is known (for the event handler URL) and answers the
 * websocket URL(s) the service connects to. The spec stops its Janus itself, after `stop()`.
 *
 *   const stack = await startSessionStack({ name: 'visit-access-test', janus: async (httpPort) => ... });
 *   ... stack.client / stack.store / stack.identity.sign(...) ...
 *   await stack.stop();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamEventStore } from '@haven/eventstore';
import { session } from '@haven/proto';
import { createTestIssuer, type TestIssuer } from '@haven/service/testing';
import {
  freePort,
  type JwksServer,
  localClient,
  type NatsServerHandle,
  serveJwks,
  type ServiceProcess,
  startNatsServer,
  startServiceProcess,
} from '@haven/testing';

/** A running session service with its nats-server, JWKS server, client and store. */
export interface SessionStack {
  readonly nats: NatsServerHandle;
  readonly jwks: JwksServer;
  readonly service: ServiceProcess;
  readonly client: session.SessionServiceClient;
  readonly store: JetStreamEventStore;
  /** The session service's HTTP port (media proxy `/media`, Janus events `/janus-events`). */
  readonly httpPort: number;
  /** The staff token issuer (identity). */
  readonly identity: TestIssuer;
  /** The patient token issuer (scheduling). */
  readonly scheduling: TestIssuer;
  /** Closes the client and the store, stops the service, nats-server and JWKS server, removes the data dir. */
  stop(): Promise<void>;
}

/**
 * Starts nats-server, the JWKS server, the spec's Janus (through `janus`) and the session service.
 * `env` adds to (or overrides) the service's environment. Throws when a server does not start.
 */
export async function startSessionStack(opts: {
  /** The store connection's name (shows in nats-server's connection list). */
  readonly name: string;
  /** Starts the spec's Janus node(s); answers the comma-separated websocket URLs (HAVEN_JANUS_WS_URLS). */
  readonly janus: (sessionHttpPort: number) => Promise<string>;
  /** HAVEN_JANUS_TOKEN_SECRET, the Janus core token secret. */
  readonly janusTokenSecret: string;
  readonly env?: Readonly<Record<string, string>>;
}): Promise<SessionStack> {
  const identity = createTestIssuer();
  const scheduling = createTestIssuer({ issuer: 'haven-scheduling' });
  // What has started, stopped in reverse by stop() or when a later step throws.
  const started: (() => Promise<void> | void)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stopOne of started.splice(0).reverse()) await stopOne();
  };
  try {
    const nats = await startNatsServer();
    started.push(() => nats.stop());
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const jwks = await serveJwks((path) => (path.startsWith('/patients') ? scheduling.jwks : identity.jwks));
    started.push(() => jwks.close());
    const janusWsUrls = await opts.janus(httpPort);
    const dataDir = mkdtempSync(join(tmpdir(), 'haven-session-stack-'));
    started.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const service = await startServiceProcess('session', grpcPort, {
      ...nats.env('session'),
      HAVEN_JWKS_URL: jwks.url,
      HAVEN_PATIENT_JWKS_URL: `${jwks.origin}/patients/jwks.json`,
      HAVEN_HTTP_PORT: String(httpPort),
      HAVEN_JANUS_WS_URLS: janusWsUrls,
      HAVEN_JANUS_TOKEN_SECRET: opts.janusTokenSecret,
      HAVEN_DATA_DIR: dataDir,
      ...opts.env,
    });
    started.push(() => service.stop());
    const client = localClient(session.SessionServiceClient, grpcPort);
    started.push(() => client.close());
    const store = await JetStreamEventStore.connect({ ...nats.operator, name: opts.name });
    started.push(() => store.close());
    return { nats, jwks, service, client, store, httpPort, identity, scheduling, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
