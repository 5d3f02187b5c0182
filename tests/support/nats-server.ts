/**
 * Test helper: a real `nats-server` (with JetStream) as a child process, one per suite, authenticated the way
 * production runs it: one NATS user per Haven service with the production permissions
 * (`packages/eventstore/src/nats-permissions.ts`), an operator user, nothing anonymous, and Haven's streams
 * (HAVEN_ES, HAVEN_BUS, the checkpoint bucket, HAVEN_REVOCATIONS) provisioned by the operator before it
 * resolves — services only check them, they may not create or change them.
 *
 *   const nats = await startNatsServer();
 *
 *   // a service process, or a service config built in-process:
 *   await startServiceProcess('scheduling', port, { ...nats.env('scheduling'), ... });
 *   const config = loadConfig(schema, { ...nats.env('audit'), ... });
 *
 *   // an in-process client acting as a service (permissions apply):
 *   const bus = await EventBus.connect({ ...nats.client('session'), name: 'test' });
 *
 *   // the operator: manage streams, read anything, append test events to any context:
 *   const store = await JetStreamEventStore.connect({ ...nats.operator, name: 'test' });
 *   const nc = await nats.connect();            // nats.js connection as the operator (or nats.connect('audit'))
 *
 *   await nats.down(); await nats.up();         // an outage: same port, config and data
 *   await nats.down({ signal: 'SIGKILL' });     // a crash (then up())
 *   await nats.pause(); await nats.resume();    // a stall: SIGSTOP / SIGCONT
 *   await nats.stop();                          // for good: removes the data
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import {
  HAVEN_SERVICE_USERS,
  OPERATOR_USER,
  closeNatsConnection,
  inboxPrefixOf,
  provisionHavenStreams,
  renderNatsAuthorization,
  type HavenServiceUser,
  type ProvisionOptions,
} from '@haven/eventstore';
import { freePort } from './ports';

/** A NATS user of the test server: a Haven service's own user, or the operator. */
export type NatsUserName = HavenServiceUser | typeof OPERATOR_USER;

/**
 * Credentials of one user. The field names are nats.js's, so the object fits nats.js `connect()` as well as
 * Haven's `connectNats`, `JetStreamEventStore.connect`, `EventBus.connect` and `RevocationFeed.connect`
 * (add a `name` where they want one).
 */
export interface NatsClientOptions {
  readonly servers: string;
  readonly user: string;
  readonly pass: string;
  readonly inboxPrefix: string;
}

/** The NATS variables of a service's configuration (services read them from the environment). */
export interface NatsServiceEnv {
  readonly NATS_URL: string;
  readonly NATS_USER: string;
  readonly NATS_PASSWORD: string;
  /** Spreads into a `Record<string, string>` of environment variables. */
  readonly [name: string]: string;
}

/** A running nats-server. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` (connecting needs credentials: use `client`, `env` or `operator`). */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (`store_dir`), for tests that damage the files on disk. */
  readonly storeDir: string;
  /** The current nats-server process id (it changes after `up()`), e.g. for SIGSTOP/SIGCONT. */
  readonly pid: number;
  /** The operator's credentials: may create, change and delete streams, and publish anywhere. */
  readonly operator: NatsClientOptions;
  /** The credentials of `user` (a service's own user is bound by the production permissions). */
  client(user: NatsUserName): NatsClientOptions;
  /** NATS_URL, NATS_USER and NATS_PASSWORD of `user`, for a service process or an in-process service config. */
  env(user: NatsUserName): NatsServiceEnv;
  /** A nats.js connection as `user` (default the operator). The caller drains or closes it. */
  connect(user?: NatsUserName): Promise<NatsConnection>;
  /** The last lines nats-server printed (permission violations, authorization errors…). */
  logTail(lines?: number): string;
  /**
   * Stops the process and keeps its port, configuration and data (an outage); `signal` SIGKILL for a crash.
   * Resolves once it exited.
   */
  down(options?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** Starts the same server again after `down()` (same port, users, data); resolves once it is ready. */
  up(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  pause(): Promise<void>;
  /** Lets a paused process run again (SIGCONT). */
  resume(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after a bound) and removes its store directory. */
  stop(): Promise<void>;
}

/** Options of {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** JetStream on (default true). */
  readonly jetstream?: boolean;
  /**
   * Provision Haven's streams as the operator before resolving (default true with JetStream); an object sets
   * the provisioning options (e.g. a short `duplicateWindowMs`). `false` leaves the server without streams
   * (tests of provisioning and of services meeting a missing stream).
   */
  readonly provision?: boolean | ProvisionOptions;
}

