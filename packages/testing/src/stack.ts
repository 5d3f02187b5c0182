/**
 * The one Haven stack launcher: nats-server (authenticated, streams provisioned by the operator), optionally the
 * fault proxy in front of it, Janus (when the session service runs), and the built services
 * (`services/<name>/dist/index.js`) as child processes, each with the environment it needs. The dev stack
 * (`scripts/dev-stack.mjs`, from this package's dist) and every test stack are thin layers over it.
 *
 *   const stack = await launchStack({ services: ['identity', 'scheduling'], env: { identity: { … } } });
 *   … stack.service('scheduling').address … stack.nats.connect() …
 *   await stack.stop();
 *
 * Start order: nats-server and Janus, then identity (the others verify its tokens), then the other services
 * together (while `whileStarting` runs), then the gateway.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { startFaultProxy, type FaultProxy } from './fault-proxy';
import { startJanus, type JanusHandle, type StartJanusOptions } from './janus';
import { startNatsServer, type NatsServerHandle, type StartNatsServerOptions } from './nats-server';
import { ensureDevPki, sharedTestPki, type DevPki } from './pki';
import { freePort } from './ports';
import type { ProcessHooks } from './process';
import { healthStatus, runService, type RunningService } from './service-process';

/** The services a stack can run, in start order. */
export const STACK_SERVICES = ['identity', 'scheduling', 'session', 'recording', 'audit', 'gateway'] as const;
/** One of {@link STACK_SERVICES}. */
export type StackServiceName = (typeof STACK_SERVICES)[number];

/** The services with an HTTP port (identity and scheduling: JWKS; session: Janus events and media; gateway). */
const HTTP_SERVICES: ReadonlySet<StackServiceName> = new Set([
  'identity',
  'scheduling',
  'session',
  'gateway',
]);

/** A service's ports (the gateway has no gRPC port; recording and audit have no HTTP port). */
export interface StackPorts {
  readonly grpc?: number;
  readonly http?: number;
}

/** Janus in a stack. */
export interface StackJanusOptions extends Pick<
  StartJanusOptions,
  | 'iceEnforceList'
  | 'debugLevel'
  | 'configDir'
  | 'logFile'
  | 'recordingsDir'
  | 'wsPort'
  | 'adminWsPort'
  | 'runAs'
> {
  /** Janus posts its events to the (first) session service (default: when the session service runs). */
  readonly eventHandler?: boolean;
  /** The event handler's mask (default all). */
  readonly eventHandlerEvents?: string;
  /** The admin API secret, also the videoroom admin key the session service creates rooms with (default random). */
  readonly adminKey?: string;
  /** The core token secret (default random). */
  readonly tokenSecret?: string;
  /** The event handler's password (default random). */
  readonly eventsSecret?: string;
  /**
   * Start Janus after the other services, before the gateway (the dev stack), so its event handler reaches a
   * running session service from its first event; the session service connects to Janus once it answers.
   * Needs `wsPort`, `adminWsPort` and `recordingsDir` (the services' variables name them before Janus runs).
   */
  readonly startAfterServices?: boolean;
}

