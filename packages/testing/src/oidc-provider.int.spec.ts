import { createHash, randomBytes } from 'node:crypto';
import { completeOidcLogin, startOidcProvider, type OidcProviderHandle } from './oidc-provider';

const b64 = (b: Buffer) => b.toString('base64url');

describe('the test OpenID provider', () => {
  let op: OidcProviderHandle;
  const redirect = 'http://127.0.0.1:9/callback';
  beforeAll(async () => {
    op = await startOidcProvider({
      clients: [{ clientId: 'haven', clientSecret: 'secret-secret-secret', redirectUris: [redirect] }],
      accounts: [{ sub: 'ada', email: 'ada@example.org', name: 'Ada', groups: ['clinicians'] }],
    });
  });
  afterAll(() => op?.stop());

  it('runs the code flow with PKCE and puts the groups in the ID token', async () => {
    const discovery = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(discovery['issuer']).toBe(op.issuer);
    const verifier = b64(randomBytes(32));
    const auth = new URL(discovery['authorization_endpoint']!);
    auth.search = new URLSearchParams({
      client_id: 'haven',
      response_type: 'code',
      redirect_uri: redirect,
      scope: 'openid email profile',
      state: 'st',
      nonce: 'no',
      code_challenge: b64(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
    }).toString();
    const back = await completeOidcLogin(auth.href, 'ada');
    expect(back.searchParams.get('state')).toBe('st');
    const code = back.searchParams.get('code') ?? '';
    expect(code).not.toBe('');
    const token = await fetch(discovery['token_endpoint']!, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('haven:secret-secret-secret').toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirect,
        code_verifier: verifier,
      }),
    });
    expect(token.status).toBe(200);
    const idToken = ((await token.json()) as { id_token: string }).id_token;
    const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      sub: 'ada',
      nonce: 'no',
      email: 'ada@example.org',
      groups: ['clinicians'],
    });
  });

  it('refuses an authorization request without PKCE', async () => {
    const auth = new URL(`${op.issuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: 'haven',
      response_type: 'code',
      redirect_uri: redirect,
      scope: 'openid',
      state: 'st',
    }).toString();
    const back = await completeOidcLogin(auth.href, 'ada');
    expect(back.searchParams.get('error')).toBe('invalid_request');
  });
});
