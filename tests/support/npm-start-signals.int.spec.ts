/**
 * `npm start` stops the whole stack when SIGINT or SIGTERM is sent to the npm process alone (`kill -INT <pid of
 * npm>`, as a process manager or another shell does), not only on a terminal's Ctrl-C, which reaches the whole
 * foreground process group. npm forwards both signals to its child; `sh -c` used to swallow them, leaving npm,
 * the dev stack, nats-server and Janus running. npm runs in its own process group here, so nothing but the one
 * signal reaches it. The services are left out (HAVEN_DEV_SERVICES=none); the set-up runs as `npm start` runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const npm = existsSync(join(dirname(process.execPath), 'npm'))
  ? join(dirname(process.execPath), 'npm')
  : 'npm';

describe.each(['SIGINT', 'SIGTERM'] as const)('npm start, then %s to the npm process alone', (signal) => {
  let home: string;
  let child: ChildProcess | undefined;
  let out = '';
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'haven-npm-start-'));
    chmodSync(home, 0o755); // an unprivileged Janus can traverse it
  });
  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    for (const m of out.matchAll(/(?:nats|janus) started \(pid (\d+)\)/g))
      if (alive(Number(m[1]))) process.kill(Number(m[1]), 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('stops the dev stack, nats-server and Janus, and npm exits', async () => {
    const proc = spawn(npm, ['start', '--silent'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`,
        HAVEN_HOME: home,
        HAVEN_DEV_SERVICES: 'none',
        HAVEN_DEV_PORT_OFFSET: '2000',
        FORCE_COLOR: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: the signal below reaches npm and nothing else
    });
    child = proc;
    const exited = new Promise<string>((r) =>
      proc.once('exit', (code, sig) => r(`code ${String(code)} signal ${String(sig)}`)),
    );
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 150_000; // the set-up builds first (up to date: seconds)
    while (!out.includes('Haven is running') && Date.now() < deadline && proc.exitCode === null) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(out).toContain('Haven is running');
    const pids = [...out.matchAll(/(?:nats|janus) started \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid)).toBe(true);

    process.kill(proc.pid!, signal);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      exited,
      new Promise<string>((r) => (timer = setTimeout(() => r('still running'), 20_000))),
    ]);
    clearTimeout(timer);
    expect(result).not.toBe('still running');
    expect(out).toContain('dev-stack | stopped');
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 200_000);
});
