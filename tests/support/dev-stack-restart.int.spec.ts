/**
 * `node scripts/dev-stack.mjs` restarts a service that crashed: recording (the lightest service) is killed with
 * kill -9, the dev stack says so, starts it again after its back-off, and the new process answers SERVING on
 * the same port. A temporary HAVEN_HOME and a port offset keep it apart from any other stack on the machine.
 * The session service runs too: Janus starts after it, so Janus's event handler reaches it from the first
 * event, and the session service connects to Janus once it answers.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ensureDevPki, healthStatus } from '@haven/testing';
import { alive, runDevStack, startedPids, type DevStackRun } from './dev-stack-run';

const RECORDING_GRPC_PORT = 20054;
const portFree = (port: number): Promise<boolean> =>
  new Promise((res) => {
    const s = createServer().once('error', () => res(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => res(true)));
  });

describe('scripts/dev-stack.mjs restarts crashed services', () => {
  let run: DevStackRun | undefined;
  afterAll(() => run?.cleanup());

  it('says a service was killed, restarts it after a back-off, and it serves again', async () => {
    // An offset whose recording port is free (the stack's default ports may be in use on this machine).
    let offset = 0;
    for (let tries = 0; tries < 50; tries += 1) {
      offset = 1_000 + Math.floor(Math.random() * 9_000);
      if (await portFree(RECORDING_GRPC_PORT + offset)) break;
    }
    const address = `127.0.0.1:${RECORDING_GRPC_PORT + offset}`;
    run = runDevStack({
      homePrefix: 'haven-devstack-restart-',
      env: { HAVEN_DEV_SERVICES: 'recording,session', HAVEN_DEV_PORT_OFFSET: String(offset) },
      children: ['nats', 'janus', 'recording', 'session'],
    });
    const { home } = run;
    const until = run.until.bind(run);
    const out = () => run!.output();
    await until(() => out().includes('Haven is running'), 'the box');
    // The services want mutual TLS: ask with the dev stack's own CA (made at its first start) and a client certificate.
    const tls = (await ensureDevPki({ dir: join(home, 'pki') })).grpcCredentials('integration');
    await until(async () => (await healthStatus(address, 1000, '', tls)) === 1, 'recording SERVING');
    // Janus after the session service: no event of Janus's boot is lost, and the session service found it.
    expect(out().indexOf('janus started (pid')).toBeGreaterThan(out().indexOf('session started (pid'));
    await until(
      () => /session\s+\|.*janus reconnected/.test(out()),
      'the session service connected to Janus',
    );
    const janusLog = readFileSync(join(home, 'logs', 'janus.log'), 'utf8');
    // The event handler is on (it posts to the session service), and none of its posts failed.
    const evh = readFileSync(join(home, 'janus', 'janus.eventhandler.sampleevh.jcfg'), 'utf8');
    expect(evh).toMatch(/enabled = true[\s\S]*backend = "http:\/\/127\.0\.0\.1:\d+\/janus-events"/);
    expect(janusLog).not.toContain("Couldn't relay event");
    const first = Number(startedPids(out(), ['recording'])[0]);
    expect(alive(first)).toBe(true);

    const killedAt = Date.now();
    process.kill(first, 'SIGKILL');
    await until(() => startedPids(out(), ['recording']).length >= 2, 'a new pid');
    await until(async () => (await healthStatus(address, 1000, '', tls)) === 1, 'recording SERVING again');
    const recoveredMs = Date.now() - killedAt;
    const pids = startedPids(out(), ['recording']);
    expect(pids).toHaveLength(2);
    expect(pids[1]).not.toBe(first);
    expect(out()).toContain('recording exited (code null, signal SIGKILL)');
    expect(out()).toMatch(/recording: restarting in 1 s \(restart 1 of at most 5 a minute\)/);
    process.stdout.write(`dev stack: recording SERVING again ${recoveredMs} ms after kill -9\n`);

    const exit = await run.stopWith('SIGINT', 15_000);
    if (exit?.code !== 0) process.stdout.write(out().slice(-4000));
    expect(exit).toEqual({ code: 0, signal: null });
    expect(alive(pids[1]!)).toBe(false);
  }, 90_000);
});
