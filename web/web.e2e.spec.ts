/**
 * The web app in real Chromium against the real stack (gateway in-process; identity, scheduling, session as
 * child processes; nats-server; Janus; a local SMTP server): front desk registers a patient, books and issues a
 * link, and sees under the appointment that the invitation was not sent (the patient has no e-mail address); the clinician's
 * console shows the waiting patient live and admits; the patient goes passcode → self-check (fake camera and
 * microphone) → waiting room → visit; an admin enrolls TOTP. axe-core on every page (no serious or critical
 * violations), a 375 px phone viewport, screenshots in test-artifacts/screenshots/web-*.png.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  catcherSmtpEnv,
  launchChromium,
  type LaunchedChromium,
  screenshot,
  SCREENSHOT_DIR,
  startMailCatcher,
  type MailCatcher,
  totpCode,
  watchCsp,
} from '@haven/testing';
import { STACK_PASSWORD, startStack } from '../services/gateway/test/stack';
import type { TestStack } from '../services/gateway/test/stack';
import { passcodeThenCheck } from '../tests/e2e/support/visit-ui';
import { expectAccessible, fitsPhone } from './e2e-checks';

jest.setTimeout(180_000);

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * How the recovery codes read on the page: the codes whose text breaks over more than one line, and the codes
 * whose text runs up to the list number of a code in the next column (no room for that number before it).
 */
const RECOVERY_CODES_LAYOUT = `(() => {
  const items = [...document.querySelectorAll('#recovery-codes li')];
  const canvas = document.createElement('canvas').getContext('2d');
  canvas.font = getComputedStyle(items[0]).font;
  const number = canvas.measureText(items.length + '. ').width;
  const boxes = items.map((li) => {
    const range = document.createRange();
    range.selectNodeContents(li);
    return { code: li.textContent, lines: range.getClientRects().length, text: range.getBoundingClientRect(), item: li.getBoundingClientRect() };
  });
  const wrapped = boxes.filter((b) => b.lines !== 1).map((b) => b.code);
  const crowded = boxes
    .filter((a) => boxes.some((b) => b.item.left > a.item.right - 1 && b.item.top < a.text.bottom && a.text.top < b.item.bottom && a.text.right + number > b.item.left))
    .map((a) => a.code);
  return { wrapped, crowded };
})()`;
/**
 * The pieces of a list row that begin their line with a separator ("· on video" alone under the name): a row's
 * pieces wrap, so a separator written at the start of one lands at the start of a line.
 */
const LINES_OPENED_BY_A_SEPARATOR = (rows: string) => `(() => {
  const pieces = [...document.querySelectorAll(${JSON.stringify(rows)})].flatMap((row) => {
    const left = row.getBoundingClientRect().left;
    return [...row.children].filter((c) => Math.abs(c.getBoundingClientRect().left - left) < 1);
  });
  return pieces.map((c) => c.textContent.trim()).filter((t) => t.startsWith('·'));
})()`;
/**
 * The buttons in a part of the page with the next thing under them (a label, a heading, another control) less
 * than 8 px below: a button touching what follows reads as part of it.
 */
