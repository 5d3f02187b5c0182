import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, netnsGate, runInNetns, type Netns } from './netns';

const listed = (name: string): boolean =>
  spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .some((l) => l.split(' ')[0] === name);

(netnsGate() ? describe : describe.skip)('createNetns', () => {
  let ns: Netns;
  let dir: string;
  beforeAll(async () => {
    ns = await createNetns();
    dir = mkdtempSync(join(tmpdir(), 'haven-netns-spec-'));
  });
  afterAll(async () => {
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has v0 = 10.254.0.1 and v1 = 10.254.0.2, both up, and TCP flows between them', async () => {
    expect(listed(ns.name)).toBe(true);
    const addrs = await ns.exec('ip', ['-o', '-4', 'addr', 'show']);
    expect(addrs.stdout).toMatch(/v0\s+inet 10\.254\.0\.1\/30/);
    expect(addrs.stdout).toMatch(/v1\s+inet 10\.254\.0\.2\/30/);
    const script = `
      const net = require('node:net');
      const s = net.createServer((c) => c.end('pong')).listen(0, '${ns.hostIp}', () => {
        const c = net.connect({ host: '${ns.hostIp}', port: s.address().port, localAddress: '${ns.peerIp}' });
        let d = ''; c.on('data', (x) => (d += x)); c.on('end', () => { console.log(d); s.close(); });
      });`;
    const r = await ns.exec(process.execPath, ['-e', script], { timeoutMs: 10_000 });
    expect(r.stdout.trim()).toBe('pong');
  });

  it("runInNetns returns the script's JSON and the script sees only the namespace's interfaces", async () => {
    const file = join(dir, 'probe.ts');
    writeFileSync(
      file,
      `import { networkInterfaces } from 'node:os';\nconst names: string[] = Object.keys(networkInterfaces()).sort();\nconsole.log('noise');\nconsole.log(JSON.stringify({ names, extra: process.env['EXTRA'] }));\n`,
    );
    const r = await runInNetns<{ names: string[]; extra: string }>(ns, file, { EXTRA: 'yes' });
    expect(r).toEqual({ names: ['lo', 'v0', 'v1'], extra: 'yes' });
  }, 30_000);

  it("runInNetns rejects with the script's stderr when it fails", async () => {
    const file = join(dir, 'fail.js');
    writeFileSync(file, `console.error('boom-marker'); process.exit(3);`);
    await expect(runInNetns(ns, file)).rejects.toThrow(/exited with 3[\s\S]*boom-marker/);
  });

  it('runInNetns says a script that outlived its time was stopped, with what it printed so far', async () => {
    const file = join(dir, 'slow.js');
    writeFileSync(file, `console.error('slow-marker'); setTimeout(() => undefined, 20_000);`);
    await expect(runInNetns(ns, file, {}, { timeoutMs: 1500 })).rejects.toThrow(
      /timed out after 1500 ms[\s\S]*slow-marker/,
    );
  }, 20_000);

  it('destroy() kills processes left inside and deletes the namespace', async () => {
    const other = await createNetns();
    const child = other.spawn('sleep', ['30'], { stdio: 'ignore' });
    // Wait (bounded) until `ip netns exec` has entered the namespace and exec'd sleep (same pid).
    const deadline = Date.now() + 5_000;
    const inside = (): boolean =>
      spawnSync('ip', ['netns', 'pids', other.name], { encoding: 'utf8' })
        .stdout.split(/\s+/)
        .includes(String(child.pid));
    while (!inside() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(inside()).toBe(true);
    const exited = new Promise((r) => child.once('exit', r));
    await other.destroy();
    await exited;
    expect(listed(other.name)).toBe(false);
  }, 20_000);
});
