/**
 * Removed means gone, with real media: the whole stack and two headless Chromiums in a private network namespace
 * (see ./support/media-kick-driver.ts). In the admitted patient's own tab the official janus.js, driven with only
 * what the patient's browser was handed, publishes a second and a third feed, asks Janus to record a live feed
 * into a path of its choosing, and subscribes to the clinician in a Janus session of its own. The clinician then
 * removes the patient.
 */
import { join } from 'node:path';
import { netnsGate, runDriverOnce } from '@haven/testing';
import type { MediaKickResult } from './support/media-kick-driver';

const DRIVER = join(__dirname, 'support', 'media-kick-driver.ts');

(netnsGate() ? describe : describe.skip)('a participant removed from a visit, with real media', () => {
  let result: MediaKickResult;

  runDriverOnce<MediaKickResult>(DRIVER, { timeoutMs: 200_000 }, (r) => {
    result = r;
    process.stderr.write(`media-kick: ${JSON.stringify(result)}\n`);
  });

  it('runs the product’s own clients on both sides before the attack', () => {
    expect(result.live).toMatchObject({ clinician: 'live', patient: 'live' });
    expect(result.live.patientFrames).toBeGreaterThan(0);
    // The browser is handed a proxy URL and a credential: no Janus token, room PIN or room token.
    expect(result.heldKeys).not.toEqual(expect.arrayContaining(['janusToken']));
    expect(result.heldKeys).not.toEqual(expect.arrayContaining(['pin']));
    expect(result.heldKeys).not.toEqual(expect.arrayContaining(['token']));
  });

  it('allows a patient a second feed (screen share) and refuses a third', () => {
    expect(result.secondFeed).toMatchObject({ error: null });
    expect(result.secondFeed.feed).toEqual(expect.any(Number));
    expect(result.thirdFeed.feed).toBeNull();
    expect(result.thirdFeed.error).toMatch(/432|limit/);
  });

  it('refuses `configure` with record and a filename on a live feed, and no file is written anywhere', () => {
    expect(result.recordAnswers).toHaveLength(2);
    for (const answer of result.recordAnswers) {
      expect(answer).not.toMatchObject({ configured: 'ok' });
      expect(answer).toMatchObject({ error_code: expect.any(Number) as unknown });
    }
    expect(result.files).toEqual({ recordings: [], attempted: [false, false] });
  });

  it('stops every subscriber of the removed patient within 2 s, and removes every feed of theirs', () => {
    expect(result.attackerSubscriber).toMatchObject({ error: null });
    expect(result.attackerSubscriber.frames).toBeGreaterThan(0);
    const [, at2s, at3s] = result.afterKick.attacker;
    expect(at3s).toBe(at2s);
    const [, client2s, client3s] = result.afterKick.patientClient;
    expect(client3s).toBe(client2s);
    expect(result.afterKick.clinicianRemoteFeeds).toBe(0);
  });

  it('lets nothing the patient held subscribe again', () => {
    expect(result.retry.frames).toBe(0);
    expect(result.retry.session.ok && result.retry.subscribe === null).toBe(false);
  });
});
