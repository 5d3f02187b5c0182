/**
 * Test helper: a throw-away Linux network namespace with a veth pair inside it, so that WebRTC between
 * Chromium and Janus uses real (non-loopback) candidates without touching the host's own addresses.
 * See /work/shared/MEDIA-TESTING.md. Needs root and `ip netns`.
 *
 *   const ns = await createNetns();
 *   const result = await runInNetns(ns, require.resolve('./some-driver'), { ... });
 *   await ns.destroy();
 */
import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-root';

const IP = '/usr/sbin/ip';
let counter = 0;
const live = new Set<string>();
let exitHookInstalled = false;

/** Result of running a command in a namespace. */
export interface ExecResult {
  /** The exit code; 1 when the command was ended by a signal (see `timedOut` and `signal`). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The command outlived its `timeoutMs` and was killed (SIGKILL). */
  readonly timedOut?: boolean;
  /** The signal that ended the command, if one did. */
  readonly signal?: string;
}

/** A network namespace created by {@link createNetns}. */
export interface Netns {
  readonly name: string;
  /** Address of `v0` (Janus binds ICE here: ice_enforce_list = "v0"). */
  readonly hostIp: '10.254.0.1';
  /** Address of `v1`. */
  readonly peerIp: '10.254.0.2';
  readonly iface: 'v0';
  /** Runs a command inside the namespace to completion (bounded by timeoutMs, default 30 s). */
  exec(
    cmd: string,
    args: readonly string[],
    opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string },
  ): Promise<ExecResult>;
  /** Spawns a long-running command inside the namespace (`ip netns exec <name> cmd …`; same pid as cmd). */
  spawn(cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Kills every process still inside the namespace and deletes it. Idempotent. */
  destroy(): Promise<void>;
}

function ipSync(args: readonly string[]): { ok: boolean; out: string } {
  const r = spawnSync(IP, args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * Whether network namespaces can be used here: running as root and `ip netns` works.
 * Returns `{ ok: false, reason }` instead of throwing.
 */
export function netnsAvailable(): { ok: true } | { ok: false; reason: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ok: false, reason: 'network namespaces need root (uid 0)' };
  }
  const r = ipSync(['netns', 'list']);
  if (!r.ok) return { ok: false, reason: `\`ip netns list\` failed: ${r.out}` };
  return { ok: true };
}

/**
 * Gate for media suites: returns true when namespaces work; locally (no CI env) returns false after a loud
 * warning so the caller can `describe.skip`. Use as `(netnsGate() ? describe : describe.skip)(…)`.
 * Throws Error when CI is set and namespaces are unavailable, so CI fails instead of silently passing.
 */
export function netnsGate(): boolean {
  const avail = netnsAvailable();
  if (avail.ok) return true;
  const msg = `media tests need network namespaces: ${avail.reason}`;
  if (process.env['CI']) throw new Error(`${msg} (CI runs as root; this must work there)`);
  process.stderr.write(`\n\n*** SKIPPING MEDIA TESTS: ${msg} ***\n\n`);
  return false;
}

function deleteSync(name: string): void {
  // A few bounded passes: a process may be entering the namespace (`ip netns exec`) while we kill.
  for (let pass = 0; pass < 5; pass += 1) {
    const pids = ipSync(['netns', 'pids', name]);
    const list = pids.ok ? pids.out.split(/\s+/).filter(Boolean) : [];
    if (list.length === 0) break;
    for (const pid of list) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  ipSync(['netns', 'del', name]);
  live.delete(name);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const name of [...live]) deleteSync(name);
  });
}

function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      [...args],
      {
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 32 * 1024 * 1024,
        env: opts.env ?? process.env,
        cwd: opts.cwd ?? REPO_ROOT,
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        const signal = err?.signal ?? undefined;
        resolvePromise({
          code,
          stdout: String(stdout),
          stderr: String(stderr),
          // execFile marks a child it killed itself; with a timeout set that is the timeout.
          ...(err?.killed === true ? { timedOut: true } : {}),
          ...(signal ? { signal } : {}),
        });
      },
    );
  });
}

/**
 * Creates `haven-<pid>-<n>` (or `opts.name`) with lo up and a veth pair v0 (10.254.0.1/30) / v1
 * (10.254.0.2/30) inside it. The namespace is deleted on {@link Netns.destroy} or at process exit.
 * Throws Error when namespaces are unavailable or an `ip` command fails (the half-made namespace is removed).
 */
