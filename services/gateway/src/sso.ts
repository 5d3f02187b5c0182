/**
 * The gateway as an OpenID Connect relying party (a backend for frontend: the browser never sees the provider's
 * tokens). Per clinic provider: discovery (once, retried after a failure), the authorization request (code flow,
 * PKCE S256, state, nonce), and the callback's code exchange with every check openid-client makes (state, `iss`
 * of RFC 9207, the ID token's signature, issuer, audience, expiry and nonce). Who the user is and which role they
 * get is identity's decision (SignInWithSso), on the ID token it verifies again.
 *
 * The state, nonce and PKCE verifier of a sign-in live in one cookie bound to the browser (httpOnly, SameSite=Lax so
 * that it comes back on the provider's top-level redirect, path /api/auth/sso, ten minutes), cleared by the callback
 * whatever its outcome; a state seen once is refused again by this gateway, a code twice by the provider, and a
 * nonce twice by identity.
 */
import { readFileSync } from 'node:fs';
import type { CookieOptions, Request, Response } from 'express';
import {
  allowInsecureRequests,
  authorizationCodeGrant,
  buildAuthorizationUrl,
  buildEndSessionUrl,
  calculatePKCECodeChallenge,
  ClientSecretBasic,
  discovery,
  randomNonce,
  randomPKCECodeVerifier,
  randomState,
  type Configuration,
} from 'openid-client';
import type { SsoConfig, SsoProvider } from '@haven/service';
import { cookie } from './security';

/** The sign-in transaction cookie. */
export const SSO_TRANSACTION_COOKIE = 'haven_sso_tx';
/** Which provider signed the session in (for RP-initiated logout); httpOnly, /api/auth. */
export const SSO_PROVIDER_COOKIE = 'haven_sso_idp';
/** How long a sign-in at the provider may take. */
export const SSO_TRANSACTION_TTL_MS = 10 * 60_000;
/** The callback path, relative to the public URL: register `<public URL>/api/auth/sso/callback` at the IdP. */
export const SSO_CALLBACK_PATH = '/api/auth/sso/callback';

/** What the gateway needs to be a relying party. */
export interface GatewaySsoOptions {
  /** The browser's origin of the gateway (`https://haven.clinic.example`): the redirect URIs derive from it. */
  readonly publicUrl: string;
  readonly providers: readonly SsoProvider[];
  /** Client secrets by provider id (read from each provider's `clientSecretFile`). */
  readonly clientSecrets: ReadonlyMap<string, string>;
}

/** A sign-in in flight, as kept in the transaction cookie. */
export interface SsoTransaction {
  /** Provider id. */
  readonly p: string;
  /** state. */
  readonly s: string;
  /** nonce. */
  readonly n: string;
  /** PKCE code_verifier. */
  readonly v: string;
  /** Started at, epoch ms. */
  readonly t: number;
}

const TX_FIELD = /^[A-Za-z0-9_-]{16,128}$/;

/** Reads each provider's client secret file. Throws Error naming the provider when a file cannot be read. */
export function gatewaySsoOptions(config: SsoConfig, publicUrl: string): GatewaySsoOptions {
  const clientSecrets = new Map<string, string>();
  for (const p of config.providers) {
    if (p.clientSecretFile === undefined) continue;
    try {
      clientSecrets.set(p.id, readFileSync(p.clientSecretFile, 'utf8').trim());
    } catch (error) {
      throw new Error(`SSO provider ${p.id}: cannot read clientSecretFile`, { cause: error });
    }
  }
  return { publicUrl: publicUrl.replace(/\/$/, ''), providers: config.providers, clientSecrets };
}

