/**
 * Staff single sign-on in real Chromium against the real stack and a real OpenID provider (oidc-provider on
 * 127.0.0.1): a staff member clicks "Sign in with Northside Health", signs in at the provider, and waits for
 * approval; an admin approves them on the Haven page; they sign in again and land in Haven with the role their
 * groups map to; signing out ends the provider's session too. A staff member in no mapped group is refused.
 * axe-core on the pages, screenshots in test-artifacts/screenshots/web-sso-*.png.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  freePort,
  launchChromium,
  screenshot,
  startOidcProvider,
  type LaunchedChromium,
  type OidcProviderHandle,
  watchCsp,
} from '@haven/testing';
import { STACK_PASSWORD, startStack, type TestStack } from '../services/gateway/test/stack';
import { expectAccessible } from './e2e-checks';

jest.setTimeout(180_000);

describe('staff SSO in Chromium', () => {
  let op: OidcProviderHandle;
  let stack: TestStack;
  let staffBrowser: LaunchedChromium;
  let adminBrowser: LaunchedChromium;
  let staff: Page;
  let admin: Page;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    const [gatewayPort, opPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${gatewayPort}`;
    const secret = 'northside-client-secret-0123456789';
    op = await startOidcProvider({
      port: opPort,
      clients: [
        {
          clientId: 'haven',
          clientSecret: secret,
          redirectUris: [`${url}/api/auth/sso/callback`],
          postLogoutRedirectUris: [`${url}/`],
        },
      ],
      accounts: [
        { sub: 'ada', email: 'ada@northside.example', name: 'Ada Lovelace', groups: ['haven-clinicians'] },
        { sub: 'mallory', email: 'mallory@northside.example', name: 'Mallory', groups: ['volunteers'] },
      ],
    });
    const provider = {
      id: 'northside',
      displayName: 'Northside Health',
      issuer: op.issuer,
      clientId: 'haven',
      groupsClaim: 'groups',
      scopes: [],
      roles: [{ group: 'haven-clinicians', role: 'clinician' as const }],
    };
    const dir = mkdtempSync(join(tmpdir(), 'haven-sso-e2e-'));
    writeFileSync(join(dir, 'sso.json'), JSON.stringify({ providers: [provider] }));
    stack = await startStack({
      gatewayPort,
      identityEnv: { HAVEN_SSO_CONFIG_FILE: join(dir, 'sso.json') },
      gateway: {
        sso: { publicUrl: url, providers: [provider], clientSecrets: new Map([['northside', secret]]) },
      },
    });
    await stack.createUser('root@northside.example', 'admin', 'Local Admin');
    [staffBrowser, adminBrowser] = await Promise.all([launchChromium(), launchChromium()]);
    staff = await staffBrowser.context.newPage();
    admin = await adminBrowser.context.newPage();
    for (const page of [staff, admin]) watchCsp(page, cspViolations);
  });
  afterAll(async () => {
    await staffBrowser?.close();
    await adminBrowser?.close();
    await stack?.stop();
    await op?.stop();
  });

  /**
   * From Haven's sign-in page through the provider's login, back to Haven. With `remembered` the provider still
   * has the user's session and sends them straight back without its login page.
   */
  async function signInWithNorthside(page: Page, login: string, options: { remembered?: boolean } = {}) {
    await page.goto(stack.url);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await page.getByRole('link', { name: 'Sign in with Northside Health' }).click();
    if (options.remembered) return;
    await page.waitForURL((u) => u.origin === op.issuer);
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.waitForURL((u) => u.origin === stack.url);
  }

  it('offers the clinic provider on the sign-in page', async () => {
    await staff.goto(stack.url);
    await staff.getByRole('link', { name: 'Sign in with Northside Health' }).waitFor({ state: 'visible' });
    await screenshot(staff, 'web-sso-sign-in');
    await expectAccessible(staff);
  });

  it('makes a first-time staff member wait for an admin’s approval', async () => {
    await signInWithNorthside(staff, 'ada');
    const notice = staff.locator('#sign-in-notice');
    await notice.waitFor({ state: 'visible' });
    expect(await notice.textContent()).toContain('waits for an administrator to approve it');
    expect(new URL(staff.url()).search).toBe('');
    await screenshot(staff, 'web-sso-pending');
    await expectAccessible(staff);
  });

  it('lets the admin approve them on the Haven page', async () => {
    await admin.goto(stack.url);
    await admin.getByLabel('Username').fill('root@northside.example');
    await admin.getByLabel('Password').fill(STACK_PASSWORD);
    await admin.getByRole('button', { name: 'Sign in' }).click();
    const approvals = admin.locator('#sso-approvals');
    await approvals.waitFor({ state: 'visible' });
    const row = approvals.locator('li', { hasText: 'ada@northside.example' });
    await row.waitFor({ state: 'visible' });
    expect(await row.textContent()).toContain('clinician');
    await screenshot(admin, 'web-sso-approvals');
    await expectAccessible(admin);
    await admin.getByRole('button', { name: 'Approve ada@northside.example' }).click();
    await admin.locator('#sso-approvals-empty').waitFor({ state: 'visible' });
  });

  it('signs the approved staff member in with the role their groups map to', async () => {
    await signInWithNorthside(staff, 'ada', { remembered: true });
    await staff.locator('#home').waitFor({ state: 'visible' });
    expect(await staff.locator('#home-role').textContent()).toBe('You are signed in as clinician.');
    await staff.locator('#console').waitFor({ state: 'visible' });
    await screenshot(staff, 'web-sso-home');
  });

  it('signs out of Haven and of the provider', async () => {
    await staff.getByRole('button', { name: 'Sign out' }).click();
    await staff.waitForURL((u) => u.origin === op.issuer);
    // oidc-provider asks before ending its session (no ID token hint: the gateway never kept the ID token).
    await staff.getByRole('button', { name: /Yes/ }).click();
    await staff.waitForURL((u) => u.origin === stack.url);
    await staff.locator('#sign-in').waitFor({ state: 'visible' });
    const me = await staff.evaluate(async () => (await fetch('/api/me')).status);
    expect(me).toBe(401);
    // The provider's session is over too: signing in again shows its login page.
    await staff.getByRole('link', { name: 'Sign in with Northside Health' }).click();
    await staff.waitForURL((u) => u.origin === op.issuer);
    await staff.locator('input[name="login"]').waitFor({ state: 'visible' });
  });

  it('refuses a staff member none of whose groups has a Haven role', async () => {
    await staffBrowser.context.clearCookies();
    await signInWithNorthside(staff, 'mallory');
    const notice = staff.locator('#sign-in-notice');
    await notice.waitFor({ state: 'visible' });
    expect(await notice.textContent()).toContain('may not use Haven');
    await expect(staff.evaluate(async () => (await fetch('/api/me')).status)).resolves.toBe(401);
    await screenshot(staff, 'web-sso-refused');
  });

  it('raised no Content-Security-Policy violation', () => {
    expect(cspViolations).toEqual([]);
  });
});
