/**
 * `node scripts/dev-stack.mjs` with no services: starts nats-server (authenticated, streams provisioned by the
 * operator) and Janus (as an unprivileged user when the stack runs as root), prints the "Haven is running" box,
 * and on SIGINT stops both and exits 0. HAVEN_JANUS_ICE_INTERFACE becomes Janus's nat.ice_enforce_list.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'nats';
import { alive, runDevStack, startedPids, type DevStackRun } from './dev-stack-run';

describe('scripts/dev-stack.mjs', () => {
  let run: DevStackRun | undefined;
  afterAll(() => run?.cleanup());

  it('starts nats (no anonymous access, streams provisioned) + janus, prints the box, and stops cleanly on SIGINT', async () => {
    run = runDevStack({
      homePrefix: 'haven-devstack-',
      env: { HAVEN_DEV_SERVICES: 'none', HAVEN_JANUS_ICE_INTERFACE: 'lo' },
    });
    const { home } = run;
    const box = 'Haven is running: open http://localhost:8080';
    await run.until(() => run!.output().includes(box), 'the box');
    const out = run.output();
    const pids = startedPids(out, ['nats', 'janus']);
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
        'HAVEN_ACCEPTED',
        'HAVEN_BUS',
        'HAVEN_ES',
        'HAVEN_REVOCATIONS',
        'KV_haven_checkpoints',
      ]);
    } finally {
      await nc.close();
    }

    expect(await run.stopWith('SIGINT', 15_000)).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(run.output()).toContain('stopped');
  }, 60_000);
});
