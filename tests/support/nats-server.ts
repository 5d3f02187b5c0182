/**
 * Test helper: a real `nats-server` (with JetStream) as a child process, one per suite.
 *
 *   const nats = await startNatsServer();
 *   ... connect({ servers: nats.url }) ...
 *   await nats.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

/** A running nats-server. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (`-sd`), for tests that damage the files on disk. */
  readonly storeDir: string;
  /** The current nats-server process id (it changes after `up()`), e.g. for SIGSTOP/SIGCONT. */
  readonly pid: number;
  /**
   * Stops the process and keeps its port and data (an outage); `signal` SIGKILL for a crash.
   * Resolves once it exited.
   */
  down(options?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** Starts the same server again after `down()` (same port and data); resolves once it is ready. */
  up(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after a bound) and removes its store directory. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
const STOP_GRACE_MS = 3_000;

/**
 * Starts `nats-server -a 127.0.0.1 -p <free port> [-js -sd <tmpdir>]` and resolves once it accepts
 * connections and has logged "Server is ready". Throws when the binary is missing, the process exits
 * early, or it is not ready within 10 s (the process is then killed and the temp dir removed).
 */
export async function startNatsServer(opts?: { jetstream?: boolean }): Promise<NatsServerHandle> {
  const jetstream = opts?.jetstream ?? true;
  const storeDir = await mkdtemp(join(tmpdir(), 'haven-nats-'));
  // A port can be taken between freePort() and the bind; retry a few times on that race.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const args = ['-a', '127.0.0.1', '-p', String(port)];
    if (jetstream) args.push('-js', '-sd', storeDir);
    let child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await waitReady(child, port);
      return {
        url: `nats://127.0.0.1:${port}`,
        port,
        storeDir,
        get pid() {
          return child.pid ?? 0;
        },
        down: async (options = {}) => kill(child, options.signal),
        up: async () => {
          if (child.exitCode === null && child.signalCode === null) return;
          child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
          await waitReady(child, port);
        },
        stop: async () => {
          await kill(child);
          await rm(storeDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
      await kill(child);
    }
  }
  await rm(storeDir, { recursive: true, force: true });
  throw new Error(`nats-server did not start: ${String(lastError)}`, { cause: lastError });
}

async function waitReady(child: ChildProcess, port: number): Promise<void> {
  let stderr = '';
  let ready = false;
  const state: { exited: string | null } = { exited: null };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 64_000) stderr += chunk;
    if (stderr.includes('Server is ready')) ready = true;
  });
  child.once('error', (err) => {
    state.exited = `spawn error: ${err.message}`;
  });
  child.once('exit', (code, signal) => {
    state.exited = `exited with ${String(code ?? signal)}`;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (state.exited !== null) throw new Error(`nats-server ${state.exited}: ${stderr.slice(-2000)}`);
    if (ready && (await accepts(port))) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms: ${stderr.slice(-2000)}`);
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
