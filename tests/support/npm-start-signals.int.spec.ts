/**
 * `npm start` stops the whole stack when SIGINT or SIGTERM is sent to the npm process alone (`kill -INT <pid of
 * npm>`, as a process manager or another shell does), not only on a terminal's Ctrl-C, which reaches the whole
 * foreground process group. npm forwards both signals to its child; `sh -c` used to swallow them, leaving npm,
 * the dev stack, nats-server and Janus running. npm runs in its own process group here, so nothing but the one
 * signal reaches it. The services are left out (HAVEN_DEV_SERVICES=none); the set-up runs as `npm start` runs it.
 */
import { alive, runDevStack, startedPids, type DevStackRun } from './dev-stack-run';

describe.each(['SIGINT', 'SIGTERM'] as const)('npm start, then %s to the npm process alone', (signal) => {
  let run: DevStackRun | undefined;
  afterAll(() => run?.cleanup());

  it('stops the dev stack, nats-server and Janus, and npm exits', async () => {
    run = runDevStack({
      homePrefix: 'haven-npm-start-',
      env: { HAVEN_DEV_SERVICES: 'none', HAVEN_DEV_PORT_OFFSET: '2000' },
      npmStart: true,
    });
    // The set-up builds first (up to date: seconds).
    await run.until(() => run!.output().includes('Haven is running'), 'the box', 150_000);
    const out = run.output();
    expect(out).toContain('Haven is running');
    const pids = startedPids(out, ['nats', 'janus']);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid)).toBe(true);

    expect(await run.stopWith(signal, 20_000)).toBeDefined();
    expect(run.output()).toContain('dev-stack | stopped');
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 200_000);
});
