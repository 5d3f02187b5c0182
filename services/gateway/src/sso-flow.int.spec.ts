/**
 * Staff single sign-on through the gateway against a real OpenID provider (oidc-provider on 127.0.0.1) and the
 * real identity service: the code flow with a cookie jar (start → the provider's login → callback), just-in-time
 * accounts that wait for an admin, group → role mapping, refusals, sign-out with the provider's logout, and the
 * attacks a relying party must stop: a replayed state, a reused code, a wrong nonce, another issuer's answer and a
 * replayed ID token. Every outcome is checked in the event store as well as at the door.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { identity } from '@haven/proto';
import { callUnary } from '@haven/service';
import {
  completeOidcLogin,
  eventually,
  freePort,
  readEventLog,
  startOidcProvider,
  type OidcProviderHandle,
} from '@haven/testing';
import { CookieJar } from '../test/gateway';
import { STACK_PASSWORD, startStack, type TestStack } from '../test/stack';
import type { GatewaySsoOptions } from './sso';

jest.setTimeout(120_000);

const CLIENT_SECRET = 'northside-client-secret-0123456789';
const ACCOUNTS = [
  { sub: 'ada', email: 'ada@northside.example', name: 'Ada Lovelace', groups: ['staff', 'haven-clinicians'] },
  {
    sub: 'grace',
    email: 'grace@northside.example',
    name: 'Grace Hopper',
    groups: ['haven-clinicians', 'haven-admins'],
  },
  { sub: 'mallory', email: 'mallory@northside.example', name: 'Mallory', groups: ['volunteers'] },
  { sub: 'alan', email: 'alan@northside.example', name: 'Alan Turing', groups: ['haven-clinicians'] },
  { sub: 'ida', email: 'ida@northside.example', name: 'Ida Rhodes', groups: ['haven-clinicians'] },
];

describe('staff SSO through the gateway', () => {
  let op: OidcProviderHandle;
  let evil: OidcProviderHandle;
  let stack: TestStack;
  let sso: GatewaySsoOptions;
  let nc: NatsConnection;
  let admin: CookieJar;
  let url: string;

  const identityEvents = async (type: string) =>
    (await readEventLog(nc, { filter: 'haven.es.identity.>' })).filter(
      (e) => e.type === `haven.identity.v1.${type}`,
    );

  beforeAll(async () => {
    const [gatewayPort, opPort] = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${gatewayPort}`;
    const client = {
      clientId: 'haven',
      clientSecret: CLIENT_SECRET,
      redirectUris: [`${url}/api/auth/sso/callback`],
      postLogoutRedirectUris: [`${url}/`],
    };
    op = await startOidcProvider({ port: opPort, clients: [client], accounts: ACCOUNTS });
    evil = await startOidcProvider({ clients: [client], accounts: ACCOUNTS });
    const dir = mkdtempSync(join(tmpdir(), 'haven-sso-'));
    writeFileSync(join(dir, 'secret'), CLIENT_SECRET);
    const provider = {
      id: 'northside',
      displayName: 'Northside Health',
      issuer: op.issuer,
      clientId: 'haven',
      clientSecretFile: join(dir, 'secret'),
      groupsClaim: 'groups',
      scopes: [],
      roles: [
        { group: 'haven-admins', role: 'admin' as const },
        { group: 'haven-clinicians', role: 'clinician' as const },
      ],
    };
    writeFileSync(join(dir, 'sso.json'), JSON.stringify({ providers: [provider] }));
    sso = { publicUrl: url, providers: [provider], clientSecrets: new Map([['northside', CLIENT_SECRET]]) };
    stack = await startStack({
      gatewayPort,
      identityEnv: { HAVEN_SSO_CONFIG_FILE: join(dir, 'sso.json') },
      gateway: { sso },
    });
    nc = await stack.nats.connect();
    await stack.createUser('root@northside.example', 'admin', 'Local Admin');
    admin = new CookieJar();
    await admin.fetch(`${url}/`);
    const login = await admin.post(`${url}/api/auth/login`, {
      username: 'root@northside.example',
      password: STACK_PASSWORD,
    });
    expect(login.status).toBe(200);
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
    await op?.stop();
    await evil?.stop();
  });

  /** The reason of the gateway's last refused callback (from its log). */
  function lastRefusal(): { code: string; reason: string } | undefined {
    const lines = stack.logs
      .map((l) => JSON.parse(l) as { msg?: string; code?: string; failedCheck?: string })
      .filter((l) => l.msg === 'SSO callback refused');
    const last = lines.at(-1);
    return last ? { code: last.code ?? '', reason: last.failedCheck ?? '' } : undefined;
  }

  /** The callback was refused with 401, logged with `code` (and a failed check naming `why`), and no session set. */
  function expectRefused(res: Response, jar: CookieJar, code: string, why = ''): void {
    expect(res.status).toBe(401);
    expect(lastRefusal()?.code).toBe(code);
    expect(lastRefusal()?.reason).toContain(why);
    expect(jar.cookies.has('haven_access')).toBe(false);
  }

  /** Starts a sign-in in `jar`; resolves with the provider's authorization URL. */
  async function start(jar: CookieJar): Promise<URL> {
    const res = await jar.fetch(`${url}/api/auth/sso/northside/start`);
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.origin).toBe(op.issuer);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(jar.last.find((c) => c.name === 'haven_sso_tx')?.attributes).toMatchObject({
      httponly: '',
      samesite: 'Lax',
      path: '/api/auth/sso',
    });
    return location;
  }

  /** The whole flow for `login`; resolves with the gateway's answer to the callback. */
  async function signIn(jar: CookieJar, login: string): Promise<Response> {
    const callback = await completeOidcLogin((await start(jar)).href, login);
    return jar.fetch(callback.href);
  }

  async function approvePending(email: string, role?: string): Promise<void> {
    const list = await admin.fetch(`${url}/api/sso-accounts?state=pending`);
    expect(list.status).toBe(200);
    const { accounts } = (await list.json()) as { accounts: { id: string; email: string; state: string }[] };
    const account = accounts.find((a) => a.email === email);
    expect(account?.state).toBe('pending');
    const res = await admin.post(`${url}/api/sso-accounts/${account!.id}/approve`, role ? { role } : {});
    expect(res.status).toBe(200);
  }

  /** A staff member the provider knows, approved and signed in once; resolves with their jar. */
  async function approvedAndSignedIn(login: string, email: string): Promise<CookieJar> {
    expect((await signIn(new CookieJar(), login)).headers.get('location')).toBe('/?sso=pending');
    await approvePending(email);
    const jar = new CookieJar();
    const res = await signIn(jar, login);
    expect(res.headers.get('location')).toBe('/');
    return jar;
  }

  it('offers the clinic provider on the sign-in page', async () => {
    const res = await fetch(`${url}/api/auth/sso/providers`);
    expect(await res.json()).toEqual({
      providers: [
        { id: 'northside', displayName: 'Northside Health', startUrl: '/api/auth/sso/northside/start' },
      ],
    });
  });

  it('makes an unknown staff member wait for approval, then signs them in with the mapped role', async () => {
    const first = new CookieJar();
    const pending = await signIn(first, 'ada');
    expect(pending.status).toBe(303);
    expect(pending.headers.get('location')).toBe('/?sso=pending');
    expect(first.cookies.has('haven_access')).toBe(false);
    expect(first.cookies.has('haven_sso_tx')).toBe(false);
    const again = await signIn(new CookieJar(), 'ada');
    expect(again.headers.get('location')).toBe('/?sso=pending');
    // One request, two refusals, as events.
    const requested = await identityEvents('SsoAccountRequested');
    expect(requested.filter((e) => e.data['subject'] === 'ada')).toHaveLength(1);
    expect(requested[0]?.data).toMatchObject({ requestedRole: 'clinician', email: 'ada@northside.example' });
    const accountId = String(requested[0]?.data['accountId']);
    const refusals = (await identityEvents('SsoSignInRefused')).filter(
      (e) => e.data['accountId'] === accountId,
    );
    expect(refusals.map((e) => e.data['reason'])).toEqual(['approval_pending', 'approval_pending']);

    await approvePending('ada@northside.example');
    const provisioned = (await identityEvents('UserProvisioned')).map((e) => e.data);
    expect(provisioned).toHaveLength(1);
    expect(provisioned[0]).toMatchObject({
      ssoAccountId: accountId,
      role: 'clinician',
      username: 'ada@northside.example',
    });

    const jar = new CookieJar();
    const res = await signIn(jar, 'ada');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    expect(jar.cookies.has('haven_access')).toBe(true);
    expect(jar.cookies.has('haven_refresh')).toBe(true);
    const me = (await (await jar.fetch(`${url}/api/me`)).json()) as { role: string };
    expect(me.role).toBe('clinician');
    expect(
      (await identityEvents('SsoSignInSucceeded')).filter((e) => e.data['accountId'] === accountId),
    ).toHaveLength(1);
    // Local accounts still work: the admin signed in with a password above; the SSO user has none.
    const local = await jar.post(`${url}/api/auth/login`, {
      username: 'ada@northside.example',
      password: STACK_PASSWORD,
    });
    expect(local.status).toBe(401);
  });

  it('maps the first matching group (admins before clinicians), and follows the provider when it changes', async () => {
    const jar = await approvedAndSignedIn('grace', 'grace@northside.example');
    const me = (await (await jar.fetch(`${url}/api/me`)).json()) as { role: string };
    expect(me.role).toBe('admin');
    // The IdP moves her out of the admins: her next sign-in has the clinician role, her admin session ends.
    op.setAccount({ ...ACCOUNTS[1]!, groups: ['haven-clinicians'] });
    const next = new CookieJar();
    expect((await signIn(next, 'grace')).headers.get('location')).toBe('/');
    const now = (await (await next.fetch(`${url}/api/me`)).json()) as { role: string };
    expect(now.role).toBe('clinician');
    await eventually(
      'the admin session is refused',
      async () => (await jar.fetch(`${url}/api/me`)).status === 401,
      {
        timeoutMs: 5000,
      },
    );
    const changed = (await identityEvents('UserRoleChanged')).map((e) => e.data);
    expect(changed).toContainEqual(expect.objectContaining({ from: 'admin', to: 'clinician' }));
  });

  it('refuses a staff member none of whose groups maps to a role, asking for no account', async () => {
    const jar = new CookieJar();
    const res = await signIn(jar, 'mallory');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/?sso=refused');
    expect(jar.cookies.has('haven_access')).toBe(false);
    const refused = (await identityEvents('SsoSignInRefused')).filter(
      (e) => e.data['reason'] === 'no_mapped_role',
    );
    expect(refused.at(-1)?.data['groups']).toEqual(['volunteers']);
    const all = (await (await admin.fetch(`${url}/api/sso-accounts`)).json()) as {
      accounts: { email: string }[];
    };
    expect(all.accounts.map((a) => a.email)).not.toContain('mallory@northside.example');
  });

  it('refuses a replayed callback (the state was spent) and a callback without the browser’s transaction', async () => {
    const jar = new CookieJar();
    const callback = await completeOidcLogin((await start(jar)).href, 'ada');
    const tx = jar.cookies.get('haven_sso_tx')!;
    expect((await jar.fetch(callback.href)).headers.get('location')).toBe('/');
    const replay = new CookieJar();
    replay.cookies.set('haven_sso_tx', tx);
    expectRefused(await replay.fetch(callback.href), replay, 'SSO_STATE_REPLAYED');
    // Another browser that never started this sign-in (login CSRF): no transaction, no session.
    const stranger = new CookieJar();
    expect((await stranger.fetch(callback.href)).status).toBe(401);
    expect(lastRefusal()?.code).toBe('SSO_NO_TRANSACTION');
  });

  it('refuses a reused code even at another gateway replica that never saw its state', async () => {
    const replica = await stack.startGateway({ sso });
    const jar = new CookieJar();
    const callback = await completeOidcLogin((await start(jar)).href, 'ada');
    const tx = jar.cookies.get('haven_sso_tx')!;
    expect((await jar.fetch(callback.href)).headers.get('location')).toBe('/');
    const thief = new CookieJar();
    thief.cookies.set('haven_sso_tx', tx);
    const res = await thief.fetch(`${replica}${callback.pathname}${callback.search}`);
    expectRefused(res, thief, 'SSO_CALLBACK_INVALID', 'invalid_grant');
  });

  it('refuses an ID token whose nonce is not the one bound to the browser', async () => {
    const jar = new CookieJar();
    const callback = await completeOidcLogin((await start(jar)).href, 'ada');
    const tx = JSON.parse(Buffer.from(jar.cookies.get('haven_sso_tx')!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    jar.cookies.set(
      'haven_sso_tx',
      Buffer.from(JSON.stringify({ ...tx, n: randomBytes(32).toString('base64url') })).toString('base64url'),
    );
    expectRefused(await jar.fetch(callback.href), jar, 'SSO_CALLBACK_INVALID', 'nonce');
  });

  it('refuses an answer from another issuer (a mix-up: same client id, same redirect URI)', async () => {
    const jar = new CookieJar();
    const auth = await start(jar);
    const mixedUp = new URL(`${evil.issuer}${auth.pathname}${auth.search}`);
    const callback = await completeOidcLogin(mixedUp.href, 'grace');
    expect(callback.searchParams.get('iss')).toBe(evil.issuer);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expectRefused(await jar.fetch(callback.href), jar, 'SSO_CALLBACK_INVALID', 'unexpected "iss"');
  });

  describe('identity verifies the ID token itself', () => {
    /** Runs the code flow at `provider` by hand; resolves with its ID token for `nonce`. */
    async function idTokenFrom(provider: OidcProviderHandle, login: string, nonce: string): Promise<string> {
      const verifier = randomBytes(32).toString('base64url');
      const auth = new URL(`${provider.issuer}/auth`);
      auth.search = new URLSearchParams({
        client_id: 'haven',
        response_type: 'code',
        redirect_uri: `${url}/api/auth/sso/callback`,
        scope: 'openid email profile',
        state: randomBytes(16).toString('base64url'),
        nonce,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      const callback = await completeOidcLogin(auth.href, login);
      const res = await fetch(`${provider.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`haven:${CLIENT_SECRET}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: callback.searchParams.get('code') ?? '',
          redirect_uri: `${url}/api/auth/sso/callback`,
          code_verifier: verifier,
        }),
      });
      return ((await res.json()) as { id_token: string }).id_token;
    }

    const client = () =>
      new identity.IdentityServiceClient(stack.identity.address, stack.identity.credentials);
    const signInWithSso = (idToken: string, nonce: string) =>
      callUnary(
        client(),
        'signInWithSso',
        { identityProvider: 'identityProviders/northside', idToken, nonce },
        new Metadata(),
        { deadlineMs: 5000 },
      );

    it('refuses a replayed token, a wrong nonce and another issuer’s token; accepts a fresh one once', async () => {
      const nonce = randomBytes(24).toString('base64url');
      const token = await idTokenFrom(op, 'ada', nonce);
      await expect(signInWithSso(token, 'another-nonce-entirely')).rejects.toMatchObject({
        code: status.UNAUTHENTICATED,
      });
      const first = await signInWithSso(token, nonce);
      expect(first.user?.email).toBe('ada@northside.example');
      await expect(signInWithSso(token, nonce)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      const replayed = (await identityEvents('SsoSignInRefused')).filter(
        (e) => e.data['reason'] === 'replayed',
      );
      expect(replayed.length).toBeGreaterThanOrEqual(1);
      const foreignNonce = randomBytes(24).toString('base64url');
      const foreign = await idTokenFrom(evil, 'ada', foreignNonce);
      await expect(signInWithSso(foreign, foreignNonce)).rejects.toMatchObject({
        code: status.UNAUTHENTICATED,
      });
    });
  });

  it('signs out of Haven and offers the provider’s logout; the session is over at once', async () => {
    const jar = await approvedAndSignedIn('alan', 'alan@northside.example');
    expect((await jar.fetch(`${url}/api/me`)).status).toBe(200);
    const res = await jar.post(`${url}/api/auth/logout`, {});
    expect(res.status).toBe(200);
    const { endSessionUrl } = (await res.json()) as { endSessionUrl: string };
    const end = new URL(endSessionUrl);
    expect(end.origin).toBe(op.issuer);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${url}/`);
    expect(jar.cookies.has('haven_access')).toBe(false);
    expect((await jar.post(`${url}/api/auth/refresh`, {})).status).toBe(401);
  });

  it('ends an SSO session within 5 s when an admin deactivates the user, and refuses their next sign-in', async () => {
    const jar = await approvedAndSignedIn('ida', 'ida@northside.example');
    const access = jar.cookies.get('haven_access')!;
    const sub = JSON.parse(Buffer.from(access.split('.')[1]!, 'base64url').toString()) as { sub: string };
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${admin.cookies.get('haven_access')!}`);
    await callUnary(
      new identity.IdentityServiceClient(stack.identity.address, stack.identity.credentials),
      'deactivateUser',
      { name: `users/${sub.sub}` },
      metadata,
      { deadlineMs: 5000 },
    );
    const t0 = Date.now();
    await eventually(
      'the SSO session is refused',
      async () => (await jar.fetch(`${url}/api/me`)).status === 401,
      {
        timeoutMs: 5000,
      },
    );
    expect(Date.now() - t0).toBeLessThanOrEqual(5000);
    expect((await signIn(new CookieJar(), 'ida')).headers.get('location')).toBe('/?sso=refused');
    const refused = (await identityEvents('SsoSignInRefused')).filter(
      (e) => e.data['reason'] === 'user_inactive',
    );
    expect(refused).toHaveLength(1);
  });
});
