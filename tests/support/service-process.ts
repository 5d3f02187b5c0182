/**
 * Runs a built Haven service (`services/<name>/dist/index.js`) as a real child process, the way the dev stack
 * and Kubernetes do, and waits until its gRPC health service answers SERVING.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

const ROOT = join(__dirname, '..', '..');

export interface ServiceProcess {
  readonly name: string;
  readonly port: number;
  /** Everything the process printed so far (JSON log lines). */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** grpc.health.v1.Health/Check over a raw client: SERVING is status 1 (bytes 08 01). */
export async function healthStatus(
  address: string,
  deadlineMs = 1000,
  service = '',
): Promise<number | undefined> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
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
  const entry = join(ROOT, 'services', name, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HAVEN_GRPC_PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  const done = new Promise<void>((resolve) =>
    child.once('exit', () => ((exited = true), running.delete(child), resolve())),
  );

  const until = Date.now() + timeoutMs;
  // Each attempt sleeps 50 ms, so the time bound ends the loop first; the count only bounds it as well.
  const maxAttempts = Math.ceil(timeoutMs / 50) + 1;
  let serving = false;
  for (let attempt = 0; Date.now() < until && attempt < maxAttempts; attempt++) {
    if (exited) throw new Error(`${name} exited during start-up:\n${out.slice(-3000)}`);
    if ((await healthStatus(`127.0.0.1:${port}`, 500)) === 1) {
      serving = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!serving) {
    child.kill('SIGKILL');
    throw new Error(`${name} not SERVING within ${timeoutMs} ms:\n${out.slice(-3000)}`);
  }
  return {
    name: opts.label ?? name,
    port,
    output: () => out,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(timer);
    },
  };
}
