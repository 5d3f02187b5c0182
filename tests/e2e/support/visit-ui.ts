/**
 * Helpers for driving the REAL product pages (web/dist served by the gateway) from the in-namespace drivers:
 * staff sign-in/out on `/`, page-side polling of window.HavenVisit (web/src/visit), CSRF and CSP watchers,
 * and a raw Janus join for playing an attacker. Selectors follow web/web.e2e.spec.ts.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BrowserContext, Locator, Page, Request } from 'playwright-core';
import { connectJanusWs, joinAsPublisher, SCREENSHOT_DIR, screenshot } from '@haven/testing';
import { STACK_DISPLAY_NAMES, STACK_PASSWORD, STACK_ROLES, STACK_USERS, type StackRole } from './stack';
import { waitForVisitState, type VisitState } from './visit-flow';

/** Signs a stack staff user in on the staff app at `gatewayUrl` and waits for their home screen. */
export async function signIn(page: Page, gatewayUrl: string, role: StackRole): Promise<void> {
  if (!page.url().startsWith(gatewayUrl)) await page.goto(gatewayUrl);
  await page.locator('#sign-in').waitFor({ state: 'visible' });
  await page.getByLabel('Username').fill(STACK_USERS[role]);
  await page.getByLabel('Password').fill(STACK_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const home = {
    clinician: '#console',
    front_desk: '#front-desk',
    auditor: '#audit',
    admin: '#admin-console',
  } as const;
  await page.locator(home[STACK_ROLES[role]]).waitFor({ state: 'visible' });
}

/**
 * Opens the gateway's page in `context` as the patient who redeemed a link: the `haven_patient` cookie the
 * redemption sets and a double-submit CSRF cookie, as the join page leaves them.
 */
export async function openPatientPage(
  context: BrowserContext,
  gatewayUrl: string,
  patientToken: string,
): Promise<Page> {
  const cookies = { haven_patient: patientToken, haven_csrf: randomBytes(32).toString('base64url') };
  await context.addCookies(
    Object.entries(cookies).map(([name, value]) => ({
      name,
      value,
      domain: new URL(gatewayUrl).hostname,
      path: name === 'haven_csrf' ? '/' : '/api',
      sameSite: 'Strict' as const,
    })),
  );
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`${gatewayUrl}/`);
  return page;
}

/** A row of the join page's self-check. */
export type SelfCheckRow = 'network' | 'camera' | 'mic';

/**
 * The join page's passcode step and the start of its self-check: fills `passcode`, continues to the check step, starts the check
 * and waits, in order, until each row of `ok` shows ok (the network row gets 10 s). Throws (a Playwright
 * timeout) when a step or a row does not come.
 */
export async function passcodeThenCheck(
  page: Page,
  passcode: string,
  ok: readonly SelfCheckRow[] = ['network', 'camera', 'mic'],
): Promise<void> {
  await page.getByLabel('Passcode').fill(passcode);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('#step-check').waitFor({ state: 'visible' });
  await page.getByRole('button', { name: 'Start the check' }).click();
  for (const row of ok)
    await page.locator(`#check-${row}.ok`).waitFor(row === 'network' ? { timeout: 10_000 } : {});
}

/** Leaves the self-check for the waiting room and waits until the page shows it. */
export async function toWaitingRoom(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Go to the waiting room' }).click();
  await page.locator('#step-waiting').waitFor({ state: 'visible' });
}

/** Signs the current staff user out and waits for the sign-in form. */
export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#sign-in').waitFor({ state: 'visible' });
}

/**
 * The `datetime-local` value (the BROWSER's local time) of the next whole minute at least 5 s away, and the
 * value 30 minutes later: an appointment "starting now" that scheduling does not reject as past.
 */
export function startingNow(page: Page): Promise<{ start: string; end: string }> {
  return page.evaluate(`(() => {
    const pad = (n) => String(n).padStart(2, '0');
    const local = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes());
    const start = new Date(Date.now() + 65000);
    start.setSeconds(0, 0);
    return { start: local(start), end: local(new Date(start.getTime() + 30 * 60000)) };
  })()`);
}

/**
 * On the signed-in front desk: adds the patient, books them with the stack's clinician "starting now" through the
 * form, and returns the booked row of the appointments list once it shows.
 */