const BUTTONS_TOUCHING_WHAT_FOLLOWS = (part: string) => `(() => {
  const boxes = [...document.querySelectorAll(${JSON.stringify(part)} + ' :is(h3, p, label, button, select, input, textarea)')]
    .map((el) => ({ el, r: el.getBoundingClientRect() }))
    .filter((b) => b.r.height > 0);
  return boxes
    .filter((b) => b.el.tagName === 'BUTTON')
    .flatMap((b) => {
      const under = boxes
        .filter((o) => !o.el.contains(b.el) && o.r.top >= b.r.bottom - 1 && o.r.left < b.r.right && b.r.left < o.r.right)
        .sort((x, y) => x.r.top - y.r.top)[0];
      return under && under.r.top - b.r.bottom < 8 ? [b.el.textContent.trim() + ' / ' + under.el.textContent.trim().slice(0, 24)] : [];
    });
})()`;
/** The space between the patient's visit (its status line or control bar) and the card under it, px. */
const GAP_UNDER_THE_VISIT = `(() => {
  const stage = document.querySelector('#step-visit #visit-stage');
  const next = stage.nextElementSibling;
  return next.getBoundingClientRect().top - stage.getBoundingClientRect().bottom;
})()`;
const localInput = (d: Date) =>
  `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

describe('web app over the real stack', () => {
  let stack: TestStack;
  let catcher: MailCatcher;
  let staffBrowser: LaunchedChromium;
  let patientBrowser: LaunchedChromium;
  let staff: Page;
  let patient: Page;
  const cspViolations: string[] = [];
  let link = '';
  let passcode = '';

  beforeAll(async () => {
    catcher = await startMailCatcher();
    stack = await startStack({
      mfaRequiredRoles: 'admin',
      schedulingEnv: {
        ...catcherSmtpEnv(catcher, 'Clinic <no-reply@web.test>'),
        HAVEN_REMINDER_POLL_MS: '200',
      },
    });
    await Promise.all([
      stack.createUser('desk@web.test', 'front_desk', 'Front Desk'),
      stack.createUser('ada@web.test', 'clinician', 'Dr Ada Lovelace'),
      stack.createUser('root@web.test', 'admin', 'Admin'),
      stack.createUser('audit@web.test', 'auditor', 'Auditor'),
    ]);
    [staffBrowser, patientBrowser] = await Promise.all([launchChromium(), launchChromium()]);
    staff = await staffBrowser.context.newPage();
    patient = await patientBrowser.context.newPage();
    await staff.setViewportSize({ width: 1024, height: 800 });
    await patient.setViewportSize({ width: 375, height: 740 });
    for (const page of [staff, patient]) watchCsp(page, cspViolations);
  });
  afterAll(async () => {
    await staffBrowser?.close();
    await patientBrowser?.close();
    await stack?.stop();
    await catcher?.close();
  });

  async function signIn(username: string, totp?: string): Promise<void> {
    await staff.goto(stack.url);
    await staff.locator('#sign-in').waitFor({ state: 'visible' });
    await staff.getByLabel('Username').fill(username);
    await staff.getByLabel('Password').fill(STACK_PASSWORD);
    if (totp) await staff.locator('#totp').fill(totp);
    await staff.getByRole('button', { name: 'Sign in' }).click();
  }

  async function signOut(): Promise<void> {
    await staff.getByRole('button', { name: 'Sign out' }).click();
    await staff.locator('#sign-in').waitFor({ state: 'visible' });
  }

  it('shows the sign-in page', async () => {
    await staff.goto(stack.url);
    await staff.locator('#sign-in').waitFor({ state: 'visible' });
    await screenshot(staff, 'web-sign-in');
    await expectAccessible(staff);
  });

  it('front desk: registers a patient, books with a clinician picked from the list, issues a link', async () => {
    await signIn('desk@web.test');
    await staff.locator('#front-desk').waitFor({ state: 'visible' });
    await expect(staff.locator('#console').isVisible()).resolves.toBe(false);
    await expect(staff.getByRole('button', { name: 'Join video' }).count()).resolves.toBe(0);
    await staff.getByLabel('Full name').fill('Jane Q Public');
    await staff.getByLabel('Date of birth').fill('1980-02-03');
    await staff.getByRole('button', { name: 'Add patient' }).click();
    await staff.locator('#patient-success').waitFor({ state: 'visible' });
    await staff.getByLabel('Clinician').selectOption({ label: 'Dr Ada Lovelace' });
    const start = new Date(Date.now() + 3 * 60_000);
    await staff.getByLabel('Start').fill(localInput(start));
    await staff.getByLabel('End').fill(localInput(new Date(start.getTime() + 30 * 60_000)));
    await staff.getByRole('button', { name: 'Book appointment' }).click();
    await staff.locator('#book-success').waitFor({ state: 'visible' });
    const row = staff.locator('#appointments li', { hasText: 'Jane Q Public' });
    await row.waitFor({ state: 'visible' });
    await screenshot(staff, 'web-front-desk');
    await expectAccessible(staff);
    await row.getByRole('button', { name: /Patient link/ }).click();
    await staff.locator('#link-panel').waitFor({ state: 'visible' });
    link = await staff.locator('#link-url').inputValue();
    passcode = await staff.locator('#link-passcode').inputValue();
    expect(link).toMatch(new RegExp(`^${stack.url}/join#`));
    expect(passcode).toMatch(/^\d{4,}$/);
    const panelText = ((await staff.locator('#link-panel').textContent()) ?? '').replace(/\s+/g, ' ');
    expect(panelText).toContain('read the passcode to the patient or send it separately');
    await screenshot(staff, 'web-front-desk-link');
    await expectAccessible(staff);
    await staff.setViewportSize({ width: 375, height: 740 });
    await fitsPhone(staff);
    await screenshot(staff, 'web-front-desk-375');
    await staff.setViewportSize({ width: 1024, height: 800 });

    // The invitation waited for the link; Jane has no e-mail address, so it is not sent, and the day view says
    // so under her appointment (read when the day opens).
    const notice = staff
      .locator('#appointments li', { hasText: 'Jane Q Public' })
      .locator('.delivery-notice');
    for (let i = 0; i < 30 && (await notice.count()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await staff.reload();
      await staff.locator('#appointments li', { hasText: 'Jane Q Public' }).waitFor({ state: 'visible' });
    }
    await expect(notice.textContent()).resolves.toBe(
      'Invitation by e-mail not sent: the patient has no e-mail address on file. Add one, or tell them by phone.',
    );
    expect(catcher.messages()).toHaveLength(0);
    // What fits the screen with the day's list in view, at a desktop and a phone size (docs/screenshots).
    for (const size of [
      { width: 1280, height: 800 },
      { width: 375, height: 812 },
    ]) {
      await staff.setViewportSize(size);
      await staff.locator('#appointments').scrollIntoViewIfNeeded();
      await notice.scrollIntoViewIfNeeded();
      await staff.screenshot({
        path: join(SCREENSHOT_DIR, `web-front-desk-deliveries-${String(size.width)}.png`),
      });
      await expectAccessible(staff);
      await fitsPhone(staff);
    }
    await staff.setViewportSize({ width: 1024, height: 800 });
    await signOut();
  });

  it('clinician console shows today’s visits and, live, the waiting patient', async () => {
    await signIn('ada@web.test');
    await staff.locator('#console').waitFor({ state: 'visible' });
    await expect(staff.locator('#front-desk').isVisible()).resolves.toBe(false);
    await staff.locator('#visits li').first().waitFor({ state: 'visible' });
    await staff.locator('#live-status', { hasText: 'Live updates on.' }).waitFor();
    await screenshot(staff, 'web-console');
    await expectAccessible(staff);

    // The patient: passcode (a wrong one first), self-check, waiting room, on a phone-sized screen.
    await patient.goto(link);
    await patient.locator('#step-passcode').waitFor({ state: 'visible' });
    expect(patient.url()).toBe(`${stack.url}/join`); // the token left the address bar
    await screenshot(patient, 'web-patient-passcode');
    await expectAccessible(patient);
    await fitsPhone(patient);
    await patient.getByLabel('Passcode').fill('000000');
    await patient.getByRole('button', { name: 'Continue' }).click();
    await patient
      .locator('#passcode-form-error', { hasText: 'That passcode is not right. 4 attempts left.' })
      .waitFor();
    await screenshot(patient, 'web-patient-passcode-wrong');
    await expectAccessible(patient);
    await passcodeThenCheck(patient, passcode);
    await patient.waitForFunction(() => {
      // (This file is type-checked without the DOM library; the page's CSP forbids string evaluation.)
      const page = globalThis as unknown as {
        document: { getElementById(id: string): { videoWidth?: number } | null };
      };
      return (page.document.getElementById('preview')?.videoWidth ?? 0) > 0;
    });
    await screenshot(patient, 'web-patient-check');
    await expectAccessible(patient);
    await fitsPhone(patient);
    await patient.getByRole('button', { name: 'Go to the waiting room' }).click();
    await patient.locator('#step-waiting').waitFor({ state: 'visible' });
    await expect(patient.locator('#step-waiting').textContent()).resolves.toContain(
      'Your clinician will let you in.',
    );
    await screenshot(patient, 'web-patient-waiting');
    await expectAccessible(patient);
    await fitsPhone(patient);

    // The clinician's list updates by itself.
    await staff.locator('.badge-waiting', { hasText: '1 waiting' }).waitFor({ timeout: 10_000 });
    await screenshot(staff, 'web-console-waiting');
    await expect(staff.evaluate(LINES_OPENED_BY_A_SEPARATOR('#waiting-now .row-main'))).resolves.toEqual([]);
    await staff
      .getByRole('button', { name: /^Open the visit/ })
      .first()
      .click();
    await staff.locator('#lobby li').first().waitFor({ state: 'visible' });
    // The clinician sees who is waiting by name: read for treatment when the visit opens (PhiAccessed).
    await staff.locator('#visit-title', { hasText: 'Visit with Jane Q Public at' }).waitFor();
    await staff.getByRole('button', { name: 'Admit Jane Q Public (patient)' }).waitFor();
    // The patient, still waiting, can see who opened their details: the clinician, just now, for treatment.
    // The audit service records the read a moment after it happened: wait until the patient's log has it
    // (polling the same endpoint the page uses, bounded), then open the list.
    await patient.waitForFunction(
      async () => {
        const r = await fetch('/api/patient/access-log');
        return r.ok && ((await r.json()) as { entries: unknown[] }).entries.length > 0;
      },
      undefined,
      { polling: 250, timeout: 15_000 },
    );
    await patient.getByText('Who has looked at your record?').click();
    await patient.locator('#access-log-list li').first().waitFor();
    const accessLines = await patient.locator('#access-log-list li').allTextContents();
    expect(accessLines.join('\n')).toMatch(
      /Dr Ada Lovelace \(clinician\) opened your details( \d+ times)? \(treatment\)\./,
    );
    // The clinician's reads as the visit opened are one line that counts them, not the same line over and over.
    expect(accessLines.filter((line, i) => line === accessLines[i - 1])).toEqual([]);
    await screenshot(patient, 'web-patient-access-log');
    await expectAccessible(patient);
    await fitsPhone(patient);
    await expect(staff.locator('#visit-stage').count()).resolves.toBe(1);
    await screenshot(staff, 'web-visit-lobby');
    await expectAccessible(staff);
    await staff.setViewportSize({ width: 375, height: 740 });
    await fitsPhone(staff);
    await screenshot(staff, 'web-visit-lobby-375');
    await staff.setViewportSize({ width: 1024, height: 800 });

    await staff.getByRole('button', { name: /^Admit / }).click();
    await staff.locator('#admitted li').first().waitFor({ state: 'visible' });
    await patient.locator('#step-visit').waitFor({ state: 'visible', timeout: 10_000 });
    await expect(patient.locator('#visit-stage').count()).resolves.toBe(1);
    await expect(patient.evaluate(GAP_UNDER_THE_VISIT)).resolves.toBeGreaterThanOrEqual(8);
    await screenshot(patient, 'web-patient-visit');
    await expectAccessible(patient);
    await fitsPhone(patient);
    await screenshot(staff, 'web-visit-admitted');
    await expect(staff.evaluate(LINES_OPENED_BY_A_SEPARATOR('#admitted .row-main'))).resolves.toEqual([]);
    await expect(staff.evaluate(BUTTONS_TOUCHING_WHAT_FOLLOWS('.visit-people'))).resolves.toEqual([]);
    await expectAccessible(staff);

    await staff.getByRole('button', { name: 'Lock visit' }).click();
    await staff.locator('#visit-state', { hasText: 'Locked' }).waitFor();
    await signOut();
  });

  it('explains a used-up or unknown link to the patient', async () => {
    const other = await patientBrowser.context.newPage();
    await other.setViewportSize({ width: 375, height: 740 });
    await other.goto(`${stack.url}/join#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
    await other.getByLabel('Passcode').fill('123456');
    await other.getByRole('button', { name: 'Continue' }).click();
    await other.locator('#passcode-form-error', { hasText: 'not right' }).waitFor();
    await other.close();
  });

  it('shows an auditor the signed ledger head and the entries, filtered by patient', async () => {
    await signIn('audit@web.test');
    await staff.locator('#audit').waitFor({ state: 'visible' });
    await expect(staff.locator('#front-desk').isVisible()).resolves.toBe(false);
    await staff.locator('#ledger-head dd').first().waitFor();
    const entries = Number(await staff.locator('#ledger-head dd').first().textContent());
    expect(entries).toBeGreaterThan(0);
    await expect(staff.locator('#ledger-head').textContent()).resolves.toContain('Ed25519');
    await staff.locator('#ledger-rows tr').first().waitFor();
    // Newest first.
    const indexes = (await staff.locator('#ledger-rows tr td:nth-child(1)').allTextContents()).map(Number);
    expect(indexes).toEqual([...indexes].sort((x, y) => y - x));
    // One patient's entries only: the PHI reads of the patient booked above are among them.
    const patientId = (await staff.locator('#ledger-rows tr td:nth-child(5)').allTextContents()).find(
      (t) => t !== '',
    )!;
    await staff.getByLabel('Patient id').fill(patientId);
    await staff.getByRole('button', { name: 'Show entries' }).click();
    await staff.waitForFunction((id) => {
      const page = globalThis as unknown as {
        document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> };
      };
      const cells = Array.from(page.document.querySelectorAll('#ledger-rows tr td:nth-child(5)'));
      return cells.length > 0 && cells.every((c) => c.textContent === id);
    }, patientId);
    // The booking above is among that patient's entries: a readable label, the event type in its title.
    const booked = staff.locator('#ledger-rows td[title$="scheduling.v1.AppointmentBooked"]');
    await expect(booked.first().textContent()).resolves.toBe('Appointment booked');
    await screenshot(staff, 'web-audit-ledger');
    // Every column shows without scrolling sideways on a 1024 px screen (the proof links are the last one).
    const sideways =
      "(() => { const w = document.querySelector('#audit .table-wrap'); return w.scrollWidth - w.clientWidth; })()";
    await expect(staff.evaluate(sideways)).resolves.toBeLessThanOrEqual(0);
    // An entry's proof, downloaded as the Proof link does, checks offline with the pinned key (the key id the
    // page shows) by the command-line verifier.
    const href = (await staff.locator('#ledger-rows a', { hasText: 'Proof' }).first().getAttribute('href'))!;
    const proof = await staff.request.get(new URL(href, stack.url).toString());
    expect(proof.headers()['content-disposition']).toMatch(/^attachment; filename="audit-proof-/);
    const keyId = (await staff.locator('#ledger-head dd').nth(3).textContent())!.split(' ').pop()!;
    const dir = mkdtempSync(join(tmpdir(), 'haven-proof-'));
    try {
      writeFileSync(join(dir, 'proof.json'), await proof.text());
      const verify = spawnSync(
        process.execPath,
        [join(__dirname, '..', 'bin', 'haven-audit-verify'), join(dir, 'proof.json'), '--key', keyId],
        { encoding: 'utf8' },
      );
      expect(verify.stdout).toMatch(/^VERIFIED: auditEvents\//);
      expect(verify.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await expectAccessible(staff);
    await signOut();
  });

  it('enrolls an admin in TOTP: QR code, setup key, confirm, recovery codes once', async () => {
    await signIn('root@web.test');
    await staff.locator('#enroll-setup').waitFor({ state: 'visible' });
    const src = await staff.locator('#enroll-qr').getAttribute('src');
    expect(src).toMatch(/^data:image\/svg\+xml;base64,/);
    await expect(staff.locator('#enroll-uri').textContent()).resolves.toMatch(/^otpauth:\/\/totp\//);
    await screenshot(staff, 'web-totp-enroll');
    await expectAccessible(staff);
    const secret = (await staff.locator('#enroll-secret').textContent()) ?? '';
    await staff.getByLabel('Code from the app').fill(totpCode(secret, Date.now()));
    await staff.getByRole('button', { name: 'Confirm' }).click();
    await staff.locator('#enroll-done').waitFor({ state: 'visible' });
    await expect(staff.locator('#recovery-codes li').count()).resolves.toBe(10);
    // Set up: no more scanning instructions, and no passkey offered instead of what is already done.
    await expect(staff.locator('#enroll-passkey').count()).resolves.toBe(0);
    await expect(staff.locator('#enroll .lead').count()).resolves.toBe(0);
    await expect(staff.evaluate(RECOVERY_CODES_LAYOUT)).resolves.toEqual({ wrapped: [], crowded: [] });
    await screenshot(staff, 'web-totp-recovery-codes');
    await expectAccessible(staff);
    await staff.getByRole('button', { name: /I have saved them/ }).click();
    await staff.locator('#sign-in-notice', { hasText: 'Sign in again' }).waitFor();
    // The next 30 s step, so the code is not the one just used to confirm.
    await signIn('root@web.test', totpCode(secret, Date.now() + 30_000));
    await staff.locator('#home').waitFor({ state: 'visible' });
    await expect(staff.locator('#home-role').textContent()).resolves.toBe(
      'You are signed in as administrator.',
    );
  });

  it('ran without Content-Security-Policy violations', () => {
    expect(cspViolations).toEqual([]);
  });
});