/** Options of {@link launchStack}. */
export interface LaunchStackOptions {
  /** The services to run (any order; they start in {@link STACK_SERVICES} order). */
  readonly services: readonly StackServiceName[];
  /**
   * The state directory: services keep their data in `<dir>/data/<name>`, scheduling's local keyring is
   * `<dir>/keyring.json`. Default a temp dir that `stop()` removes; a given one is left.
   */
  readonly dir?: string;
  /** Fixed ports (default free ones). */
  readonly ports?: Partial<Record<StackServiceName, StackPorts>>;
  /** Extra variables of one service, over everything else. */
  readonly env?: Partial<Record<StackServiceName, Readonly<Record<string, string>>>>;
  /** Extra variables of every service, under each service's own. */
  readonly commonEnv?: Readonly<Record<string, string>>;
  /**
   * Give every service the whole stack's variables (JWKS URLs, local KMS, Janus, recordings, every gRPC
   * address), not only those it reads, as the Helm chart does (default false: each gets its own).
   */
  readonly stackWideEnv?: boolean;
  /**
   * The environment every child starts from. Default: services get PATH alone; nats-server and Janus inherit
   * this process's environment.
   */
  readonly baseEnv?: Readonly<Record<string, string>>;
  /** LOG_LEVEL of the services (default info). */
  readonly logLevel?: string;
  /**
   * The CA and certificates of the stack's workloads (NATS with client certificates; gRPC with mutual TLS).
   * Default: with `dir`, a PKI kept in `<dir>/pki` (made at the first start); else the test process's shared one.
   */
  readonly pki?: DevPki;
  /** nats-server's port, directory (kept) and passwords (see startNatsServer). */
  readonly nats?: Pick<StartNatsServerOptions, 'port' | 'dir' | 'passwords'>;
  /** Put the fault proxy between the services and nats-server (`stack.proxy`). */
  readonly natsProxy?: boolean;
  /** Janus: on, off, or how (default on when the session service runs). */
  readonly janus?: boolean | StackJanusOptions;
  /** The JWKS the services trust for staff tokens (default identity's; required without identity). */
  readonly jwksUrl?: string;
  /** The JWKS the services trust for patient tokens (default scheduling's). */
  readonly patientJwksUrl?: string;
  /** Session service processes (default 1), named `session`, `session-2`…; Janus's events go to the first. */
  readonly sessionReplicas?: number;
  /** The gRPC health service name a service is ready on (default '' — the whole server). */
  readonly healthService?: Partial<Record<StackServiceName, string>>;
  /** How long each service may take to be ready (default 60 s: a bound, not a measurement). */
  readonly readyTimeoutMs?: number;
  /** Watches every child (the dev stack prefixes their lines with their names). */
  readonly hooks?: ProcessHooks;
  /** Runs once identity is ready, while the other services start (e.g. creating users). */
  readonly whileStarting?: (stack: LaunchedStack) => Promise<void>;
  /**
   * A service that does not become ready: by default the launch fails; with this hook it is reported here
   * and the launch goes on (the process is left running).
   */
  readonly onNotReady?: (name: string, error: Error) => void;
  /** A service process exited (whoever ended it): e.g. to start it again. */
  readonly onServiceExit?: (
    service: StackService,
    code: number | null,
    signal: NodeJS.Signals | null,
  ) => void;
}

/** A service of a stack. */
export interface StackService extends RunningService {
  readonly service: StackServiceName;
  readonly grpcPort: number | undefined;
  readonly httpPort: number | undefined;
  /** `127.0.0.1:<grpc port>`. */
  readonly address: string | undefined;
  /** `http://127.0.0.1:<http port>`. */
  readonly url: string | undefined;
  /** Its whole environment. */
  readonly env: Readonly<Record<string, string>>;
}

/** The secrets a stack shares with Janus. */
export interface StackJanusSecrets {
  readonly adminKey: string;
  readonly tokenSecret: string;
  readonly eventsSecret: string;
}