export async function bookThroughFrontDesk(
  staff: Page,
  patient: { readonly name: string; readonly dateOfBirth: string },
): Promise<Locator> {
  await staff.getByLabel('Full name').fill(patient.name);
  await staff.getByLabel('Date of birth').fill(patient.dateOfBirth);
  await staff.getByRole('button', { name: 'Add patient' }).click();
  await staff.locator('#patient-success').waitFor({ state: 'visible' });
  await staff.getByLabel('Clinician').selectOption({ label: STACK_DISPLAY_NAMES.clinician });
  const slot = await startingNow(staff);
  await staff.getByLabel('Start').fill(slot.start);
  await staff.getByLabel('End').fill(slot.end);
  await staff.getByRole('button', { name: 'Book appointment' }).click();
  await staff.locator('#book-success').waitFor({ state: 'visible' });
  const row = staff.locator('#appointments li', { hasText: patient.name });
  await row.waitFor({ state: 'visible' });
  return row;
}

/** Counts the pages' POSTs to /api/* with and without the double-submit CSRF header. */
export class CsrfWatcher {
  readonly counts = { ok: 0, missing: 0, media: 0 };
  private readonly pending: Array<Promise<void>> = [];

  watch(page: Page): void {
    page.on('request', (req: Request) => {
      const url = new URL(req.url());
      if (req.method() !== 'POST' || !url.pathname.startsWith('/api/')) return;
      this.pending.push(
        req.allHeaders().then(
          (h) => {
            if (h['x-csrf-token']) this.counts.ok += 1;
            else this.counts.missing += 1;
            if (url.pathname.endsWith('/media')) this.counts.media += 1;
          },
          () => undefined,
        ),
      );
    });
  }

  async settle(): Promise<{ ok: number; missing: number; media: number }> {
    await Promise.all(this.pending);
    return { ...this.counts };
  }
}

/** Collects Content-Security-Policy violations the pages report in their consoles (from @haven/testing). */
export { watchCsp } from '@haven/testing';

/**
 * Starts window.HavenVisit on a DETACHED container (the page's visible screen is not touched) with `mediaUrl`,
 * and waits (bounded) for the outcome: what a tampered client would get if it asked for media now.
 */
export async function probeMedia(page: Page, mediaUrl: string, timeoutMs = 15_000): Promise<VisitState> {
  await page.evaluate(
    `void window.HavenVisit.start(document.createElement('div'), ${JSON.stringify({
      mediaUrl,
      leaveUrl: '/api/nowhere',
      role: 'patient',
    })})`,
  );
  return waitForVisitState(page, `s.status === 'error' || s.status === 'live'`, timeoutMs);
}

/** Polls (bounded) a DOM predicate from node (the pages' CSP forbids the eval page.waitForFunction needs). */
export async function waitForDom(page: Page, expr: string, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; i < 2000 && Date.now() < until; i++) {
    if (await page.evaluate<boolean>(`!!(${expr})`)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what}: never happened (${expr})`);
}

/** Removes this suite's old screenshots (`<prefix>*.png`) so a run leaves only its own. */
export function clearScreenshots(prefix: string): void {
  try {
    for (const f of readdirSync(SCREENSHOT_DIR))
      if (f.startsWith(prefix) && f.endsWith('.png')) rmSync(join(SCREENSHOT_DIR, f), { force: true });
  } catch {
    /* no directory yet */
  }
}

/**
 * A suite's numbered screenshots: clears its old ones (`<prefix>-*.png`), then `shot(page, name)` saves
 * `<prefix>-01-<name>.png`, `<prefix>-02-…` in order and `paths` lists them.
 */
export function numberedShots(prefix: string): {
  readonly paths: string[];
  shot(page: Page, name: string): Promise<void>;
} {
  clearScreenshots(`${prefix}-`);
  const paths: string[] = [];
  return {
    paths,
    shot: async (page, name) => {
      paths.push(await screenshot(page, `${prefix}-${String(paths.length + 1).padStart(2, '0')}-${name}`));
    },
  };
}

/** A raw Janus websocket join (publisher) with whatever credentials: 'joined' or the error code. */
export async function rawJoin(
  janusWsUrl: string,
  o: { room: string | number; pin: string; token?: string; coreToken: string },
): Promise<'joined' | number> {
  const ws = await connectJanusWs(janusWsUrl);
  try {
    const body = { room: Number(o.room), pin: o.pin, display: 'raw', ...(o.token ? { token: o.token } : {}) };
    return (await joinAsPublisher(ws, o.coreToken, body)).outcome;
  } finally {
    ws.close();
  }
}
