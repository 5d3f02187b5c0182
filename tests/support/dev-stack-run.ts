/**
 * Test support: the dev stack (`node scripts/dev-stack.mjs`, or `npm start`) as a child process in a temporary
 * HAVEN_HOME, its output collected, and everything it started killed afterwards — what the dev-stack specs share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The repository's root. */
export const ROOT = resolve(__dirname, '..', '..');

/** Whether a process with `pid` exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids the dev stack printed as `<name> started (pid N)`, for the given names, in order. */
export function startedPids(out: string, names: readonly string[]): number[] {
  const pattern = new RegExp(`(?:${names.join('|')}) started \\(pid (\\d+)\\)`, 'g');
  return [...out.matchAll(pattern)].map((m) => Number(m[1]));
}

/** How a run ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running dev stack. */
export interface DevStackRun {
  readonly home: string;
  readonly proc: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  readonly exited: Promise<Exit>;
  /** Polls every 100 ms until `predicate` holds; throws with the output when the stack exits or `ms` passes. */
  until(predicate: () => boolean | Promise<boolean>, what: string, ms?: number): Promise<void>;
  /** Sends `signal` to the stack's own process (npm's alone) and waits at most `ms`: its exit, or undefined. */
  stopWith(signal: NodeJS.Signals, ms: number): Promise<Exit | undefined>;
  /** Kills what is still running (the whole group when detached, then every child it named) and removes home. */
  cleanup(): void;
}

/** What to start. */
export interface DevStackOptions {
  /** The temporary HAVEN_HOME's name prefix. */
  readonly homePrefix: string;
  /** Variables over this process's environment (HAVEN_HOME is set). */
  readonly env: Readonly<Record<string, string>>;
  /** `npm start --silent` instead of `node scripts/dev-stack.mjs` (in its own process group). */
  readonly npmStart?: boolean;
  /** The names whose `started (pid N)` lines cleanup() kills; default nats and janus. */
  readonly children?: readonly string[];
}

/** Starts the dev stack in a fresh HAVEN_HOME (mode 0755, so an unprivileged Janus can traverse it). */
export function runDevStack(options: DevStackOptions): DevStackRun {
  const home = mkdtempSync(join(tmpdir(), options.homePrefix));
  chmodSync(home, 0o755);
  const nodeBin = dirname(process.execPath);
  const npm = existsSync(join(nodeBin, 'npm')) ? join(nodeBin, 'npm') : 'npm';
  const [command, args] = options.npmStart
    ? [npm, ['start', '--silent']]
    : [process.execPath, [join(ROOT, 'scripts', 'dev-stack.mjs')]];
  const proc = spawn(command, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      ...(options.npmStart ? { PATH: `${nodeBin}:${process.env['PATH'] ?? ''}` } : {}),
      HAVEN_HOME: home,
      FORCE_COLOR: '',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // npm in its own process group: a signal sent to its pid reaches npm and nothing else.
    detached: options.npmStart === true,
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<Exit>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return {
    home,
    proc,
    output: () => out,
    exited,
    async until(predicate, what, ms = 30_000) {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (await predicate()) return;
        if (proc.exitCode !== null) throw new Error(`dev stack exited while waiting for ${what}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what}:\n${out.slice(-3000)}`);
    },
    async stopWith(signal, ms) {
      process.kill(proc.pid!, signal);
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        exited,
        new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms))),
      ]);
      clearTimeout(timer);
      return result;
    },
    cleanup() {
      if (proc.pid !== undefined && proc.exitCode === null) {
        if (options.npmStart) process.kill(-proc.pid, 'SIGKILL');
        else proc.kill('SIGKILL');
      }
      for (const pid of startedPids(out, options.children ?? ['nats', 'janus']))
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(home, { recursive: true, force: true });
    },
  };
}