/** True for an http issuer on a loopback host (a local IdP; the config schema allows nothing else over http). */
function loopbackHttp(issuer: string): boolean {
  const url = new URL(issuer);
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** The relying party: one openid-client configuration per provider, discovered on first use. */
export class SsoRelyingParty {
  private readonly configurations = new Map<string, Promise<Configuration>>();
  /** States already presented to the callback, with when they may be forgotten. */
  private readonly usedStates = new Map<string, number>();
  readonly callbackUrl: string;

  constructor(
    readonly options: GatewaySsoOptions,
    private readonly cookieOptions: { readonly secure: boolean },
  ) {
    this.callbackUrl = `${options.publicUrl}${SSO_CALLBACK_PATH}`;
  }

  /** The provider called `id`, or undefined. */
  provider(id: string): SsoProvider | undefined {
    return this.options.providers.find((p) => p.id === id);
  }

  /** The provider's configuration (discovery document and client). Rejects when the provider is unreachable. */
  configuration(provider: SsoProvider): Promise<Configuration> {
    const known = this.configurations.get(provider.id);
    if (known) return known;
    const secret = this.options.clientSecrets.get(provider.id);
    const insecure = loopbackHttp(provider.issuer);
    const pending = discovery(
      new URL(provider.issuer),
      provider.clientId,
      undefined,
      secret === undefined ? undefined : ClientSecretBasic(secret),
      insecure ? { execute: [allowInsecureRequests], timeout: 5 } : { timeout: 5 },
    );
    this.configurations.set(provider.id, pending);
    pending.catch(() => this.configurations.delete(provider.id));
    return pending;
  }

  /** Starts a sign-in: the transaction cookie is set, resolves with the provider's authorization URL. */
  async start(provider: SsoProvider, res: Response): Promise<URL> {
    const config = await this.configuration(provider);
    const tx: SsoTransaction = {
      p: provider.id,
      s: randomState(),
      n: randomNonce(),
      v: randomPKCECodeVerifier(),
      t: Date.now(),
    };
    const url = buildAuthorizationUrl(config, {
      redirect_uri: this.callbackUrl,
      scope: ['openid', 'email', 'profile', ...provider.scopes].join(' '),
      state: tx.s,
      nonce: tx.n,
      code_challenge: await calculatePKCECodeChallenge(tx.v),
      code_challenge_method: 'S256',
    });
    res.cookie(SSO_TRANSACTION_COOKIE, Buffer.from(JSON.stringify(tx)).toString('base64url'), {
      ...this.transactionCookie(),
      maxAge: SSO_TRANSACTION_TTL_MS,
    });
    return url;
  }

  /** The request's transaction (undefined when absent, malformed or expired); the cookie is cleared either way. */
  takeTransaction(req: Request, res: Response): SsoTransaction | undefined {
    const raw = cookie(req, SSO_TRANSACTION_COOKIE);
    res.clearCookie(SSO_TRANSACTION_COOKIE, this.transactionCookie());
    if (raw === undefined) return undefined;
    try {
      const tx = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<SsoTransaction>;
      if (
        typeof tx.p !== 'string' ||
        ![tx.s, tx.n, tx.v].every((f) => typeof f === 'string' && TX_FIELD.test(f)) ||
        typeof tx.t !== 'number' ||
        Date.now() - tx.t > SSO_TRANSACTION_TTL_MS
      )
        return undefined;
      return tx as SsoTransaction;
    } catch {
      return undefined;
    }
  }

  /** Marks a state as used; false when it was used before (a replayed callback). */
  consumeState(state: string): boolean {
    const now = Date.now();
    for (const [s, until] of this.usedStates) {
      if (until > now) break;
      this.usedStates.delete(s);
    }
    if (this.usedStates.has(state)) return false;
    this.usedStates.set(state, now + SSO_TRANSACTION_TTL_MS);
    return true;
  }

  /**
   * Exchanges the callback's code for tokens with every check (state, iss, PKCE, ID token signature, issuer,
   * audience, expiry, nonce) and resolves with the ID token. Rejects (openid-client's error) when any fails.
   */
  async exchange(provider: SsoProvider, tx: SsoTransaction, callback: URL): Promise<string> {
    const config = await this.configuration(provider);
    const tokens = await authorizationCodeGrant(
      config,
      callback,
      { pkceCodeVerifier: tx.v, expectedState: tx.s, expectedNonce: tx.n, idTokenExpected: true },
      { redirect_uri: this.callbackUrl },
    );
    if (!tokens.id_token) throw new Error('the provider answered without an ID token');
    return tokens.id_token;
  }

  /** The provider's RP-initiated logout URL (back to the public URL), or undefined when it offers none. */
  async endSessionUrl(providerId: string): Promise<string | undefined> {
    const provider = this.provider(providerId);
    if (!provider) return undefined;
    try {
      const config = await this.configuration(provider);
      if (!config.serverMetadata().end_session_endpoint) return undefined;
      return buildEndSessionUrl(config, {
        client_id: provider.clientId,
        post_logout_redirect_uri: `${this.options.publicUrl}/`,
      }).href;
    } catch {
      return undefined;
    }
  }

  /** Options of the provider cookie (set at sign-in, read and cleared at sign-out). */
  providerCookie(): CookieOptions {
    return { secure: this.cookieOptions.secure, sameSite: 'strict', httpOnly: true, path: '/api/auth' };
  }

  private transactionCookie(): CookieOptions {
    return { secure: this.cookieOptions.secure, sameSite: 'lax', httpOnly: true, path: '/api/auth/sso' };
  }
}