const READY_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
const STOP_GRACE_MS = 3_000;
const LOG_LIMIT = 64_000;

const password = (): string => randomBytes(18).toString('base64url');

/**
 * Starts an authenticated `nats-server` on a free 127.0.0.1 port (config file in a temp dir, 0600) and
 * resolves once it accepts connections, has logged "Server is ready" and (by default) the operator provisioned
 * Haven's streams. Throws when the binary is missing, the process exits early, it is not ready within 10 s, or
 * provisioning fails (the process is then killed and the temp dir removed).
 */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const jetstream = opts.jetstream ?? true;
  const dir = await mkdtemp(join(tmpdir(), 'haven-nats-'));
  const passwords: Record<NatsUserName, string> = {
    operator: password(),
    ...(Object.fromEntries(HAVEN_SERVICE_USERS.map((u) => [u, password()])) as Record<
      HavenServiceUser,
      string
    >),
  };
  const authorization = renderNatsAuthorization({ operator: passwords.operator, services: passwords });
  const configFile = join(dir, 'nats.conf');
  const writeConfig = (port: number): Promise<void> =>
    writeFile(
      configFile,
      [
        `listen: "127.0.0.1:${port}"`,
        jetstream ? `jetstream { store_dir: ${JSON.stringify(dir)} }` : '',
        authorization,
      ].join('\n'),
      { mode: 0o600 },
    );

  let child: ChildProcess | undefined;
  let log = '';
  const spawnServer = async (port: number): Promise<void> => {
    log = '';
    const c = spawn('nats-server', ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr?.setEncoding('utf8');
    c.stderr?.on('data', (chunk: string) => {
      log = (log + chunk).slice(-LOG_LIMIT);
    });
    try {
      await waitReady(c, port, () => log);
    } catch (err) {
      await kill(c);
      throw err;
    }
  };

  // A port can be taken between freePort() and the bind; retry a few times on that race.
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3 && child === undefined; attempt += 1) {
    port = await freePort();
    await writeConfig(port);
    try {
      await spawnServer(port);
    } catch (err) {
      lastError = err;
      child = undefined;
    }
  }
  if (child === undefined) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`nats-server did not start: ${String(lastError)}`, { cause: lastError });
  }

  const url = `nats://127.0.0.1:${port}`;
  const client = (user: NatsUserName): NatsClientOptions => ({
    servers: url,
    user,
    pass: passwords[user],
    inboxPrefix: inboxPrefixOf(user),
  });
  const handle: NatsServerHandle = {
    url,
    port,
    storeDir: dir,
    get pid() {
      return child?.pid ?? 0;
    },
    operator: client(OPERATOR_USER),
    client,
    env: (user) => ({ NATS_URL: url, NATS_USER: user, NATS_PASSWORD: passwords[user] }),
    connect: (user = OPERATOR_USER) => connect({ ...client(user), name: `test-${user}` }),
    logTail: (lines = 40) => log.split('\n').slice(-lines).join('\n'),
    down: async (options = {}) => {
      if (child) await kill(child, options.signal);
    },
    pause: async () => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGSTOP');
    },
    resume: async () => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
    },
    up: async () => {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await spawnServer(port);
    },
    stop: async () => {
      if (child) await kill(child);
      await rm(dir, { recursive: true, force: true });
    },
  };

  const provision = opts.provision ?? jetstream;
  if (provision !== false) {
    try {
      const nc = await handle.connect();
      try {
        await provisionHavenStreams(nc, provision === true ? {} : provision);
      } finally {
        await closeNatsConnection(nc);
      }
    } catch (err) {
      await handle.stop();
      throw new Error(`provisioning the test nats-server failed: ${String(err)}`, { cause: err });
    }
  }
  return handle;
}

async function waitReady(child: ChildProcess, port: number, log: () => string): Promise<void> {
  const state: { exited: string | null } = { exited: null };
  child.once('error', (err) => {
    state.exited = `spawn error: ${err.message}`;
  });
  child.once('exit', (code, signal) => {
    state.exited = `exited with ${String(code ?? signal)}`;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (state.exited !== null) throw new Error(`nats-server ${state.exited}: ${log().slice(-2000)}`);
    if (log().includes('Server is ready') && (await accepts(port))) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms: ${log().slice(-2000)}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function kill(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT'); // a paused server must run to handle SIGTERM
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
    }),
  ]);
  if (timer) clearTimeout(timer);
  if (timedOut) {
    child.kill('SIGKILL');
    await exited;
  }
}
