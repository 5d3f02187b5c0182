/**
 * Every screen of a visit day at a desktop (1280×800) and a phone (375×812) viewport, through the REAL pages and
 * the whole stack, run inside a network namespace (./stack.ts): staff sign-in, the front desk (free times,
 * rescheduling in place) with a patient link, the patient's passcode, self-check and waiting room, the
 * clinician's console and visit (before and after admission, with a screen share; recording: the request, the
 * consent dialog, the indicator, the player), an interpreter invited by a guest link (the clinician's link panel,
 * then the interpreter's passcode, waiting room and three-party visit in a third Chromium), the end of the visit
 * on both sides, a follow-up message after the visit (the clinician writes, the patient reads it from the link),
 * and the admin console (its top, the clinic settings and the usage report). At each screen and size: a viewport
 * screenshot (test-artifacts/screenshots/screens-<screen>-<width>.png, copied to docs/screenshots for the
 * README), axe-core's violations, whether the page scrolls sideways, which controls are cut off, and where the
 * visit's main tile is.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { SCREENSHOT_DIR } from '@haven/testing';
import { withStack } from './stack-run';
import { waitForStats, waitForVisitState } from './visit-flow';
import {
  bookThroughFrontDesk,
  clearScreenshots,
  passcodeThenCheck,
  signIn,
  signOut,
  toWaitingRoom,
  watchCsp,
} from './visit-ui';
import { runDriver } from '../../support/driver';

/** The two viewports every screen is checked at. */
export const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 375, height: 812 },
] as const;

/** One screen at one viewport. */
export interface ScreenCheck {
  readonly screen: string;
  readonly width: number;
  readonly file: string;
  /** axe-core violations, `<rule>: <n> node(s)`. */
  readonly violations: string[];
  /** How far the page scrolls sideways (0 when it fits). */
  readonly overflowX: number;
  /** The visit's main tile, when the screen has one: its top and bottom in the viewport. */
  readonly mainTile: { top: number; bottom: number } | null;
  /** Where the visit's control bar is on screen (null where the page has none). */
  readonly controls: { top: number; bottom: number } | null;
  /** What the main tile's connection-quality bars say (their accessible name), when it shows them. */
  readonly mainTileQuality: string | null;
  /** Controls cut off by the viewport's or a clipping ancestor's edge (their names); none when all fit. */
  readonly clipped: string[];
  /**
   * Buttons and text fields drawn in the browser's own style (a bevelled button, a field's thin square border)
   * instead of the app's (their names).
   */
  readonly unstyled: string[];
  /** Buttons side by side with less than 4 px between them, as "left | right". */
  readonly touching: string[];
  /** A field and the button beside it on one line whose bottom edges differ by more than 2 px, as "field | button". */
  readonly misaligned: string[];
}

/** What the driver prints. */
export interface ScreensResult {
  readonly checks: ScreenCheck[];
  readonly cspViolations: string[];
  /** The whole run, and the part spent waiting for in-visit tiles to be live (waitForLiveTile), ms. */
  readonly timings: { readonly totalMs: number; readonly liveWaitMs: number };
}

const PATIENT = { name: 'Maria Lopez', dateOfBirth: '1975-09-30' } as const;

/**
 * The visible controls (buttons, links, fields) that stick out of the viewport sideways or out of an ancestor that
 * clips them (`overflow: hidden`/`clip`), by name. A control in a box that scrolls sideways on purpose (a wide
 * table) can be scrolled to and is not counted.
 */
const CLIPPED_CONTROLS = `(() => {
  const out = [];
  const width = document.documentElement.clientWidth;
  const controls = document.querySelectorAll(
    'button, a[href], input:not([type=hidden]), select, textarea, [role=button], summary');
  for (const el of controls) {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1 || getComputedStyle(el).visibility === 'hidden') continue;
    let cut = r.left < -1 || r.right > width + 1;
    for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if ((o === 'auto' || o === 'scroll') && p.scrollWidth > p.clientWidth) { cut = false; break; }
      if (o === 'hidden' || o === 'clip') {
        const pr = p.getBoundingClientRect();
        if (r.left < pr.left - 1 || r.right > pr.right + 1) cut = true;
      }
    }
    if (cut) out.push((el.getAttribute('aria-label') || el.textContent || el.id || el.tagName).trim().slice(0, 40));
  }
  return out;
})()`;