/** A running stack. */
export interface LaunchedStack {
  readonly dir: string;
  /** The stack's CA and workload certificates (e.g. `stack.pki.grpcCredentials('integration')` for a client). */
  readonly pki: DevPki;
  readonly nats: NatsServerHandle;
  /** The NATS URL the services use (the proxy's with `natsProxy`). */
  readonly natsUrl: string;
  readonly proxy: FaultProxy | undefined;
  readonly janus: JanusHandle | undefined;
  readonly janusSecrets: StackJanusSecrets;
  readonly jwksUrl: string;
  readonly patientJwksUrl: string;
  /** Every service's ports, running or not. */
  readonly ports: Readonly<Record<StackServiceName, StackPorts>>;
  /** The services, by name (`session-2` for a second replica), in start order. */
  readonly services: ReadonlyMap<string, StackService>;
  /** The service called `name`. Throws Error when the stack does not run it. */
  service(name: string): StackService;
  /** `127.0.0.1:<grpc port>` of a service, running or not. */
  readonly address: (name: Exclude<StackServiceName, 'gateway'>) => string;
  /** A `Client` of service `name` at {@link address}, over mutual TLS as the `integration` workload. */
  client<C>(
    Client: new (address: string, credentials: grpc.ChannelCredentials) => C,
    name: Exclude<StackServiceName, 'gateway'>,
  ): C;
  /** Milliseconds each phase took (`natsAndJanus`, `identity`, `services`, `gateway`, `total`). */
  readonly timings: Readonly<Record<string, number>>;
  /** The last lines of every process's output, for failure messages. */
  logs(lines?: number): string;
  /** Stops every process (reverse order) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const secret = (): string => randomBytes(24).toString('base64url');
const loopbackUrl = (port: number | undefined): string => `http://127.0.0.1:${port}`;

function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Everything a launch decides before it starts anything. */
interface Plan {
  readonly options: LaunchStackOptions;
  readonly pki: DevPki;
  readonly wanted: ReadonlySet<StackServiceName>;
  readonly dir: string;
  readonly ports: Record<StackServiceName, StackPorts>;
  /** The ports of session replicas 2, 3… */
  readonly replicaPorts: readonly StackPorts[];
  readonly jwksUrl: string;
  readonly patientJwksUrl: string;
  readonly janus: StackJanusOptions | undefined;
  readonly janusSecrets: StackJanusSecrets;
  readonly eventHandler: boolean;
  readonly address: (name: Exclude<StackServiceName, 'gateway'>) => string;
}

/** nats-server, Janus and the proxy, as far as they started (for logs and stop when a part fails). */
interface Backbone {
  nats?: NatsServerHandle;
  janus?: JanusHandle;
  proxy?: FaultProxy;
}

async function plan(options: LaunchStackOptions): Promise<Plan> {
  const wanted = new Set(options.services);
  const ports = {} as Record<StackServiceName, StackPorts>;
  for (const name of STACK_SERVICES) {
    const given = options.ports?.[name] ?? {};
    ports[name] = {
      ...(name === 'gateway' ? {} : { grpc: given.grpc ?? (await freePort()) }),
      ...(HTTP_SERVICES.has(name) ? { http: given.http ?? (await freePort()) } : {}),
    };
  }
  const replicaPorts: StackPorts[] = [];
  const replicas = wanted.has('session') ? Math.max(1, options.sessionReplicas ?? 1) : 1;
  for (let i = 1; i < replicas; i++) replicaPorts.push({ grpc: await freePort(), http: await freePort() });
  const janus: StackJanusOptions | undefined =
    options.janus === false || (options.janus === undefined && !wanted.has('session'))
      ? undefined
      : typeof options.janus === 'object'
        ? options.janus
        : {};
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'haven-stack-'));
  const pki =
    options.pki ??
    (options.dir !== undefined
      ? await ensureDevPki({ dir: join(options.dir, 'pki') })
      : await sharedTestPki());
  return {
    options,
    pki,
    wanted,
    dir,
    ports,
    replicaPorts,
    jwksUrl: options.jwksUrl ?? `${loopbackUrl(ports.identity.http)}/.well-known/jwks.json`,
    patientJwksUrl: options.patientJwksUrl ?? `${loopbackUrl(ports.scheduling.http)}/.well-known/jwks.json`,
    janus,
    janusSecrets: {
      adminKey: janus?.adminKey ?? secret(),
      tokenSecret: janus?.tokenSecret ?? secret(),
      eventsSecret: janus?.eventsSecret ?? secret(),
    },
    eventHandler: janus?.eventHandler ?? wanted.has('session'),
    address: (name) => `127.0.0.1:${ports[name].grpc}`,
  };
}

