/**
 * A real OpenID Provider for tests and the dev stack (`oidc-provider`, the certified Node implementation), on
 * 127.0.0.1 and a free port: discovery, JWKS, authorization code with PKCE (required), ID tokens carrying the
 * account's e-mail, name and groups, RP-initiated logout, and the library's development login page (any password;
 * the login names the account). Consent is granted without a page. Dev-only: never a production IdP.
 *
 *   const op = await startOidcProvider({ clients: [{ clientId, clientSecret, redirectUris }], accounts });
 *   … op.issuer …  const callback = await completeOidcLogin(authorizationUrl, 'ada');
 *   await op.stop();
 */
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';
import { listening } from '@haven/service';
import { freePort } from './ports';

/** A staff member as the test IdP knows them (`sub` is also the login name on its login page). */
export interface OidcTestAccount {
  readonly sub: string;
  readonly email?: string;
  readonly name?: string;
  readonly groups?: readonly string[];
}

/** A relying party registered at the test IdP. */
export interface OidcTestClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris?: readonly string[];
}

/** Options of {@link startOidcProvider}. */
export interface StartOidcProviderOptions {
  readonly clients: readonly OidcTestClient[];
  readonly accounts: readonly OidcTestAccount[];
  /** Fixed port (default a free one). */
  readonly port?: number;
  /** The claim the groups go in (default `groups`). */
  readonly groupsClaim?: string;
}

/** A running test IdP. */
export interface OidcProviderHandle {
  /** `http://127.0.0.1:<port>`: the issuer identifier, exactly as its tokens say it. */
  readonly issuer: string;
  readonly port: number;
  /** Adds or replaces an account (e.g. to move someone to another group). */
  setAccount(account: OidcTestAccount): void;
  stop(): Promise<void>;
}

interface ProviderLike {
  callback(): unknown;
  Grant: new (init: { clientId: string; accountId: string }) => {
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  };
}
interface GrantContext {
  oidc: {
    client: { clientId: string };
    session: { accountId: string; grantIdFor(clientId: string): string | undefined };
    provider: ProviderLike & { Grant: { find(id: string): Promise<unknown> } };
  };
}

/** Starts the IdP. Resolves once it listens. */
export async function startOidcProvider(options: StartOidcProviderOptions): Promise<OidcProviderHandle> {
  const { default: Provider } = (await import('oidc-provider')) as unknown as {
    default: new (issuer: string, configuration: object) => ProviderLike;
  };
  const port = options.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const groupsClaim = options.groupsClaim ?? 'groups';
  const accounts = new Map(options.accounts.map((a) => [a.sub, a]));
  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: [...c.redirectUris],
      post_logout_redirect_uris: [...(c.postLogoutRedirectUris ?? [])],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', groupsClaim],
    },
    // Claims of the granted scopes go into the ID token (Haven reads groups from it, never from userinfo).
    conformIdTokenClaims: false,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
    findAccount: (_ctx: unknown, sub: string) => {
      const account = accounts.get(sub) ?? { sub };
      return {
        accountId: sub,
        claims: () => ({
          sub,
          ...(account.email ? { email: account.email, email_verified: true } : {}),
          ...(account.name ? { name: account.name } : {}),
          preferred_username: sub,
          [groupsClaim]: [...(account.groups ?? [])],
        }),
      };
    },
    // Consent without a page: the relying party is the clinic's own application.
    loadExistingGrant: async (ctx: GrantContext) => {
      const { client, session, provider: p } = ctx.oidc;
      const existing = session.grantIdFor(client.clientId);
      if (existing) return p.Grant.find(existing);
      const grant = new p.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  const server = createServer(provider.callback() as RequestListener);
  await listening(server, port, '127.0.0.1');
  return {
    issuer,
    port,
    setAccount: (account) => accounts.set(account.sub, account),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Signs `login` in at the test IdP like a browser without JavaScript: follows the authorization request's
 * redirects with the IdP's cookies, submits the development login form, and resolves with the URL the IdP sends
 * the browser back to (the relying party's redirect URI with `code`, `state` and `iss`, or an `error`). The
 * relying party is not called. Throws Error when the IdP answers something else.
 */
export async function completeOidcLogin(authorizationUrl: string, login: string): Promise<URL> {
  const cookies = new Map<string, string>();
  const target = new URL(authorizationUrl);
  let url = target.href;
  let init: RequestInit = {};
  for (let hop = 0; hop < 12; hop++) {
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const i = pair.indexOf('=');
      if (i > 0) cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, url);
      if (next.origin !== target.origin) return next;
      url = next.href;
      init = {};
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action || !html.includes('name="login"'))
      throw new Error(`the test IdP answered ${res.status} at ${url}`);
    url = new URL(action.replace(/&amp;/g, '&'), url).href;
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'login', login, password: 'any' }).toString(),
    };
  }
  throw new Error('the test IdP redirected too often');
}
