/**
 * Recording driver, run INSIDE a network namespace by runInNetns() (@haven/testing): creates a videoroom that
 * records into REC_DIR (Janus writes one `.mjr` per track and publisher), has PUBLISHERS Chromium pages publish
 * the fake camera and microphone for SECONDS, then destroys the room (Janus closes the files) and prints one
 * JSON line ({@link RecordVisitResult}) on stdout. Real Janus, real WebRTC: the raw files a visit leaves.
 *
 * Env: JANUS_WS_URL, JANUS_TOKEN_SECRET (signed core tokens), REC_DIR, SECONDS (default 3), PUBLISHERS (default 2).
 */
import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { signJanusToken } from '../../../scripts/janus-config.cjs';
import { launchChromium, type LaunchedChromium } from '@haven/testing';
import { openPrivateRoom, requiredEnv, type PrivateRoom } from './janode';
import { startStaticServer, type StaticServer } from './static-server';
import { runDriver } from '../driver';

/** What the driver prints. */
export interface RecordVisitResult {
  readonly room: number;
  readonly publishers: number;
  /** The `.mjr` files Janus left in REC_DIR. */
  readonly files: string[];
  /** From the first publisher live to the room destroyed (ms). */
  readonly recordedMs: number;
}

async function waitLive(page: Page): Promise<void> {
  await page.waitForFunction(
    `(() => { const s = window.havenRoom; return !!s && (s.status === 'live' || s.status === 'error'); })()`,
    undefined,
    { timeout: 20_000, polling: 20 },
  );
  const status = await page.evaluate<string>('window.havenRoom.status');
  if (status !== 'live') throw new Error(`publisher failed: ${status}`);
}

async function main(): Promise<RecordVisitResult> {
  const wsUrl = requiredEnv('JANUS_WS_URL');
  const recDir = requiredEnv('REC_DIR');
  const seconds = Math.min(Math.max(Number(process.env['SECONDS'] ?? '3') || 3, 1), 3600);
  const publishers = Math.min(Math.max(Number(process.env['PUBLISHERS'] ?? '2') || 2, 1), 4);
  const coreToken = signJanusToken({
    secret: requiredEnv('JANUS_TOKEN_SECRET'),
    expiresAt: Date.now() + 3 * 3600_000,
  });
  const tokens = Array.from({ length: publishers }, () => `tok-${randomBytes(12).toString('hex')}`);

  let server: StaticServer | undefined;
  let browser: LaunchedChromium | undefined;
  let opened: PrivateRoom | undefined;
  try {
    opened = await openPrivateRoom(wsUrl, coreToken, {
      allowed: tokens,
      create: { audiocodec: 'opus', record: true, rec_dir: recDir, lock_record: true },
    });
    const { room, pin } = opened;
    server = await startStaticServer();
    browser = await launchChromium();
    const url = (token: string, display: string) =>
      `${server?.url}/room.html?${new URLSearchParams({ server: wsUrl, token: coreToken, room: String(room), pin, role: 'publisher', roomToken: token, display }).toString()}`;
    const pages: Page[] = [];
    for (const [i, token] of tokens.entries()) {
      const page = await browser.context.newPage();
      await page.goto(url(token, `P${i}`));
      pages.push(page);
    }
    await Promise.all(pages.map(waitLive));
    const live = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    await opened.destroy();
    const recordedMs = Date.now() - live;
    // Janus closes the recorders when the room goes; give it a moment to flush.
    await new Promise((r) => setTimeout(r, 500));
    const files = readdirSync(recDir)
      .filter((f) => f.endsWith('.mjr'))
      .sort();
    return { room, publishers, files, recordedMs };
  } finally {
    await opened?.destroy().catch(() => undefined);
    await browser?.close();
    await server?.close();
    await opened?.close();
  }
}

runDriver('record-visit-driver', main, { stack: true });