/** Starts nats-server and Janus together, then the proxy; each part registers its stop as it starts. */
async function startBackbone(
  p: Plan,
  backbone: Backbone,
  stoppers: Array<() => Promise<void>>,
): Promise<Required<Pick<Backbone, 'nats'>> & Backbone> {
  const { options, janus } = p;
  const watch = {
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.baseEnv ? { env: options.baseEnv } : {}),
  };
  const results = await Promise.allSettled([
    startNatsServer({ ...options.nats, ...watch, tls: p.pki }).then((n) => {
      backbone.nats = n;
      stoppers.push(() => n.stop());
    }),
    janus === undefined || janus.startAfterServices
      ? Promise.resolve()
      : startStackJanus(p, backbone, stoppers),
  ]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  const nats = backbone.nats!;
  if (options.natsProxy) {
    const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: nats.port } });
    backbone.proxy = proxy;
    stoppers.push(() => proxy.close());
  }
  return { ...backbone, nats };
}

/** Starts the stack's Janus (its event handler posting to the first session service). */
async function startStackJanus(
  p: Plan,
  backbone: Backbone,
  stoppers: Array<() => Promise<void>>,
): Promise<void> {
  const { options, janusSecrets: secrets } = p;
  const janus = p.janus!;
  const watch = {
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.baseEnv ? { env: options.baseEnv } : {}),
  };
  await startJanus({
    ...pick(janus, ['iceEnforceList', 'debugLevel', 'configDir', 'logFile', 'recordingsDir']),
    ...pick(janus, ['wsPort', 'adminWsPort', 'runAs', 'eventHandlerEvents']),
    adminSecret: secrets.adminKey,
    videoroomAdminKey: secrets.adminKey,
    tokenAuthSecret: secrets.tokenSecret,
    ...(p.eventHandler
      ? {
          eventHandlerUrl: `${loopbackUrl(p.ports.session.http)}/janus-events`,
          eventHandlerPassword: secrets.eventsSecret,
        }
      : {}),
    ...watch,
  }).then((j) => {
    backbone.janus = j;
    stoppers.push(() => j.stop());
  });
}

/** The whole environment of a service process (label `session-2` for the second session replica). */
function serviceEnv(
  p: Plan,
  backbone: Backbone & { nats: NatsServerHandle },
  name: StackServiceName,
  label: string,
  { grpc, http }: StackPorts,
): Record<string, string> {
  const { options, janusSecrets } = p;
  const janus = backbone.janus ?? plannedJanus(p);
  const keyring = { HAVEN_KMS: 'local', HAVEN_KEYRING_FILE: join(p.dir, 'keyring.json') };
  const jwks = { HAVEN_JWKS_URL: p.jwksUrl, HAVEN_PATIENT_JWKS_URL: p.patientJwksUrl };
  const stackWide = options.stackWideEnv
    ? {
        HAVEN_EVENT_STORE: 'jetstream',
        ...jwks,
        ...keyring,
        ...(janus ? janusEnv(janus, janusSecrets, { eventsSecret: true }) : {}),
        ...(janus ? { HAVEN_RECORDINGS_DIR: janus.recordingsDir } : {}),
        ...grpcAddresses(p.address),
      }
    : {};
  const own: Record<string, string> = {
    HAVEN_DATA_DIR: join(p.dir, 'data', label),
    ...(grpc !== undefined ? { HAVEN_GRPC_PORT: String(grpc) } : {}),
    ...(http !== undefined ? { HAVEN_HTTP_PORT: String(http) } : {}),
    ...(name === 'identity' ? {} : jwks),
    ...(name === 'scheduling' ? { ...keyring, HAVEN_PUBLIC_URL: loopbackUrl(p.ports.gateway.http) } : {}),
    // WebAuthn needs a domain: an IP address is never an RP ID, `localhost` is (passkeys are used from there).
    ...(name === 'identity' ? { HAVEN_PUBLIC_URL: `http://localhost:${p.ports.gateway.http}` } : {}),
    ...(name === 'session' && janus
      ? {
          ...janusEnv(janus, janusSecrets, { eventsSecret: p.eventHandler }),
          HAVEN_JANUS_RECORDINGS_DIR: janus.recordingsDir,
        }
      : {}),
    ...(name === 'gateway'
      ? {
          ...grpcAddresses(p.address),
          HAVEN_SESSION_MEDIA_URL: `ws://127.0.0.1:${p.ports.session.http}/media`,
        }
      : {}),
  };
  const natsUrl = backbone.proxy ? `nats://127.0.0.1:${backbone.proxy.port}` : backbone.nats.url;
  return {
    ...(options.baseEnv ?? { PATH: process.env['PATH'] ?? '' }),
    LOG_LEVEL: options.logLevel ?? 'info',
    ...stackWide,
    ...options.commonEnv,
    ...backbone.nats.env(name),
    // Mutual TLS for gRPC (and the same certificate for NATS): the workload's own certificate of the stack's CA.
    ...p.pki.env(name),
    NATS_URL: natsUrl,
    ...own,
    ...options.env?.[name],
  };
}