export async function createNetns(opts: { name?: string } = {}): Promise<Netns> {
  const avail = netnsAvailable();
  if (!avail.ok) throw new Error(`cannot create a network namespace: ${avail.reason}`);
  counter += 1;
  const name = opts.name ?? `haven-${process.pid}-${counter}`;
  installExitHook();
  const steps: string[][] = [
    ['netns', 'add', name],
    ['-n', name, 'link', 'set', 'lo', 'up'],
    ['-n', name, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
    ['-n', name, 'addr', 'add', '10.254.0.1/30', 'dev', 'v0'],
    ['-n', name, 'addr', 'add', '10.254.0.2/30', 'dev', 'v1'],
    ['-n', name, 'link', 'set', 'v0', 'up'],
    ['-n', name, 'link', 'set', 'v1', 'up'],
  ];
  for (const [i, step] of steps.entries()) {
    const r = await run(IP, step, { timeoutMs: 10_000 });
    if (i === 0 && r.code === 0) live.add(name);
    if (r.code !== 0) {
      deleteSync(name);
      throw new Error(`ip ${step.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    }
  }
  let destroyed = false;
  return {
    name,
    hostIp: '10.254.0.1',
    peerIp: '10.254.0.2',
    iface: 'v0',
    exec: (cmd, args, o) => run(IP, ['netns', 'exec', name, cmd, ...args], o),
    spawn: (cmd, args, o) => spawn(IP, ['netns', 'exec', name, cmd, ...args], { cwd: REPO_ROOT, ...o }),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      deleteSync(name);
    },
  };
}

/**
 * Runs a node script (TypeScript through ts-node transpile-only) inside the namespace and parses the LAST
 * stdout line that is a JSON object as its result. The script receives `env` on top of process.env;
 * its stderr is kept for error messages (and echoed when HAVEN_TEST_VERBOSE is set).
 * Throws Error when the script exits non-zero, times out (default 60 s) or prints no JSON line.
 */
export async function runInNetns<T = unknown>(
  ns: Pick<Netns, 'name'>,
  scriptPath: string,
  env: Record<string, string> = {},
  opts: { timeoutMs?: number } = {},
): Promise<T> {
  const args = ['netns', 'exec', ns.name, process.execPath];
  if (scriptPath.endsWith('.ts')) args.push('-r', 'ts-node/register/transpile-only');
  args.push(scriptPath);
  const r = await run(IP, args, {
    timeoutMs: opts.timeoutMs ?? 60_000,
    cwd: REPO_ROOT,
    env: { ...process.env, TS_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.jest.json'), ...env },
  });
  if (process.env['HAVEN_TEST_VERBOSE']) process.stderr.write(r.stderr);
  const tail = r.stderr.split('\n').slice(-40).join('\n');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const ended = r.timedOut
    ? `timed out after ${timeoutMs} ms and was killed`
    : r.signal
      ? `was killed by ${r.signal}`
      : `exited with ${r.code}`;
  if (r.code !== 0 || r.timedOut || r.signal)
    throw new Error(`${scriptPath} ${ended} in netns ${ns.name}:\n${tail}\n${r.stdout.slice(-2000)}`);
  const line = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .reverse()
    .find((l) => l.startsWith('{') && l.endsWith('}'));
  if (line === undefined)
    throw new Error(`${scriptPath} printed no JSON result in netns ${ns.name}:\n${tail}`);
  return JSON.parse(line) as T;
}

/**
 * Registers the suite's `beforeAll`, which runs the in-namespace driver `driver` once in a fresh network
 * namespace (`runInNetns`, with `env`, killed after `timeoutMs`) and hands its result to `onResult`, and the
 * `afterAll` that destroys the namespace. Call it inside a describe gated by `netnsGate()`. The hook may take
 * the driver's `timeoutMs` plus 20 s; a driver that fails fails the hook, and with it every test of the suite.
 */
export function runDriverOnce<T>(
  driver: string,
  opts: { readonly timeoutMs: number; readonly env?: Readonly<Record<string, string>> },
  onResult: (result: T) => void,
): void {
  let ns: Netns | undefined;
  beforeAll(async () => {
    ns = await createNetns();
    onResult(await runInNetns<T>(ns, driver, { ...opts.env }, { timeoutMs: opts.timeoutMs }));
  }, opts.timeoutMs + 20_000);
  afterAll(async () => {
    await ns?.destroy();
  });
}
