/**
 * `node scripts/dev-stack.mjs` with no services: starts nats-server (authenticated, streams provisioned by the
 * operator) and Janus (as an unprivileged user when the stack runs as root), prints the "Haven is running" box,
 * and on SIGINT stops both and exits 0. HAVEN_JANUS_ICE_INTERFACE becomes Janus's nat.ice_enforce_list.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'nats';

const ROOT = resolve(__dirname, '..', '..');
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('scripts/dev-stack.mjs', () => {
  let home: string;
  let child: ChildProcess | undefined;
  let out = '';
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'haven-devstack-'));
    chmodSync(home, 0o755); // like a HAVEN_HOME made by mkdir: an unprivileged Janus can traverse it
  });
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    for (const m of out.matchAll(/(?:nats|janus) started \(pid (\d+)\)/g))
      if (alive(Number(m[1]))) process.kill(Number(m[1]), 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('starts nats (no anonymous access, streams provisioned) + janus, prints the box, and stops cleanly on SIGINT', async () => {
    const proc = spawn(process.execPath, [join(ROOT, 'scripts', 'dev-stack.mjs')], {
      cwd: ROOT,
      env: {
        ...process.env,
        HAVEN_HOME: home,
        HAVEN_DEV_SERVICES: 'none',
        HAVEN_JANUS_ICE_INTERFACE: 'lo',
        FORCE_COLOR: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));

    const deadline = Date.now() + 30_000;
    while (
      !out.includes('Haven is running: open http://localhost:8080') &&
      Date.now() < deadline &&
      proc.exitCode === null
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(out).toContain('Haven is running: open http://localhost:8080');
    const pids = [...out.matchAll(/(nats|janus) started \(pid (\d+)\)/g)].map((m) => Number(m[2]));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    expect(out).toMatch(/^janus\s+\| /m);
    expect(statSync(join(home, 'secrets.json')).mode & 0o777).toBe(0o600);
    const secrets = JSON.parse(readFileSync(join(home, 'secrets.json'), 'utf8')) as Record<string, string>;
    expect(secrets['janusAdminSecret']?.length).toBeGreaterThanOrEqual(32);
    const core = readFileSync(join(home, 'janus', 'janus.jcfg'), 'utf8');
    expect(core).toContain(`admin_secret = "${secrets['janusAdminSecret']}"`);
    // HAVEN_JANUS_ICE_INTERFACE picks the interface Janus gathers ICE candidates on.
    expect(core).toMatch(/ice_enforce_list = "lo"/);
    expect(out).toContain(', ICE on lo');
    // Recordings only into the recordings directory; the configuration (secrets) readable by Janus alone.
    expect(core).toContain('"/etc/"');
    expect(core).not.toContain(`"${join(home, 'recordings')}/"`);
    expect(statSync(join(home, 'janus')).mode & 0o777).toBe(0o700);
    if (process.getuid?.() === 0) {
      // Janus needs no privilege: as root, the dev stack runs it as an unprivileged user.
      const janusPid = Number(/janus started \(pid (\d+)\)/.exec(out)?.[1]);
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${janusPid}/status`, 'utf8'))?.[1];
      expect(Number(uid)).not.toBe(0);
      expect(out).toMatch(/janus runs as user nobody/);
    }

    // NATS: nobody connects without a user; the operator provisioned the streams before anything started.
    expect(statSync(join(home, 'nats', 'nats.conf')).mode & 0o777).toBe(0o600);
    const natsUrl = /NATS\s+(nats:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
    // TLS with client certificates from the local CA made at the first start (0600, in the state directory).
    const pkiDir = join(home, 'pki');
    for (const file of ['ca.key', 'operator.key', 'scheduling.key', 'scheduling.pem']) {
      expect(statSync(join(pkiDir, file)).mode & 0o777).toBe(0o600);
    }
    const tls = {
      caFile: join(pkiDir, 'ca.pem'),
      certFile: join(pkiDir, 'operator.pem'),
      keyFile: join(pkiDir, 'operator.key'),
    };
    await expect(connect({ servers: natsUrl, reconnect: false, timeout: 5_000 })).rejects.toThrow();
    await expect(connect({ servers: natsUrl, tls, reconnect: false })).rejects.toThrow(
      /Authorization Violation/,
    );
    const stored = JSON.parse(readFileSync(join(home, 'secrets.json'), 'utf8')) as {
      natsPasswords: Record<string, string>;
    };
    const passwords = stored.natsPasswords;
    const nc = await connect({ servers: natsUrl, tls, user: 'operator', pass: passwords['operator'] ?? '' });
    try {
      const jsm = await nc.jetstreamManager();
      expect((await jsm.streams.info('HAVEN_ES')).config.deny_delete).toBe(true);
      expect((await jsm.streams.names().next()).sort()).toEqual([
        'HAVEN_BUS',
        'HAVEN_ES',
        'HAVEN_REVOCATIONS',
        'KV_haven_checkpoints',
      ]);
    } finally {
      await nc.close();
    }

    proc.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), 15_000))),
    ]);
    clearTimeout(timer);
    expect(code).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(out).toContain('stopped');
  }, 60_000);
});