/**
 * How the page's buttons sit: the ones the browser draws in its own style (Chromium's default button border is
 * `outset`; the app's buttons all set theirs), and the text fields too (the app's have a 2 px border, the
 * browser's a 1 px one), the ones side by side with under 4 px between them (they read as
 * one control), and a field with a button beside it in a form whose bottom edges are more than 2 px apart.
 */
const BUTTON_LAYOUT = `(() => {
  const name = (el) => (el.getAttribute('aria-label') || el.textContent || el.id || el.tagName).trim().slice(0, 40);
  const shown = (sel) => [...document.querySelectorAll(sel)]
    .map((el) => ({ el, r: el.getBoundingClientRect() }))
    .filter((b) => b.r.width > 1 && b.r.height > 1 && getComputedStyle(b.el).visibility !== 'hidden');
  const buttons = shown('button');
  const sameLine = (a, b) => Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top) > Math.min(a.r.height, b.r.height) / 2;
  const fields = shown('textarea, select, input:not([type=checkbox]):not([type=radio]):not([type=hidden]):not([type=range])');
  const unstyled = [
    ...buttons.filter((b) => getComputedStyle(b.el).borderTopStyle === 'outset'),
    ...fields.filter((f) => parseFloat(getComputedStyle(f.el).borderTopWidth) < 2),
  ].map((b) => name(b.el.labels && b.el.labels[0] ? b.el.labels[0] : b.el));
  const touching = [];
  for (const a of buttons)
    for (const b of buttons) {
      const gap = b.r.left - a.r.right;
      if (a !== b && gap > -1 && gap < 4 && sameLine(a, b)) touching.push(name(a.el) + ' | ' + name(b.el));
    }
  const misaligned = [];
  for (const f of shown('form select, form input:not([type=checkbox]):not([type=radio]):not([type=hidden])'))
    for (const b of buttons) {
      const gap = b.r.left - f.r.right;
      if (b.el.form === f.el.form && gap >= 0 && gap < 32 && sameLine(f, b) && Math.abs(f.r.bottom - b.r.bottom) > 2)
        misaligned.push(((f.el.labels && f.el.labels[0] && f.el.labels[0].firstChild.textContent) || name(f.el)).trim() + ' | ' + name(b.el));
    }
  return { unstyled, touching, misaligned };
})()`;

/**
 * Where the visit's main tile and control bar are, and what the main tile's connection-quality bars say, read in
 * the page in one go: no Playwright wait with a short timeout that a loaded machine can outlast (a missing element
 * is simply null, at once, on the screens without a visit).
 */
const VISIT_LAYOUT = `(() => {
  const box = (el) => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 ? { top: r.top, bottom: r.bottom } : null;
  };
  const quality = document.querySelector('.tile-main .tile-quality');
  return {
    mainTile: box(document.querySelector('.tile-main')),
    controls: box(document.querySelector('.visit-controls')),
    mainTileQuality: quality ? quality.getAttribute('aria-label') : null,
  };
})()`;

/**
 * The visit's live state in the page, for an in-visit screen: the visit's status and remote feeds
 * (window.HavenVisit), and whether the main tile plays a remote participant's video: a frame shown, its quality
 * measured, and more frames within 300 ms (the video's clock or its frame count moved).
 */
const LIVE_TILE = `(async () => {
  const s = window.HavenVisit && window.HavenVisit.state;
  const tile = document.querySelector('.tile-main');
  const video = tile ? tile.querySelector('video') : null;
  const frames = () => (video && video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0);
  const out = {
    status: s ? s.status : null,
    remoteFeeds: s ? s.remoteFeeds : 0,
    tile: tile ? tile.className : null,
    readyState: video ? video.readyState : null,
    videoWidth: video ? video.videoWidth : 0,
    quality: !!(tile && tile.querySelector('.tile-quality')),
    playing: false,
  };
  if (video && video.readyState >= 2 && video.videoWidth > 0) {
    const t0 = video.currentTime;
    const f0 = frames();
    await new Promise((r) => setTimeout(r, 300));
    out.playing = video.currentTime > t0 || frames() > f0;
  }
  return out;
})()`;

interface LiveTile {
  readonly status: string | null;
  readonly remoteFeeds: number;
  readonly tile: string | null;
  readonly readyState: number | null;
  readonly videoWidth: number;
  readonly quality: boolean;
  readonly playing: boolean;
}

/** How long an in-visit capture waits for the remote participant's tile to be live, ms. */
const LIVE_TILE_TIMEOUT_MS = 20_000;

/**
 * Waits (bounded) until `page` is in its visit live with at least `feeds` remote feeds and the main tile plays a
 * remote participant's video with its quality measured. Throws naming the screen and what was last seen.
 */