/** A service process of the stack, not started yet. */
function createService(
  p: Plan,
  backbone: Backbone & { nats: NatsServerHandle },
  name: StackServiceName,
  replica: number,
): StackService {
  const { options } = p;
  const ports = replica === 0 ? p.ports[name] : p.replicaPorts[replica - 1]!;
  const { grpc, http } = ports;
  const label = replica === 0 ? name : `${name}-${replica + 1}`;
  mkdirSync(join(p.dir, 'data', label), { recursive: true });
  const env = serviceEnv(p, backbone, name, label, ports);
  const health = options.healthService?.[name] ?? '';
  const credentials = p.pki.grpcCredentials('integration');
  const self: { service?: StackService } = {};
  const running = runService({
    service: name,
    name: label,
    env,
    ready:
      name === 'gateway'
        ? async () => (await httpStatus(`${loopbackUrl(http)}/healthz`, 500)) === 200
        : async () => (await healthStatus(`127.0.0.1:${grpc}`, 500, health, credentials)) === 1,
    ...(options.readyTimeoutMs !== undefined ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    hooks: {
      ...options.hooks,
      onExit: (n, code, signal) => {
        options.hooks?.onExit?.(n, code, signal);
        if (self.service) options.onServiceExit?.(self.service, code, signal);
      },
    },
  });
  self.service = {
    service: name,
    name: running.name,
    grpcPort: grpc,
    httpPort: http,
    address: grpc !== undefined ? `127.0.0.1:${grpc}` : undefined,
    url: http !== undefined ? loopbackUrl(http) : undefined,
    env,
    get pid() {
      return running.pid;
    },
    get running() {
      return running.running;
    },
    output: running.output,
    start: running.start,
    signal: running.signal,
    stop: running.stop,
  };
  return self.service;
}

/**
 * Starts a stack (see {@link LaunchStackOptions}). Throws Error when a part does not start (everything started
 * is stopped first; the message carries the end of every output), unless `onNotReady` takes a service's failure.
 */
export async function launchStack(options: LaunchStackOptions): Promise<LaunchedStack> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const p = await plan(options);
  const stoppers: Array<() => Promise<void>> = [];
  const services = new Map<string, StackService>();
  const backbone: Backbone = {};
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await backbone.nats?.resume();
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
    if (options.dir === undefined) rmSync(p.dir, { recursive: true, force: true });
  };
  const logs = (lines = 30): string =>
    [
      ...[...services.values()].map(
        (s) => `--- ${s.name} ---\n${s.output().split('\n').slice(-lines).join('\n')}`,
      ),
      ...(backbone.nats ? [`--- nats-server ---\n${backbone.nats.logTail(lines)}`] : []),
      ...(backbone.janus ? [`--- janus ---\n${backbone.janus.logTail(lines)}`] : []),
    ].join('\n');

  try {
    const started = await startBackbone(p, backbone, stoppers);
    timings['natsAndJanus'] = Date.now() - t0;
    const add = (name: StackServiceName, replica = 0): StackService => {
      const service = createService(p, started, name, replica);
      services.set(service.name, service);
      stoppers.push(() => service.stop());
      return service;
    };
    const start = async (service: StackService): Promise<void> => {
      try {
        await service.start();
      } catch (err) {
        if (!options.onNotReady) throw err;
        options.onNotReady(service.name, err instanceof Error ? err : new Error(String(err)));
      }
    };
    const stack: LaunchedStack = {
      dir: p.dir,
      pki: p.pki,
      nats: started.nats,
      natsUrl: started.proxy ? `nats://127.0.0.1:${started.proxy.port}` : started.nats.url,
      proxy: started.proxy,
      get janus() {
        return backbone.janus; // set later when Janus starts after the services
      },
      janusSecrets: p.janusSecrets,
      jwksUrl: p.jwksUrl,
      patientJwksUrl: p.patientJwksUrl,
      ports: p.ports,
      services,
      service(name) {
        const s = services.get(name);
        if (!s) throw new Error(`the stack does not run ${name}`);
        return s;
      },
      address: p.address,
      client: (Client, name) => new Client(p.address(name), p.pki.grpcCredentials('integration')),
      timings,
      logs,
      stop,
    };

    const phase = async (name: string, run: () => Promise<unknown>): Promise<void> => {
      const t = Date.now();
      await run();
      timings[name] = Date.now() - t;
    };
    if (p.wanted.has('identity')) await phase('identity', () => start(add('identity')));
    const others: StackService[] = [];
    for (const name of STACK_SERVICES) {
      if (name === 'identity' || name === 'gateway' || !p.wanted.has(name)) continue;
      others.push(add(name));
      if (name === 'session') p.replicaPorts.forEach((_, i) => others.push(add(name, i + 1)));
    }
    await phase('services', () => Promise.all([...others.map(start), options.whileStarting?.(stack)]));
    if (p.janus?.startAfterServices) await phase('janus', () => startStackJanus(p, backbone, stoppers));
    if (p.wanted.has('gateway')) await phase('gateway', () => start(add('gateway')));
    timings['total'] = Date.now() - t0;
    return stack;
  } catch (err) {
    const message = `${err instanceof Error ? err.message : String(err)}\n${logs(30)}`;
    await stop();
    throw new Error(`stack did not start: ${message}`, { cause: err });
  }
}

