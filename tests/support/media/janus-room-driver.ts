/**
 * Media driver, run INSIDE a network namespace by runInNetns() (@haven/testing):
 * creates a videoroom (secret + pin + allowed list) through janode, has Chromium A publish the fake camera
 * and Chromium B subscribe, measures subscriber join -> first decoded frame, checks that joins with a token
 * not on the allowed list are refused, and prints one JSON line ({@link DriverResult}) on stdout.
 *
 * Env: JANUS_WS_URL, JANUS_TOKEN_SECRET (signed core tokens), RUNS (subscriber joins to measure, default 1),
 * SCREENSHOT_PREFIX (optional: save screenshots of both pages).
 */
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { signJanusToken } from '../../../scripts/janus-config.cjs';
import { launchChromium, type LaunchedChromium, screenshot } from '@haven/testing';
import { openPrivateRoom, requiredEnv, type PrivateRoom } from './janode';
import { startStaticServer, type StaticServer } from './static-server';
import { runDriver } from '../driver';

/** What the driver prints. */
export interface DriverResult {
  readonly room: number;
  readonly publisherId: number;
  /** Subscriber join request -> first decoded video frame, one per run (ms). */
  readonly firstFrameMs: number[];
  /** framesDecoded on the (last) subscriber after a short while; > 0 means video flows. */
  readonly framesDecoded: number;
  /** Error codes of refused joins, by case. */
  readonly refused: { readonly notOnList: number | string | null; readonly noToken: number | string | null };
  readonly totalMs: number;
}

interface RoomState {
  status: string;
  errorCode: number | string | null;
  error: string | null;
  publisherId: number | null;
  firstFrameMs: number | null;
}

async function waitForState(page: Page, pred: string, timeoutMs: number): Promise<RoomState> {
  try {
    await page.waitForFunction(
      `(() => { const s = window.havenRoom; return !!s && (${pred}); })()`,
      undefined,
      { timeout: timeoutMs, polling: 10 },
    );
  } catch (err) {
    const s = await page.evaluate('window.havenRoom').catch(() => null);
    throw new Error(`page state never matched ${pred}: ${JSON.stringify(s)}`, { cause: err });
  }
  return await page.evaluate<RoomState>(
    '(() => { const { framesDecoded, ...rest } = window.havenRoom; return rest; })()',
  );
}

async function main(): Promise<DriverResult> {
  const t0 = Date.now();
  const wsUrl = requiredEnv('JANUS_WS_URL');
  const tokenSecret = requiredEnv('JANUS_TOKEN_SECRET');
  const runs = Math.min(Math.max(Number(process.env['RUNS'] ?? '1') || 1, 1), 100);
  const coreToken = signJanusToken({ secret: tokenSecret, expiresAt: Date.now() + 10 * 60_000 });
  const tokA = `tok-${randomBytes(12).toString('hex')}`;
  const tokB = `tok-${randomBytes(12).toString('hex')}`;

  let server: StaticServer | undefined;
  let a: LaunchedChromium | undefined;
  let b: LaunchedChromium | undefined;
  let opened: PrivateRoom | undefined;
  try {
    opened = await openPrivateRoom(wsUrl, coreToken, { allowed: [tokA, tokB] });
    const { room, pin } = opened;
    server = await startStaticServer();
    [a, b] = await Promise.all([launchChromium(), launchChromium()]);
    const pageUrl = (q: Record<string, string>): string =>
      `${server?.url}/room.html?${new URLSearchParams({ server: wsUrl, token: coreToken, room: String(room), pin, ...q }).toString()}`;

    const pub = await a.context.newPage();
    await pub.goto(pageUrl({ role: 'publisher', roomToken: tokA, display: 'A' }));
    const pubState = await waitForState(pub, `s.status === 'live' || s.status === 'error'`, 20_000);
    if (pubState.status !== 'live' || pubState.publisherId === null)
      throw new Error(`publisher failed: ${JSON.stringify(pubState)}`);

    const firstFrameMs: number[] = [];
    let framesDecoded = 0;
    for (let i = 0; i < runs; i += 1) {
      const sub = await b.context.newPage();
      await sub.goto(
        pageUrl({
          role: 'subscriber',
          roomToken: tokB,
          feed: String(pubState.publisherId),
          display: `B${i}`,
        }),
      );
      const s = await waitForState(sub, `s.firstFrameMs !== null || s.status === 'error'`, 20_000);
      if (s.firstFrameMs === null) throw new Error(`subscriber failed: ${JSON.stringify(s)}`);
      firstFrameMs.push(s.firstFrameMs);
      if (i === runs - 1) {
        // Keep reading inbound-rtp framesDecoded until video clearly flows (bounded: 10 s).
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          framesDecoded = await sub.evaluate<number>('window.havenRoom.framesDecoded()');
          if (framesDecoded > 10) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        if (process.env['SCREENSHOT_PREFIX']) {
          await screenshot(pub, `${process.env['SCREENSHOT_PREFIX']}-publisher`);
          await screenshot(sub, `${process.env['SCREENSHOT_PREFIX']}-subscriber`);
        }
      }
      await sub.close();
    }

    const refusedCode = async (q: Record<string, string>): Promise<number | string | null> => {
      const p = await b!.context.newPage();
      await p.goto(pageUrl({ role: 'publisher', ...q }));
      const s = await waitForState(p, `s.status === 'error' || s.status === 'live'`, 10_000);
      await p.close();
      return s.status === 'error' ? s.errorCode : null;
    };
    const notOnList = await refusedCode({
      roomToken: `tok-${randomBytes(12).toString('hex')}`,
      display: 'intruder',
    });
    const noToken = await refusedCode({ display: 'no-token' });

    return {
      room,
      publisherId: pubState.publisherId,
      firstFrameMs,
      framesDecoded,
      refused: { notOnList, noToken },
      totalMs: Date.now() - t0,
    };
  } finally {
    await opened?.destroy().catch(() => undefined);
    await Promise.all([a?.close(), b?.close()]);
    await server?.close();
    await opened?.close();
  }
}

runDriver('janus-room-driver', main, { stack: true });
