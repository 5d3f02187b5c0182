/**
 * Proves the media harness: Janus (videoroom, signed-token auth, allowed list) and two headless Chromiums
 * inside a private network namespace; B must decode A's fake-camera video, and joins with a token that is
 * not on the room's allowed list must be refused (433).
 */
import { join } from 'node:path';
import { createNetns, type JanusHandle, type Netns, netnsGate, runInNetns, startJanus } from '@haven/testing';
import type { DriverResult } from '../support/media/janus-room-driver';

// Explicit timeouts: jest ignores the per-project testTimeout in jest.config.js.
const DRIVER = join(__dirname, '..', 'support', 'media', 'janus-room-driver.ts');

(netnsGate() ? describe : describe.skip)('Janus media in a network namespace', () => {
  let ns: Netns;
  let janus: JanusHandle;

  beforeAll(async () => {
    ns = await createNetns();
    janus = await startJanus({
      netns: ns.name,
      tokenAuthSecret: `test-${Date.now()}-secret`,
      iceEnforceList: ns.iface,
    });
  }, 30_000);

  afterAll(async () => {
    await janus?.stop();
    await ns?.destroy();
  });

  it("B decodes A's video, and joins with a token not on the allowed list are refused (433)", async () => {
    let result: DriverResult;
    try {
      result = await runInNetns<DriverResult>(
        ns,
        DRIVER,
        {
          JANUS_WS_URL: janus.wsUrl,
          JANUS_TOKEN_SECRET: janus.tokenSecret ?? '',
          SCREENSHOT_PREFIX: 'janus-media',
        },
        { timeoutMs: 60_000 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- janus log ---\n${janus.logTail(40)}`, { cause: err });
    }
    process.stderr.write(
      `janus-media: join -> first frame ${result.firstFrameMs.join(', ')} ms; driver total ${result.totalMs} ms\n`,
    );
    expect(result.framesDecoded).toBeGreaterThan(10);
    expect(result.firstFrameMs).toHaveLength(1);
    expect(result.firstFrameMs[0]).toBeGreaterThan(0);
    expect(result.firstFrameMs[0]).toBeLessThan(10_000);
    expect(result.refused).toEqual({ notOnList: 433, noToken: 433 });
  }, 90_000);
});