async function waitForLiveTile(page: Page, what: string, feeds: number): Promise<void> {
  const until = Date.now() + LIVE_TILE_TIMEOUT_MS;
  let last: LiveTile | undefined;
  for (let i = 0; i < 200 && Date.now() < until; i++) {
    last = await page.evaluate<LiveTile>(LIVE_TILE);
    if (last.status === 'live' && last.remoteFeeds >= feeds && last.playing && last.quality) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what}: the remote participant's tile was not live (status live, ${feeds} remote feed(s), video playing, ` +
      `quality measured) within ${LIVE_TILE_TIMEOUT_MS} ms; last seen ${JSON.stringify(last)}`,
  );
}

async function main(): Promise<ScreensResult> {
  const t0 = Date.now();
  let liveWaitMs = 0;
  const checks: ScreenCheck[] = [];
  const cspViolations: string[] = [];
  /**
   * Screenshots and checks `page` at both viewports (scrolled to `show`), then leaves it at the desktop size. An
   * in-visit screen (`live`: the remote feeds it shows) is shot only once the remote participant's tile is live at
   * that size (waitForLiveTile), never a moment early.
   */
  const capture = async (
    page: Page,
    screen: string,
    show?: string,
    live?: { readonly feeds: number },
  ): Promise<void> => {
    for (const v of VIEWPORTS) {
      await page.setViewportSize(v);
      await page.evaluate('window.scrollTo(0, 0)');
      if (live) {
        const waitFrom = Date.now();
        await waitForLiveTile(page, `${screen} @ ${v.width}`, live.feeds);
        liveWaitMs += Date.now() - waitFrom;
      }
      if (show) await page.locator(show).scrollIntoViewIfNeeded();
      await new Promise((r) => setTimeout(r, 400)); // layout and video frames at the new size
      const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21aa']).analyze();
      const layout =
        await page.evaluate<Pick<ScreenCheck, 'mainTile' | 'controls' | 'mainTileQuality'>>(VISIT_LAYOUT);
      const file = join(SCREENSHOT_DIR, `screens-${screen}-${v.width}.png`);
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      // What fits the screen, not the full page: "below the fold" is part of what is checked.
      await page.screenshot({ path: file });
      checks.push({
        screen,
        width: v.width,
        file,
        violations: axe.violations.map((x) => `${x.id}: ${x.nodes.length} node(s)`),
        overflowX: Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')),
        ...layout,
        clipped: await page.evaluate<string[]>(CLIPPED_CONTROLS),
        ...(await page.evaluate<Pick<ScreenCheck, 'unstyled' | 'touching' | 'misaligned'>>(BUTTON_LAYOUT)),
      });
    }
    await page.setViewportSize(VIEWPORTS[0]);
  };

  clearScreenshots('screens-');
  return await withStack(
    { browsers: 3, stack: { recordingEnv: { HAVEN_RECORDING_PATIENT_ACCESS: 'true' } } },
    async ({ browsers: [a, b, c], gatewayUrl: gw }) => {
      const staff = await a.context.newPage();
      const patient = await b.context.newPage();
      for (const p of [staff, patient]) {
        p.setDefaultTimeout(15_000);
        await p.setViewportSize(VIEWPORTS[0]);
        watchCsp(p, cspViolations);
      }

      // ------------------------------------------------------------ staff sign-in and the front desk
      await staff.goto(gw);
      await staff.locator('#sign-in').waitFor({ state: 'visible' });
      await capture(staff, 'sign-in');
      await signIn(staff, gw, 'front_desk');
      const row = await bookThroughFrontDesk(staff, PATIENT);
      await capture(staff, 'front-desk', '#book');
      // A weekly series: the repeat fields open in the form.
      await staff.getByLabel('Repeat').selectOption({ label: 'Every week' });
      await capture(staff, 'front-desk-series', '#book');
      await staff.getByLabel('Repeat').selectOption({ label: 'Does not repeat' });
      // A scheduled row moves in place: the new time, the same length by default.
      await row.getByRole('button', { name: /^Reschedule/ }).click();
      await row.getByLabel('Move to').waitFor({ state: 'visible' });
      await capture(staff, 'front-desk-reschedule', '#appointments');
      await row.getByRole('button', { name: /^Keep the time/ }).click();
      await row.getByRole('button', { name: /Patient link/ }).click();
      await staff.locator('#link-panel').waitFor({ state: 'visible' });
      const link = await staff.locator('#link-url').inputValue();
      const passcode = await staff.locator('#link-passcode').inputValue();
      await capture(staff, 'front-desk-patient-link', '#link-panel');
      await signOut(staff);

      // ------------------------------------------------------------ the patient joins and waits
      await patient.goto(link);
      await patient.locator('#step-passcode').waitFor({ state: 'visible' });
      await capture(patient, 'patient-passcode');
      await passcodeThenCheck(patient, passcode, ['network', 'camera']);
      await capture(patient, 'patient-self-check');
      await toWaitingRoom(patient);
      await capture(patient, 'patient-waiting-room');
      // The front desk's day list says who is waiting (read every 10 s).
      await signIn(staff, gw, 'front_desk');
      await staff
        .locator('#appointments .badge-waiting', { hasText: 'Patient waiting' })
        .waitFor({ timeout: 15_000 });
      await capture(staff, 'front-desk-waiting', '#appointments');
      await signOut(staff);

      // ------------------------------------------------------------ the clinician's console and visit
      await signIn(staff, gw, 'clinician');
      await staff.locator('.badge-waiting', { hasText: '1 waiting' }).waitFor({ timeout: 10_000 });
      await capture(staff, 'clinician-console');
      await staff
        .getByRole('button', { name: /^Open the visit/ })
        .first()
        .click();
      await staff.locator('#lobby li').first().waitFor({ state: 'visible' });
      await staff.getByRole('button', { name: 'Join video' }).click();
      await waitForVisitState(staff, `s.status === 'live'`);
      await capture(staff, 'clinician-visit-lobby');
      await staff.getByRole('button', { name: /^Admit / }).click();
      await patient.locator('#step-visit').waitFor({ state: 'visible', timeout: 10_000 });
      await waitForVisitState(patient, `s.status === 'live'`);
      for (const p of [patient, staff])
        await waitForStats(p, (x) => x.totals.framesDecoded > 5, 'video flows both ways', 15_000);
      await capture(patient, 'patient-visit', undefined, { feeds: 1 });
      await capture(staff, 'clinician-visit', undefined, { feeds: 1 });
      await staff
        .getByRole('toolbar', { name: 'Visit controls' })
        .getByRole('button', { name: 'Share screen' })
        .click();
      await waitForVisitState(staff, 's.sharing === true', 8000);
      await waitForStats(
        patient,
        (x) => x.feeds.some((f) => f.description === 'screen' && f.framesDecoded > 0),
        'the patient decodes the screen share',
        10_000,
      );
      await capture(patient, 'patient-visit-screen-share', undefined, { feeds: 2 });
      await staff
        .getByRole('toolbar', { name: 'Visit controls' })
        .getByRole('button', { name: 'Share screen' })
        .click();
      await waitForVisitState(staff, 's.sharing === false', 8000);

      // ------------------------------------------------------------ recording: ask, consent, indicator, play
      await staff.getByRole('button', { name: 'Record', exact: true }).click();
      await staff.locator('.rec-status', { hasText: 'waiting for the patient’s consent' }).waitFor();
      await capture(staff, 'clinician-recording-requested', undefined, { feeds: 1 });
      await patient.getByRole('dialog').waitFor({ state: 'visible', timeout: 10_000 });
      await capture(patient, 'patient-recording-consent', undefined, { feeds: 1 });
      await patient.getByRole('dialog').getByRole('button', { name: 'Give consent' }).click();
      await patient.locator('.rec-indicator').waitFor({ state: 'visible', timeout: 10_000 });
      await staff.locator('.rec-indicator').waitFor({ state: 'visible', timeout: 10_000 });
      await capture(patient, 'patient-recording', undefined, { feeds: 1 });
      await capture(staff, 'clinician-recording', undefined, { feeds: 1 });
      await new Promise((r) => setTimeout(r, 3000));
      await staff.getByRole('button', { name: 'Stop recording' }).click();
      const recorded = staff.locator('#visit-recordings [data-state="available"]').first();
      await recorded.waitFor({ timeout: 60_000 });
      await recorded.getByRole('button', { name: /^Play the recording/ }).click();
      await staff.locator('video.recordings-video').waitFor({ state: 'visible' });
      await capture(staff, 'clinician-recording-player', '.recordings-player', { feeds: 1 });

      // ------------------------------------------------------------ an interpreter joins by a guest link
      const guests = staff.locator('.guest-controls');
      await guests.getByLabel('Invite by link').selectOption({ label: 'Interpreter' });
      await guests.getByRole('button', { name: 'Create guest link' }).click();
      const issued = guests.getByRole('group', { name: 'The new guest link' });
      await issued.waitFor({ state: 'visible' });
      const guestUrl = await issued.getByLabel('Link').inputValue();
      const guestPasscode = await issued.getByLabel('Passcode').inputValue();
      await capture(staff, 'clinician-guest-link', '.guest-link', { feeds: 1 });
      const guest = await c.context.newPage();
      guest.setDefaultTimeout(15_000);
      await guest.setViewportSize(VIEWPORTS[0]);
      watchCsp(guest, cspViolations);
      await guest.goto(`${gw}/join${guestUrl.slice(guestUrl.indexOf('#'))}`);
      await guest.locator('#step-passcode').waitFor({ state: 'visible' });
      await capture(guest, 'guest-passcode');
      await passcodeThenCheck(guest, guestPasscode, ['camera']);
      await toWaitingRoom(guest);
      await capture(guest, 'guest-waiting');
      await staff.getByRole('button', { name: /^Admit / }).click();
      await guest.locator('#step-visit').waitFor({ state: 'visible', timeout: 10_000 });
      await waitForVisitState(guest, `s.status === 'live'`);
      await waitForStats(
        guest,
        (x) => x.feeds.filter((f) => f.framesDecoded > 5).length >= 2,
        'the interpreter sees the clinician and the patient',
        15_000,
      );
      await capture(guest, 'guest-visit', undefined, { feeds: 2 });
      await c.close();

      // ------------------------------------------------------------ the end
      staff.once('dialog', (d) => void d.accept());
      await staff.locator('#visit-end').click();
      await staff.locator('#visit-state', { hasText: 'This visit has ended.' }).waitFor({ timeout: 10_000 });
      await patient.locator('#step-over').waitFor({ state: 'visible', timeout: 10_000 });
      await capture(staff, 'clinician-visit-ended');
      await capture(patient, 'patient-visit-ended');

      // ------------------------------------------------------------ a follow-up message after the visit
      /** Signs the staff page in as `role` and starts a conversation with the patient with `text`. */
      const writeToPatient = async (role: 'clinician' | 'front_desk', text: string): Promise<void> => {
        await signOut(staff);
        await signIn(staff, gw, role);
        const card = staff.locator('#messages-card');
        await card.getByLabel('Write to a patient').selectOption({ label: PATIENT.name });
        await card.getByRole('button', { name: 'New message' }).click();
        await card.getByLabel('Your message').fill(text);
        await card.getByRole('button', { name: 'Send' }).click();
        await card.locator('.message.mine').waitFor({ state: 'visible' });
      };
      await writeToPatient('clinician', 'How is the rash today? Send a photo if it has spread.');
      await capture(staff, 'clinician-messages', '#messages-card');
      await patient.goto(link.replace('/join#', '/messages#'));
      const signInForm = patient.locator('#messages-sign-in');
      const list = patient.getByRole('button', { name: 'Conversation with your clinician' });
      await Promise.race([signInForm.waitFor(), list.waitFor()]);
      if (await signInForm.isVisible()) {
        await patient.getByLabel('Passcode').fill(passcode);
        await patient.getByRole('button', { name: 'Open my messages' }).click();
      }
      await list.click();
      await patient.locator('.message.theirs').waitFor({ state: 'visible' });
      await capture(patient, 'patient-messages');

      // ------------------------------------------------------------ the front desk writes about an appointment
      await writeToPatient('front_desk', 'Your next appointment can move to Tuesday at 10:00.');
      await capture(staff, 'front-desk-messages', '#messages-card');

      // ------------------------------------------------------------ the admin console
      await signOut(staff);
      await signIn(staff, gw, 'admin');
      await staff.locator('#admin-usage-table').waitFor({ state: 'visible' });
      await capture(staff, 'admin-console', '#admin-users');
      await staff.locator('#admin-settings-form').waitFor({ state: 'visible' });
      // The form's end (the idle sign-out and Save) is what an admin changes most; the card is taller than a screen.
      await capture(staff, 'admin-settings', '#admin-settings-form button[type="submit"]');
      await capture(staff, 'admin-usage', '#admin-usage');

      // ------------------------------------------------------------ the auditor's ledger
      await signOut(staff);
      await signIn(staff, gw, 'auditor');
      await staff.locator('#ledger-rows tr').first().waitFor({ state: 'visible', timeout: 20_000 });
      await capture(staff, 'auditor-ledger', '#audit');
      return { checks, cspViolations, timings: { totalMs: Date.now() - t0, liveWaitMs } };
    },
  );
}

runDriver('screens-driver', main);