/** Where a Janus started after the services will listen (undefined when it starts first, or not at all). */
function plannedJanus(p: Plan): JanusAddress | undefined {
  const janus = p.janus;
  if (!janus?.startAfterServices) return undefined;
  const { wsPort, adminWsPort, recordingsDir } = janus;
  if (wsPort === undefined || adminWsPort === undefined || recordingsDir === undefined)
    throw new Error('janus.startAfterServices needs wsPort, adminWsPort and recordingsDir');
  return { wsUrl: `ws://127.0.0.1:${wsPort}`, adminWsUrl: `ws://127.0.0.1:${adminWsPort}`, recordingsDir };
}

/** What the services' variables say about Janus. */
type JanusAddress = Pick<JanusHandle, 'wsUrl' | 'adminWsUrl' | 'recordingsDir'>;

/** The stack-wide Janus variables (the session service reads them). */
function janusEnv(
  janus: JanusAddress,
  secrets: StackJanusSecrets,
  options: { eventsSecret: boolean },
): Record<string, string> {
  return {
    HAVEN_JANUS_WS_URLS: janus.wsUrl,
    HAVEN_JANUS_ADMIN_URLS: janus.adminWsUrl,
    HAVEN_JANUS_TOKEN_SECRET: secrets.tokenSecret,
    HAVEN_JANUS_ADMIN_SECRET: secrets.adminKey,
    ...(options.eventsSecret ? { HAVEN_JANUS_EVENTS_SECRET: secrets.eventsSecret } : {}),
  };
}

/** HAVEN_<SERVICE>_GRPC_ADDR of every gRPC service. */
function grpcAddresses(
  address: (name: Exclude<StackServiceName, 'gateway'>) => string,
): Record<string, string> {
  return Object.fromEntries(
    STACK_SERVICES.filter((s): s is Exclude<StackServiceName, 'gateway'> => s !== 'gateway').map((s) => [
      `HAVEN_${s.toUpperCase()}_GRPC_ADDR`,
      address(s),
    ]),
  );
}

/** The fields of `from` named in `keys` that are set. */
function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}
