/**
 * Test helper: a real `nats-server` (with JetStream) as a child process, one per suite, authenticated the way
 * production runs it: one NATS user per Haven service with the production permissions
 * (`packages/eventstore/src/nats-permissions.ts`), an operator user, nothing anonymous, and Haven's streams
 * (HAVEN_ES, HAVEN_BUS, the checkpoint bucket, HAVEN_REVOCATIONS, HAVEN_ACCEPTED) provisioned by the operator before it
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
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  type ProvisionedStream,
} from '@haven/eventstore';
import { sharedTestPki, type DevPki } from './pki';
import { freePort } from './ports';
import { spawnChild, type Child, type ProcessHooks } from './process';

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
  /** nats.js's TLS options: the CA and the user's client certificate (absent when the server has no TLS). */
  readonly tls?: { readonly caFile: string; readonly certFile: string; readonly keyFile: string };
  /** The same files under Haven's names (`connectNats`, `EventBus.connect`…). */
  readonly tlsCaFile?: string;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
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
  /** The PKI whose certificates the server verifies (undefined without TLS). */
  readonly pki: DevPki | undefined;
  /**
   * NATS_URL, NATS_USER and NATS_PASSWORD of `user` (and NATS_TLS_* with TLS), for a service process or an
   * in-process service config.
   */
  env(user: NatsUserName): NatsServiceEnv;
  /** A nats.js connection as `user` (default the operator). The caller drains or closes it. */
  connect(user?: NatsUserName): Promise<NatsConnection>;
  /** What provisioning did to each stream (empty when `provision` was false). */
  readonly provisioning: readonly ProvisionedStream[];
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
  /** Listen on this port (default a free one). */
  readonly port?: number;
  /**
   * Keep the configuration (`nats.conf`) and the JetStream store here, and leave them on `stop()` (default a
   * temp dir that `stop()` removes).
   */
  readonly dir?: string;
  /** The users' passwords (default random); a user left out gets a random one. */
  readonly passwords?: Partial<Readonly<Record<NatsUserName, string>>>;
  /** Watches the process (see ProcessHooks; its name is `nats`). */
  readonly hooks?: ProcessHooks;
  /** The process environment (default this process's). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * TLS with client certificates required (`verify`): the server's certificate and the CA come from this PKI,
   * each user presents the PKI's certificate of the same name. Default the test process's shared PKI
   * ({@link sharedTestPki}); `false` for a plaintext server.
   */
  readonly tls?: DevPki | false;
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
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'haven-nats-')));
  if (!ownDir) await mkdir(dir, { recursive: true });
  const passwords: Record<NatsUserName, string> = {
    operator: opts.passwords?.operator ?? password(),
    ...(Object.fromEntries(HAVEN_SERVICE_USERS.map((u) => [u, opts.passwords?.[u] ?? password()])) as Record<
      HavenServiceUser,
      string
    >),
  };
  const removeDir = (): Promise<void> =>
    ownDir ? rm(dir, { recursive: true, force: true }) : Promise.resolve();
  const pki = opts.tls === false ? undefined : (opts.tls ?? (await sharedTestPki()));
  const authorization = renderNatsAuthorization({ operator: passwords.operator, services: passwords });
  const configFile = join(dir, 'nats.conf');
  const writeConfig = async (port: number): Promise<void> => {
    await writeFile(configFile, natsConfigText(port, { dir, jetstream, pki, authorization }), {
      mode: 0o600,
    });
    await chmod(configFile, 0o600);
  };

  let child: Child | undefined;
  const spawnServer = async (port: number): Promise<void> => {
    const c = spawnChild({
      name: 'nats',
      command: 'nats-server',
      args: ['-c', configFile],
      outputLimit: LOG_LIMIT,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
    });
    child = c;
    try {
      await waitReady(c, port);
    } catch (err) {
      await c.stop({ graceMs: STOP_GRACE_MS });
      throw err;
    }
  };

  // A port can be taken between freePort() and the bind; retry a few times on that race.
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < (opts.port === undefined ? 3 : 1) && child === undefined; attempt += 1) {
    port = opts.port ?? (await freePort());
    await writeConfig(port);
    try {
      await spawnServer(port);
    } catch (err) {
      lastError = err;
      child = undefined;
    }
  }
  if (child === undefined) {
    await removeDir();
    throw new Error(`nats-server did not start: ${String(lastError)}`, { cause: lastError });
  }

  const url = `nats://127.0.0.1:${port}`;
  const client = (user: NatsUserName): NatsClientOptions => ({
    servers: url,
    user,
    pass: passwords[user],
    inboxPrefix: inboxPrefixOf(user),
    ...clientTls(pki, user),
  });
  const provisioning: ProvisionedStream[] = [];
  const running = (): Child | undefined => (child && !child.exited ? child : undefined);
  const handle: NatsServerHandle = {
    url,
    port,
    storeDir: dir,
    get pid() {
      return child?.pid ?? 0;
    },
    provisioning,
    operator: client(OPERATOR_USER),
    client,
    pki,
    env: (user) => serviceEnv(url, user, passwords[user], pki),
    connect: (user = OPERATOR_USER) => connect({ ...client(user), name: `test-${user}` }),
    logTail: (lines = 40) => (child?.output() ?? '').split('\n').slice(-lines).join('\n'),
    down: async (options = {}) => {
      await running()?.stop({ signal: options.signal ?? 'SIGTERM', graceMs: STOP_GRACE_MS });
    },
    pause: async () => running()?.signal('SIGSTOP'),
    resume: async () => running()?.signal('SIGCONT'),
    up: async () => {
      if (running()) return;
      await spawnServer(port);
    },
    stop: async () => {
      await running()?.stop({ graceMs: STOP_GRACE_MS });
      await removeDir();
    },
  };

  const provision = opts.provision ?? jetstream;
  if (provision !== false) {
    try {
      const nc = await handle.connect();
      try {
        provisioning.push(...(await provisionHavenStreams(nc, provision === true ? {} : provision)));
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

/** The server's configuration: its port, JetStream under `dir` (when on), mutual TLS (with a PKI), the users. */
function natsConfigText(
  port: number,
  o: { dir: string; jetstream: boolean; pki: DevPki | undefined; authorization: string },
): string {
  const tlsBlock = o.pki
    ? [
        'tls {',
        `  cert_file: ${JSON.stringify(o.pki.files('nats').certFile)}`,
        `  key_file: ${JSON.stringify(o.pki.files('nats').keyFile)}`,
        `  ca_file: ${JSON.stringify(o.pki.caFile)}`,
        '  verify: true',
        '  timeout: 5',
        '}',
      ].join('\n')
    : '';
  return [
    `listen: "127.0.0.1:${port}"`,
    o.jetstream ? `jetstream { store_dir: ${JSON.stringify(o.dir)} }` : '',
    tlsBlock,
    o.authorization,
  ].join('\n');
}

/** The TLS part of `user`'s client options (nats.js and our config's names), none without a PKI. */
function clientTls(pki: DevPki | undefined, user: NatsUserName) {
  if (!pki) return {};
  const { certFile, keyFile } = pki.files(user);
  return {
    tls: { caFile: pki.caFile, certFile, keyFile },
    tlsCaFile: pki.caFile,
    tlsCertFile: certFile,
    tlsKeyFile: keyFile,
  };
}

/** The NATS_* variables a service process connects as `user` with. */
function serviceEnv(url: string, user: NatsUserName, pass: string, pki: DevPki | undefined): NatsServiceEnv {
  return {
    NATS_URL: url,
    NATS_USER: user,
    NATS_PASSWORD: pass,
    ...(pki
      ? {
          NATS_TLS_CA_FILE: pki.caFile,
          NATS_TLS_CERT_FILE: pki.files(user).certFile,
          NATS_TLS_KEY_FILE: pki.files(user).keyFile,
        }
      : {}),
  };
}

async function waitReady(child: Child, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exited)
      throw new Error(`nats-server ${child.exitReason ?? 'exited'}: ${child.output().slice(-2000)}`);
    if (child.output().includes('Server is ready') && (await accepts(port))) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms: ${child.output().slice(-2000)}`);
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

/** A suite's nats-server and its operator connection (both from the suite's `beforeAll` on). */
export interface NatsSuite {
  readonly server: NatsServerHandle;
  readonly nc: NatsConnection;
}

/**
 * Registers a suite's hooks: before all, a nats-server and a nats.js connection to it as the operator; after all,
 * the connection drained and the server stopped. Call it at the top of a spec file. Its fields throw when read
 * before the suite's `beforeAll` ran.
 */
export function natsSuite(): NatsSuite {
  let server: NatsServerHandle | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await server.connect();
  });
  afterAll(async () => {
    await nc?.drain();
    await server?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error("the suite's nats-server is not started yet (beforeAll starts it)");
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get nc() {
      return started(nc);
    },
  };
}
