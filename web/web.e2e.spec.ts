/**
 * The web app in real Chromium, served by the real gateway, which talks gRPC to a real (small) backend server:
 * sign in, see the home view, submit an invalid booking and see the field errors, book, sign out.
 * Screenshots land in test-artifacts/screenshots/web-*.png; axe-core checks each view.
 */
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { launchChromium, screenshot } from '../tests/support/browser';
import type { LaunchedChromium } from '../tests/support/browser';
import { FRONT_DESK, startTestBackend } from '../services/gateway/test/backend';
import type { TestBackend } from '../services/gateway/test/backend';
import { startTestGateway } from '../services/gateway/test/gateway';
import type { TestGateway } from '../services/gateway/test/gateway';

/** `YYYY-MM-DDTHH:mm` in local time, as a datetime-local input takes it. */
function localInput(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}`;
}

async function expectAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect(serious).toEqual([]);
}

describe('web app: sign in and book', () => {
  let backend: TestBackend;
  let gateway: TestGateway;
  let chromium: LaunchedChromium;
  let page: Page;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    backend = await startTestBackend();
    gateway = await startTestGateway({
      identityAddress: backend.address,
      schedulingAddress: backend.address,
      tokenVerifier: backend.verifier,
    });
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await page.setViewportSize({ width: 1024, height: 800 });
    page.on('console', (msg) => {
      if (/Content.Security.Policy|Refused to/i.test(msg.text())) cspViolations.push(msg.text());
    });
  });
  afterAll(async () => {
    await chromium?.close();
    await gateway?.close();
    await backend?.stop();
  });

  it('shows the sign-in page', async () => {
    await page.goto(gateway.url);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await expect(page.title()).resolves.toBe('Haven');
    await expect(page.getByLabel('Username').isVisible()).resolves.toBe(true);
    await screenshot(page, 'web-sign-in');
    await expectAccessible(page);
  });

  it('says so when the password is wrong', async () => {
    await page.getByLabel('Username').fill(FRONT_DESK.username);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.locator('#sign-in-error');
    await error.waitFor({ state: 'visible' });
    await expect(error.textContent()).resolves.toContain('not right');
    await expect(page.locator('#home').isVisible()).resolves.toBe(false);
  });

  it('signs in into the home view, with httpOnly SameSite=Strict token cookies', async () => {
    await page.getByLabel('Username').fill(FRONT_DESK.username);
    await page.getByLabel('Password').fill(FRONT_DESK.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#home').waitFor({ state: 'visible' });
    await expect(page.locator('#home-role').textContent()).resolves.toBe('You are signed in as front desk.');
    await expect(page.locator('#book').isVisible()).resolves.toBe(true);
    await expect(page.locator('#sign-in-error').isVisible()).resolves.toBe(false);
    const cookies = await chromium.context.cookies(gateway.url + '/api/me');
    const access = cookies.find((c) => c.name === 'haven_access');
    expect(access).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: true });
    // The page cannot read the token.
    expect(String(await page.evaluate('document.cookie'))).not.toContain('haven_access');
    await screenshot(page, 'web-home');
    await expectAccessible(page);
  });

  it('shows field errors next to the fields for an invalid booking', async () => {
    const hourAgo = new Date(Date.now() - 3_600_000);
    await page.getByLabel('Clinician ID').fill('X');
    await page.getByLabel('Patient ID').fill('pat-0001');
    await page.getByLabel('Start').fill(localInput(hourAgo));
    await page.getByLabel('End').fill(localInput(new Date(Date.now() + 3_600_000)));
    await page.getByRole('button', { name: 'Book appointment' }).click();
    const clinicianError = page.locator('#clinicianId-error');
    await clinicianError.waitFor({ state: 'visible' });
    await expect(clinicianError.textContent()).resolves.toBe('Clinician ID must name a clinician.');
    await expect(page.locator('#startTime-error').textContent()).resolves.toBe(
      'Start must not be in the past.',
    );
    await expect(page.getByLabel('Clinician ID').getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(page.locator('#patientId-error').isVisible()).resolves.toBe(false);
    await screenshot(page, 'web-booking-error');
    await expectAccessible(page);
  });

  it('books a valid appointment', async () => {
    const start = new Date(Date.now() + 24 * 3_600_000);
    await page.getByLabel('Clinician ID').fill('dr-house');
    await page.getByLabel('Patient ID').fill('pat-0001');
    await page.getByLabel('Start').fill(localInput(start));
    await page.getByLabel('End').fill(localInput(new Date(start.getTime() + 30 * 60_000)));
    await page.getByRole('button', { name: 'Book appointment' }).click();
    const success = page.locator('#book-success');
    await success.waitFor({ state: 'visible' });
    await expect(success.textContent()).resolves.toMatch(/^Appointment booked for /);
    await expect(page.locator('#clinicianId-error').isVisible()).resolves.toBe(false);
    expect(backend.seen.bookings.at(-1)).toMatchObject({
      principalId: FRONT_DESK.id,
      clinician: 'users/dr-house',
    });
  });

  it('keeps the session across a reload and signs out', async () => {
    await page.reload();
    await page.locator('#home').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await page.reload();
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await expect(page.locator('#home').isVisible()).resolves.toBe(false);
  });

  it('fits a 375 px wide phone screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(gateway.url);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'web-sign-in-375');
    await expectAccessible(page);
  });

  it('ran without Content-Security-Policy violations', () => {
    expect(cspViolations).toEqual([]);
  });
});
