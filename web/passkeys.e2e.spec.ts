/**
 * Passkeys in real Chromium against the real stack, with the DevTools virtual authenticator (CDP
 * `WebAuthn.addVirtualAuthenticator`: CTAP2, internal, resident keys, user verification): a clinician enrols a
 * passkey after a password sign-in, signs out and signs in with the passkey alone; a front-desk user whose MFA is
 * due sets up a passkey instead of an authenticator app. Then the attacks, each refused
 * (401) and recorded as PasskeyCeremonyRefused: a replayed assertion, an assertion over another session's
 * challenge, another user's credential presented as one's own, and a cloned authenticator whose counter went back.
 *
 * The clinic's attestation policy is `direct`, allowing only the virtual authenticator's model (it attests with a
 * certificate).
 *
 * WebAuthn needs a domain for its RP ID (never an IP address): the page is opened at http://localhost:<port>,
 * which identity's HAVEN_PUBLIC_URL names (launchStack).
 */
import type { CDPSession, Page } from 'playwright-core';
import { launchChromium, readEventLog, screenshot, watchCsp, type LaunchedChromium } from '@haven/testing';
import { STACK_PASSWORD, startStack, type TestStack } from '../services/gateway/test/stack';

jest.setTimeout(180_000);

/** The AAGUID Chromium's virtual authenticator attests. */
const VIRTUAL_AAGUID = '01020304-0506-0708-0102-030405060708';

interface VirtualAuthenticator {
  readonly cdp: CDPSession;
  readonly authenticatorId: string;
}

