/**
 * Runs a built Haven service (`services/<name>/dist/index.js`) as a real child process, the way the dev stack
 * and Kubernetes do, and waits until its gRPC health service answers SERVING.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { spawnChild, waitUntilReady, type Child, type ProcessHooks } from './process';
import { REPO_ROOT } from './repo-root';

export interface ServiceProcess {
  readonly name: string;
  readonly port: number;
  /** Everything the process printed so far (JSON log lines). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * grpc.health.v1.Health/Check over a raw client: SERVING is status 1 (bytes 08 01). `credentials` for a server
 * with mutual TLS (e.g. `stack.pki.grpcCredentials('integration')`), default plaintext.
 */
export async function healthStatus(
  address: string,
  deadlineMs = 1000,
  service = '',
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<number | undefined> {
  const client = new grpc.Client(address, credentials);
  // HealthCheckRequest { service = 1 }: an empty message asks about the whole server.
  const name = Buffer.from(service);
  const request = service ? Buffer.concat([Buffer.from([0x0a, name.length]), name]) : Buffer.alloc(0);
  try {
    return await new Promise<number | undefined>((resolve) => {
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        () => request,
        (b: Buffer) => (b.length >= 2 && b[0] === 0x08 ? b[1] : 0),
        {},
        new grpc.Metadata(),
        { deadline: new Date(Date.now() + deadlineMs) },
        (error, status) => resolve(error ? undefined : status),
      );
    });
  } finally {
    client.close();
  }
}

/** How to run one built service (see {@link runService}). */
export interface RunServiceOptions {
  /** The service directory under `services/` (its `dist/index.js` runs). */
  readonly service: string;
  /** The name in output and failure messages (default `service`; e.g. `session-2` for a second replica). */
  readonly name?: string;
  /** The whole environment of the process. */
  readonly env: Readonly<Record<string, string>>;
  /** True once the process is ready (polled every 50 ms). */
  readonly ready: () => Promise<boolean>;
  /** How long `start()` waits for `ready` (default 60 s). */
  readonly readyTimeoutMs?: number;
  readonly hooks?: ProcessHooks;
}

/** A built service as a child process that can be stopped, crashed and started again. */
export interface RunningService {
  readonly name: string;
  /** The current process id (undefined before the first start). */
  readonly pid: number | undefined;
  /** True while a process runs. */
  readonly running: boolean;
  /** What the processes printed so far (a bounded tail, across restarts). */
  readonly output: () => string;
  /**
   * Starts a process (again: same environment, ports and data) and resolves once it is ready. Throws Error when
   * it exits first or is not ready in time (the process is left running: `stop()` ends it).
   */
  readonly start: () => Promise<void>;
  /** Sends `signal`; for SIGKILL and SIGTERM resolves once it exited. */
  readonly signal: (signal: NodeJS.Signals) => Promise<void>;
  /** SIGTERM, SIGKILL after 5 s; resolves once it exited. */
  readonly stop: () => Promise<void>;
}

// Generous: some suites search the whole output (a secret must never be logged).
const OUTPUT_LIMIT = 8_000_000;

/** Prepares `node services/<service>/dist/index.js` (not started: call `start()`). Throws when it is not built. */
export function runService(options: RunServiceOptions): RunningService {
  const name = options.name ?? options.service;
  const entry = join(REPO_ROOT, 'services', options.service, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  let child: Child | undefined;
  let earlier = '';
  const output = (): string => (earlier + (child?.output() ?? '')).slice(-OUTPUT_LIMIT);
  return {
    name,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && !child.exited;
    },
    output,
    start: async () => {
      earlier = output();
      const c = spawnChild({
        name,
        command: process.execPath,
        args: [entry],
        cwd: REPO_ROOT,
        env: options.env,
        outputLimit: OUTPUT_LIMIT,
        ...(options.hooks ? { hooks: options.hooks } : {}),
      });
      child = c;
      await waitUntilReady(name, options.ready, {
        timeoutMs: options.readyTimeoutMs ?? 60_000,
        child: c,
        intervalMs: 50,
      });
    },
    signal: async (signal) => {
      const c = child;
      if (!c || c.exited) return;
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await c.stop({ signal });
      else c.signal(signal);
    },
    stop: async () => {
      await child?.stop();
    },
  };
}

/**
 * Starts `node services/<name>/dist/index.js` with the given environment and resolves once it is SERVING
 * (`opts.label` names it in output, e.g. a second replica).
 * Throws when the service is not built, exits early, or is not healthy within `timeoutMs` (default 60 s: an
 * upper bound on waiting, not a measurement; readiness waits for the service's consumers to catch up, and a loaded
 * machine may take a while); the message carries the end of its output.
 */
export async function startServiceProcess(
  name: string,
  port: number,
  env: Record<string, string>,
  timeoutMs = 60_000,
  opts: { label?: string } = {},
): Promise<ServiceProcess> {
  const service = runService({
    service: name,
    ...(opts.label ? { name: opts.label } : {}),
    env: { PATH: process.env.PATH ?? '', HAVEN_GRPC_PORT: String(port), LOG_LEVEL: 'info', ...env },
    ready: async () => (await healthStatus(`127.0.0.1:${port}`, 500)) === 1,
    readyTimeoutMs: timeoutMs,
  });
  try {
    await service.start();
  } catch (err) {
    await service.signal('SIGKILL');
    throw err;
  }
  return { name: service.name, port, output: service.output, stop: service.stop };
}
