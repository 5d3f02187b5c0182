/**
 * Child processes of a stack (nats-server, Janus, the services): spawned, their output kept (a bounded tail),
 * stopped politely then firmly, and killed when this process exits. A {@link ProcessHooks} lets a caller watch
 * them (the dev stack prints every line with the child's name, and restarts services that crash).
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Watches the children a launcher starts. Every hook is optional. */
export interface ProcessHooks {
  /** Run each child in its own process group (a terminal's Ctrl-C then reaches the parent alone). */
  readonly detached?: boolean;
  /** A child was spawned. */
  onStart?(name: string, pid: number): void;
  /** One line the child printed (stdout or stderr), without its newline. */
  onLine?(name: string, line: string, stream: 'stdout' | 'stderr'): void;
  /** A child exited (whoever stopped it). */
  onExit?(name: string, code: number | null, signal: NodeJS.Signals | null): void;
}

/** What to run. */
export interface ChildSpec {
  /** The name the hooks and failure messages use. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The whole environment of the child; this process's environment when omitted. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Run as this user (the parent must be allowed to). */
  readonly user?: { readonly uid: number; readonly gid: number };
  readonly hooks?: ProcessHooks;
  /** How many characters of output to keep (default 64 000). */
  readonly outputLimit?: number;
}

/** A spawned child. */
export interface Child {
  readonly name: string;
  /** The process id (-1 when it could not be spawned). */
  readonly pid: number;
  /** True once it exited or failed to spawn. */
  readonly exited: boolean;
  /** How it ended (`exited with 1`, `killed by SIGKILL`, `spawn error: …`), once it did. */
  readonly exitReason: string | undefined;
  /** Resolves once it exited. */
  readonly done: Promise<void>;
  /** The last characters it printed (stdout and stderr, interleaved). */
  output(): string;
  /** Sends a signal if it still runs. */
  signal(signal: NodeJS.Signals): void;
  /**
   * Stops it: `signal` (default SIGTERM; a stopped child is continued first), SIGKILL after `graceMs`
   * (default 5 s). Resolves once it exited.
   */
  stop(options?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function lines(onLine: (line: string) => void): { push(chunk: string): void; end(): void } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk;
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    },
    end() {
      if (buf) onLine(buf);
      buf = '';
    },
  };
}

/** Spawns `spec` and returns at once (see {@link Child}). Throws nothing: a spawn error ends the child. */
export function spawnChild(spec: ChildSpec): Child {
  const limit = spec.outputLimit ?? 64_000;
  const hooks = spec.hooks ?? {};
  const proc = spawn(spec.command, [...spec.args], {
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    ...(spec.env ? { env: { ...spec.env } } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: hooks.detached ?? false,
    ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
  });
  running.add(proc);
  let out = '';
  let exitReason: string | undefined;
  const keep = (chunk: string): void => {
    out += chunk;
    if (out.length > limit) out = out.slice(-limit);
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    const source = proc[stream];
    source.setEncoding('utf8');
    const split = hooks.onLine ? lines((line) => hooks.onLine?.(spec.name, line, stream)) : undefined;
    source.on('data', (chunk: string) => {
      keep(chunk);
      split?.push(chunk);
    });
    source.on('end', () => split?.end());
  }
  const done = new Promise<void>((resolve) => {
    proc.once('error', (err) => {
      exitReason ??= `spawn error: ${err.message}`;
      running.delete(proc);
      resolve();
    });
    proc.once('exit', (code, signal) => {
      exitReason ??= signal ? `killed by ${signal}` : `exited with ${String(code)}`;
      running.delete(proc);
      hooks.onExit?.(spec.name, code, signal);
      resolve();
    });
  });
  if (proc.pid !== undefined) hooks.onStart?.(spec.name, proc.pid);
  const alive = (): boolean => exitReason === undefined && proc.exitCode === null && proc.signalCode === null;
  return {
    name: spec.name,
    pid: proc.pid ?? -1,
    get exited() {
      return !alive();
    },
    get exitReason() {
      return exitReason;
    },
    done,
    output: () => out,
    signal(signal) {
      if (alive()) proc.kill(signal);
    },
    async stop({ signal = 'SIGTERM', graceMs = 5_000 } = {}) {
      if (!alive()) return;
      proc.kill('SIGCONT'); // a stopped child must run to handle SIGTERM
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(timer);
    },
  };
}

/**
 * Polls `probe` every `intervalMs` (default 100) until it resolves true. Throws Error naming `what` when
 * `child` exits first (with its output tail) or `timeoutMs` passes. A probe that throws counts as false.
 */
export async function waitUntilReady(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; child?: Child; intervalMs?: number },
): Promise<void> {
  const until = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 100;
  const tail = (): string => (options.child ? `:\n${options.child.output().slice(-3000)}` : '');
  // The time bound ends the loop; the attempt count is a backstop against a clock that does not move.
  const maxAttempts = Math.ceil(options.timeoutMs / interval) + 1;
  for (let attempt = 0; Date.now() < until && attempt < maxAttempts; attempt++) {
    if (options.child?.exited)
      throw new Error(`${what} ${options.child.exitReason ?? 'exited'} during start-up${tail()}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`${what} not ready within ${options.timeoutMs} ms${tail()}`);
}