/** Turns on WebAuthn's virtual authenticator environment for the page and adds a platform authenticator. */
async function virtualAuthenticator(page: Page): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** Runs an API call in the page (CSRF header from the cookie, as the app does); resolves with status and body. */
function call(
  page: Page,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const init = JSON.stringify({ method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return page.evaluate(`(async () => {
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('haven_csrf='))?.slice(11) ?? '';
    const init = ${init};
    init.headers = { 'content-type': 'application/json', 'x-csrf-token': decodeURIComponent(csrf) };
    const res = await fetch(${JSON.stringify(path)}, init);
    return { status: res.status, body: await res.json().catch(() => null) };
  })()`);
}

/** Asks the page's authenticator for an assertion over `options` (without sending it anywhere). */
function assertWith(page: Page, options: unknown): Promise<Record<string, unknown>> {
  return page.evaluate(
    `window.SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: ${JSON.stringify(options)} })`,
  );
}

describe('passkeys in Chromium with the virtual authenticator', () => {
  let stack: TestStack;
  let home = '';
  const browsers: LaunchedChromium[] = [];
  const users = { nurse: '', other: '', desk: '' };
  const cspViolations: string[] = [];

  /** A fresh browser (own profile, own cookies) on the sign-in page. */
  async function browserPage(): Promise<Page> {
    const browser = await launchChromium();
    browsers.push(browser);
    const page = await browser.context.newPage();
    watchCsp(page, cspViolations);
    await page.goto(home);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    return page;
  }

  async function passwordSignIn(page: Page, username: string): Promise<void> {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(STACK_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#home').waitFor({ state: 'visible' });
  }

  async function addPasskey(page: Page, name: string): Promise<void> {
    await page.locator('#passkeys').waitFor({ state: 'visible' });
    await page.getByLabel('Name of the new passkey').fill(name);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.locator('#passkey-status').getByText(`The passkey ${name} was added.`).waitFor();
  }

  async function refusalReasons(): Promise<string[]> {
    const nc = await stack.nats.connect();
    try {
      return (await readEventLog(nc, { filter: 'haven.es.identity.>' }))
        .filter((e) => e.type === 'haven.identity.v1.PasskeyCeremonyRefused')
        .map((e) => String(e.data['reason']));
    } finally {
      await nc.close();
    }
  }

  beforeAll(async () => {
    // The clinic allows only attested authenticators of one model: the virtual authenticator's (packed attestation
    // with a certificate, AAGUID 01020304-…).
    stack = await startStack({
      mfaRequiredRoles: 'front_desk',
      identityEnv: { HAVEN_PASSKEY_ATTESTATION: 'direct', HAVEN_PASSKEY_AAGUIDS: VIRTUAL_AAGUID },
    });
    home = stack.url.replace('127.0.0.1', 'localhost');
    [users.nurse, users.other, users.desk] = await Promise.all([
      stack.createUser('nurse@passkeys.test', 'clinician', 'Nurse Joy'),
      stack.createUser('other@passkeys.test', 'clinician', 'Dr Other'),
      stack.createUser('desk@passkeys.test', 'front_desk', 'Front Desk'),
    ]);
  });
  afterAll(async () => {
    for (const b of browsers) await b.close();
    await stack?.stop();
  });

  let nurse: Page;
  let nurseKey: VirtualAuthenticator;

  it('enrols a passkey after a password sign-in, signs out, and signs in with the passkey alone', async () => {
    nurse = await browserPage();
    nurseKey = await virtualAuthenticator(nurse);
    await passwordSignIn(nurse, 'nurse@passkeys.test');
    await addPasskey(nurse, 'Ward laptop');
    await expect(nurse.locator('#passkey-list li').count()).resolves.toBe(1);
    const listed = await call(nurse, 'GET', '/api/me/passkeys');
    expect(listed.body).toMatchObject({ passkeys: [{ name: 'Ward laptop', aaguid: VIRTUAL_AAGUID }] });
    await screenshot(nurse, 'web-passkeys');
    const { credentials } = await nurseKey.cdp.send('WebAuthn.getCredentials', {
      authenticatorId: nurseKey.authenticatorId,
    });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]?.isResidentCredential).toBe(true);

    await nurse.getByRole('button', { name: 'Sign out' }).click();
    await nurse.locator('#sign-in').waitFor({ state: 'visible' });
    await nurse.getByRole('button', { name: 'Use a passkey' }).click();
    await nurse.locator('#home').waitFor({ state: 'visible' });
    const me = await call(nurse, 'GET', '/api/me');
    expect(me.body).toMatchObject({ sub: users.nurse, role: 'clinician' });
    expect(nurse.url()).toBe(`${home}/`);
    expect(cspViolations).toEqual([]);
  });

  it('sets up a passkey instead of an authenticator app when MFA is due, then signs in with it', async () => {
    const desk = await browserPage();
    await virtualAuthenticator(desk);
    await desk.getByLabel('Username').fill('desk@passkeys.test');
    await desk.getByLabel('Password').fill(STACK_PASSWORD);
    await desk.getByRole('button', { name: 'Sign in', exact: true }).click();
    await desk.locator('#enroll').waitFor({ state: 'visible' });
    await desk.getByRole('button', { name: 'Set up a passkey instead' }).click();
    await desk.locator('#sign-in').waitFor({ state: 'visible' });
    await desk.getByRole('button', { name: 'Use a passkey' }).click();
    await desk.locator('#front-desk').waitFor({ state: 'visible' });
    expect((await call(desk, 'GET', '/api/me')).body).toMatchObject({ sub: users.desk, role: 'front_desk' });
  });

  it('refuses a replayed assertion, with its own ceremony and with a new one', async () => {
    const page = await browserPage();
    const start = await call(page, 'POST', '/api/auth/passkeys/sign-in/start', {});
    expect(start.status).toBe(200);
    const [ceremonyCookie] = (await page.context().cookies()).filter((c) => c.name === 'haven_passkey');
    const assertion = await assertWith(nurse, (start.body as { options: unknown }).options);
    expect(
      (await call(page, 'POST', '/api/auth/passkeys/sign-in/finish', { response: assertion })).status,
    ).toBe(200);
    await page.context().addCookies([ceremonyCookie!]); // the same ceremony again
    expect(
      (await call(page, 'POST', '/api/auth/passkeys/sign-in/finish', { response: assertion })).status,
    ).toBe(401);
    await call(page, 'POST', '/api/auth/passkeys/sign-in/start', {}); // a new ceremony
    expect(
      (await call(page, 'POST', '/api/auth/passkeys/sign-in/finish', { response: assertion })).status,
    ).toBe(401);
  });

  it('refuses an assertion over the challenge another session was given', async () => {
    const victim = await browserPage();
    const victimStart = await call(victim, 'POST', '/api/auth/passkeys/sign-in/start', {});
    const attacker = await browserPage();
    await call(attacker, 'POST', '/api/auth/passkeys/sign-in/start', {});
    const assertion = await assertWith(nurse, (victimStart.body as { options: unknown }).options);
    const res = await call(attacker, 'POST', '/api/auth/passkeys/sign-in/finish', { response: assertion });
    expect(res.status).toBe(401);
    expect((await attacker.context().cookies()).some((c) => c.name === 'haven_access')).toBe(false);
  });

  it("refuses another user's credential presented as one's own", async () => {
    const other = await browserPage();
    await virtualAuthenticator(other);
    await passwordSignIn(other, 'other@passkeys.test');
    await addPasskey(other, 'Desk key');
    const attacker = await browserPage();
    const start = await call(attacker, 'POST', '/api/auth/passkeys/sign-in/start', {});
    const assertion = await assertWith(other, (start.body as { options: unknown }).options);
    (assertion['response'] as Record<string, unknown>)['userHandle'] = Buffer.from(users.nurse).toString(
      'base64url',
    );
    expect(
      (await call(attacker, 'POST', '/api/auth/passkeys/sign-in/finish', { response: assertion })).status,
    ).toBe(401);
  });

  it('refuses a cloned authenticator whose counter went back', async () => {
    const { credentials } = await nurseKey.cdp.send('WebAuthn.getCredentials', {
      authenticatorId: nurseKey.authenticatorId,
    });
    const copied = credentials[0]!;
    // The original signs in once more: its counter moves past the copy's.
    const page = await browserPage();
    const start = await call(page, 'POST', '/api/auth/passkeys/sign-in/start', {});
    const assertion = await assertWith(nurse, (start.body as { options: unknown }).options);
    expect(
      (await call(page, 'POST', '/api/auth/passkeys/sign-in/finish', { response: assertion })).status,
    ).toBe(200);
    // The clone: another authenticator holding the same private key with the older counter.
    const thief = await browserPage();
    const clone = await virtualAuthenticator(thief);
    await clone.cdp.send('WebAuthn.addCredential', {
      authenticatorId: clone.authenticatorId,
      credential: copied,
    });
    await thief.getByRole('button', { name: 'Use a passkey' }).click();
    await thief.locator('#passkey-sign-in-error').getByText('The passkey was not accepted.').waitFor();
    await expect(thief.locator('#home').isVisible()).resolves.toBe(false);
  });

  it('recorded each refusal with its reason', async () => {
    const reasons = await refusalReasons();
    expect(reasons).toEqual(
      expect.arrayContaining([
        'ceremony_used',
        'challenge_mismatch',
        'unknown_credential',
        'counter_regressed',
      ]),
    );
    expect(reasons.filter((r) => r === 'challenge_mismatch').length).toBeGreaterThanOrEqual(2);
  });
});
