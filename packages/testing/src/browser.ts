/**
 * Test helper: headless Chromium (the OS package) through playwright-core, set up for hermetic WebRTC:
 * fake camera/microphone, no mDNS-obfuscated candidates, no background network traffic.
 * For media, run it inside a network namespace (see ./netns.ts and /work/shared/MEDIA-TESTING.md).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './repo-root';

/** Chromium executable used by the tests. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags verified in MEDIA-TESTING.md. */
export const CHROMIUM_FLAGS: readonly string[] = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
]);

/** Where screenshots go (git-ignored). */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-artifacts', 'screenshots');

/** A launched Chromium with its own fresh profile. */
export interface LaunchedChromium {
  /** A persistent context over a fresh user-data-dir; open pages with `context.newPage()`. */
  readonly context: BrowserContext;
  readonly browser: Browser | null;
  readonly userDataDir: string;
  /** Closes the browser and removes the profile directory. Idempotent. */
  close(): Promise<void>;
}

/**
 * Launches /usr/bin/chromium with {@link CHROMIUM_FLAGS} (plus `extraArgs`) and a fresh user-data-dir.
 * Throws Error when Chromium is missing or does not start within timeoutMs (default 20 s).
 */
export async function launchChromium(
  opts: { headless?: boolean; extraArgs?: readonly string[]; timeoutMs?: number } = {},
): Promise<LaunchedChromium> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'haven-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: opts.headless ?? true,
      args: [...CHROMIUM_FLAGS, ...(opts.extraArgs ?? [])],
      timeout: opts.timeoutMs ?? 20_000,
      permissions: ['camera', 'microphone'],
    });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    context,
    browser: context.browser(),
    userDataDir,
    close: async () => {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Saves a full-page PNG as test-artifacts/screenshots/<name>.png and returns its path.
 * Throws Error when the page is closed.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, `${name.replace(/[^a-z0-9._-]+/gi, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Collects the Content-Security-Policy violations `page` reports in its console into `into` (300 characters each). */
export function watchCsp(page: Page, into: string[]): void {
  page.on('console', (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) into.push(msg.text().slice(0, 300));
  });
}
