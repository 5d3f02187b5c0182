/**
 * Idle logoff in the browser (real Chromium, the real stack; the gateway's staff idle timeout shortened to 2 s):
 * a clinician signs in and leaves the console alone; the gateway signs the page out for inactivity, and then the
 * unattended page cannot be resumed — reloading it shows the sign-in form, because the page ended the session
 * (cookies cleared, identity told) when it was signed out. Before: the access and refresh cookies survived the
 * idle sign-out, so a reload brought the console straight back without a password.
 */
import type { Page } from 'playwright-core';
import { launchChromium, type LaunchedChromium } from '@haven/testing';
import { STACK_PASSWORD, startStack, type TestStack } from '../services/gateway/test/stack';

jest.setTimeout(180_000);

let stack: TestStack;
let browser: LaunchedChromium;
let page: Page;

beforeAll(async () => {
  stack = await startStack({ idleTimeoutMs: 2000 });
  await stack.createUser('idle@web.test', 'clinician', 'Dr Idle');
  browser = await launchChromium();
  page = await browser.context.newPage();
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

it('after the idle sign-out, reloading the page asks for the password again', async () => {
  await page.goto(stack.url);
  await page.locator('#sign-in').waitFor({ state: 'visible' });
  await page.getByLabel('Username').fill('idle@web.test');
  await page.getByLabel('Password').fill(STACK_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#console').waitFor({ state: 'visible' });
  // No input: the gateway signs the socket out for inactivity within a few seconds.
  await page.locator('#sign-in').waitFor({ state: 'visible', timeout: 15_000 });
  await page.getByText('signed out after a period of inactivity').waitFor({ state: 'visible' });
  // Someone walks up to the unattended screen: the browser's cookies no longer open the API (bounded wait for the
  // page's logout call), and a reload shows the sign-in form, not the console (checked well within the 2 s idle
  // timeout, which would otherwise sign a resumed console out again).
  let me = 0;
  for (let i = 0; i < 50; i++) {
    me = await page.evaluate(async () => (await fetch('/api/me')).status);
    if (me === 401) break;
    await page.waitForTimeout(100);
  }
  expect(me).toBe(401);
  await page.reload();
  await page.locator('#sign-in').waitFor({ state: 'visible' });
  await page.waitForTimeout(700);
  await expect(page.locator('#console').isVisible()).resolves.toBe(false);
});
