/**
 * Passkeys through the gateway's HTTP routes against the real identity service (a child process over a real
 * nats-server): enrolment after a password sign-in, passwordless sign-in, and the attacks — a replayed assertion,
 * another session's challenge, another user's credential, a cloned authenticator, no user verification, another
 * user finishing a registration — each refused and recorded as PasskeyCeremonyRefused. The WebAuthn responses come
 * from a software authenticator (@haven/testing) that shares no code with the server's verification.
 */
import { createServer, type Server } from 'node:http';
import type { NatsConnection } from 'nats';
import { identity, passkeys, scheduling } from '@haven/proto';
import { createVerifierFromConfig, listening } from '@haven/service';
import { launchStack, readEventLog, SoftAuthenticator } from '@haven/testing';
import { CookieJar, captureLogs, WEB_ROOT } from '../test/gateway';
import { inviteUser, STACK_PASSWORD } from '../test/stack';
import { createGatewayApp } from './app';

jest.setTimeout(120_000);

/** Identity (a child process) with `identityEnv`, and a gateway in this process at http://localhost:<port>. */
async function startPasskeyGateway(identityEnv: Record<string, string>) {
  const launched = await launchStack({
    services: ['identity'],
    env: {
      identity: {
        HAVEN_ARGON2_MEMORY_KIB: '1024',
        HAVEN_ARGON2_TIME_COST: '1',
        HAVEN_LOGIN_IP_BURST: '10000',
        HAVEN_LOGIN_IP_PER_MINUTE: '10000',
        ...identityEnv,
      },
    },
  });
  const address = launched.address('identity');
  // The services want mutual TLS: these clients act as the gateway.
  const tls = launched.pki.grpcCredentials('gateway');
  const clients = {
    identity: new identity.IdentityServiceClient(address, tls),
    passkeys: new passkeys.PasskeyServiceClient(address, tls),
    scheduling: new scheduling.SchedulingServiceClient(address, tls),
  };
  const { logs, logger } = captureLogs();
  const tokenVerifier = createVerifierFromConfig({
    HAVEN_JWKS_URL: launched.jwksUrl,
    HAVEN_PATIENT_JWKS_URL: launched.patientJwksUrl,
    HAVEN_JWT_ISSUER: 'haven-identity',
    HAVEN_JWT_AUDIENCE: 'haven',
  });
  const server: Server = createServer(
    createGatewayApp({
      clients,
      logger,
      tokenVerifier,
      config: { webRoot: WEB_ROOT, authRateLimit: { limit: 1000, windowMs: 60_000 } },
    }),
  );
  const port = launched.ports.gateway.http!;
  await listening(server, port, '127.0.0.1');
  return {
    launched,
    logs,
    url: `http://127.0.0.1:${port}`,
    // identity's HAVEN_PUBLIC_URL (launchStack): WebAuthn needs a domain, never an IP address
    origin: `http://localhost:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
      for (const c of Object.values(clients)) c.close();
      await launched.stop();
    },
  };
}

describe('passkeys through the gateway', () => {
  let stack: Awaited<ReturnType<typeof startPasskeyGateway>>;
  let nc: NatsConnection;
  let url = '';
  let origin = '';
  let logs: string[] = [];
  const users = { alice: '', bob: '', admin: '', desk: '', erin: '' };

  beforeAll(async () => {
    stack = await startPasskeyGateway({ HAVEN_MFA_REQUIRED_ROLES: 'front_desk' });
    ({ url, origin, logs } = stack);
    const env = stack.launched.service('identity').env;
    [users.alice, users.bob, users.admin, users.desk, users.erin] = await Promise.all([
      inviteUser(env, { email: 'alice@passkeys.test', role: 'clinician' }),
      inviteUser(env, { email: 'bob@passkeys.test', role: 'clinician' }),
      inviteUser(env, { email: 'admin@passkeys.test', role: 'admin' }),
      inviteUser(env, { email: 'desk@passkeys.test', role: 'front_desk' }),
      inviteUser(env, { email: 'erin@passkeys.test', role: 'clinician' }),
    ]);
    nc = await stack.launched.nats.connect();
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.close();
  });

  async function page(): Promise<CookieJar> {
    const jar = new CookieJar();
    expect((await jar.fetch(`${url}/`)).status).toBe(200);
    return jar;
  }

  async function passwordSignIn(username: string): Promise<{ jar: CookieJar; status: number }> {
    const jar = await page();
    const res = await jar.post(`${url}/api/auth/login`, { username, password: STACK_PASSWORD });
    return { jar, status: res.status };
  }

  /** Starts registering a passkey as `jar`'s user: the ceremony and the options for the authenticator. */
  async function startRegistration(
    jar: CookieJar,
  ): Promise<{ ceremony: string; options: Record<string, unknown> }> {
    const start = await jar.post(`${url}/api/auth/passkeys/register/start`, {});
    expect(start.status).toBe(200);
    return (await start.json()) as { ceremony: string; options: Record<string, unknown> };
  }

  async function enrol(username: string): Promise<{ authenticator: SoftAuthenticator; passkeyId: string }> {
    const { jar, status } = await passwordSignIn(username);
    expect(status).toBe(200);
    const { ceremony, options } = await startRegistration(jar);
    const authenticator = new SoftAuthenticator({ rpId: 'localhost', origin });
    const response = authenticator.register(options);
    const finish = await jar.post(`${url}/api/auth/passkeys/register/finish`, {
      ceremony,
      response,
      name: 'Laptop',
    });
    expect(finish.status).toBe(201);
    const { passkey } = (await finish.json()) as { passkey: { id: string; name: string } };
    expect(passkey).toMatchObject({ id: response['id'], name: 'Laptop' });
    return { authenticator, passkeyId: passkey.id };
  }

  /** Starts a passkey sign-in in a fresh browser session: its jar (holding the ceremony cookie) and options. */
  async function startSignIn(): Promise<{ jar: CookieJar; options: Record<string, unknown> }> {
    const jar = await page();
    const res = await jar.post(`${url}/api/auth/passkeys/sign-in/start`, {});
    expect(res.status).toBe(200);
    expect(jar.cookies.get('haven_passkey')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    return { jar, options: ((await res.json()) as { options: Record<string, unknown> }).options };
  }

  const finish = (jar: CookieJar, response: Record<string, unknown>) =>
    jar.post(`${url}/api/auth/passkeys/sign-in/finish`, { response });

  const refusals = async () =>
    (await readEventLog(nc, { filter: 'haven.es.identity.>' }))
      .filter((e) => e.type === 'haven.identity.v1.PasskeyCeremonyRefused')
      .map((e) => e.data as { reason: string; userId: string | null; purpose: string });

  let alice: { authenticator: SoftAuthenticator; passkeyId: string };
  let bob: { authenticator: SoftAuthenticator; passkeyId: string };

  it('enrols a passkey after a password sign-in, then signs in with it alone; the password alone no longer does', async () => {
    alice = await enrol('alice@passkeys.test');
    const { jar, options } = await startSignIn();
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required' });
    const res = await finish(jar, alice.authenticator.authenticate(options));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user: { role: 'clinician' } });
    expect(jar.cookies.has('haven_passkey')).toBe(false);
    const me = await jar.fetch(`${url}/api/me`);
    expect(await me.json()).toMatchObject({ sub: users.alice, role: 'clinician' });
    const list = await jar.fetch(`${url}/api/me/passkeys`);
    const { passkeys: mine } = (await list.json()) as {
      passkeys: { id: string; lastUsedAt: string | null }[];
    };
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ id: alice.passkeyId });
    expect(mine[0]?.lastUsedAt).not.toBeNull();
    expect((await passwordSignIn('alice@passkeys.test')).status).toBe(401);
  });

  it('lets a user who must enrol MFA register a passkey instead of TOTP, then sign in with it fully', async () => {
    const { jar, status } = await passwordSignIn('desk@passkeys.test');
    expect(status).toBe(200);
    const enrolling = await jar.fetch(`${url}/api/me`);
    expect(await enrolling.json()).toMatchObject({ role: null });
    expect((await jar.fetch(`${url}/api/me/passkeys`)).status).toBe(403); // the enrollment-only token
    const { ceremony, options } = await startRegistration(jar);
    const key = new SoftAuthenticator({ rpId: 'localhost', origin });
    const finished = await jar.post(`${url}/api/auth/passkeys/register/finish`, {
      ceremony,
      response: key.register(options),
    });
    expect(finished.status).toBe(201);
    const signIn = await startSignIn();
    const res = await finish(signIn.jar, key.authenticate(signIn.options));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user: { role: 'front_desk' }, mfaEnrollmentRequired: false });
    const me = await signIn.jar.fetch(`${url}/api/me`);
    expect(await me.json()).toMatchObject({ sub: users.desk, role: 'front_desk' });
    expect((await passwordSignIn('desk@passkeys.test')).status).toBe(401);
  });

  it('refuses a replayed assertion, into its own ceremony and into a new one', async () => {
    const { jar, options } = await startSignIn();
    const ceremony = jar.cookies.get('haven_passkey')!;
    const assertion = alice.authenticator.authenticate(options);
    expect((await finish(jar, assertion)).status).toBe(200);
    jar.cookies.set('haven_passkey', ceremony);
    expect((await finish(jar, assertion)).status).toBe(401);
    const next = await startSignIn();
    expect((await finish(next.jar, assertion)).status).toBe(401);
  });

  it('refuses an assertion over the challenge another session was given', async () => {
    const victim = await startSignIn();
    const attacker = await startSignIn();
    const res = await finish(attacker.jar, alice.authenticator.authenticate(victim.options));
    expect(res.status).toBe(401);
    expect(attacker.jar.cookies.has('haven_access')).toBe(false);
  });

  it("refuses another user's credential presented as one's own", async () => {
    bob = await enrol('bob@passkeys.test');
    const { jar, options } = await startSignIn();
    const assertion = bob.authenticator.authenticate(options);
    const response = assertion['response'] as Record<string, unknown>;
    response['userHandle'] = Buffer.from(users.alice, 'utf8').toString('base64url');
    expect((await finish(jar, assertion)).status).toBe(401);
  });

  it('refuses a cloned authenticator whose counter went back, and keeps the original working', async () => {
    const clone = alice.authenticator.clone(alice.passkeyId);
    const first = await startSignIn();
    expect((await finish(first.jar, alice.authenticator.authenticate(first.options))).status).toBe(200);
    const second = await startSignIn();
    expect((await finish(second.jar, clone.authenticate(second.options))).status).toBe(401);
    const third = await startSignIn();
    expect((await finish(third.jar, alice.authenticator.authenticate(third.options))).status).toBe(200);
  });

  it('requires user verification for a passwordless sign-in', async () => {
    const { jar, options } = await startSignIn();
    const res = await finish(
      jar,
      alice.authenticator.authenticate(options, undefined, { userVerified: false }),
    );
    expect(res.status).toBe(401);
  });

  it('refuses a registration finished by another user than the one who started it', async () => {
    const started = (await passwordSignIn('admin@passkeys.test')).jar;
    const start = await started.post(`${url}/api/auth/passkeys/register/start`, {});
    const { ceremony, options } = (await start.json()) as {
      ceremony: string;
      options: Record<string, unknown>;
    };
    const other = await startSignIn(); // bob signs in with his passkey, then answers the admin's ceremony
    expect((await finish(other.jar, bob.authenticator.authenticate(other.options))).status).toBe(200);
    const bobsKey = new SoftAuthenticator({ rpId: 'localhost', origin });
    const res = await other.jar.post(`${url}/api/auth/passkeys/register/finish`, {
      ceremony,
      response: bobsKey.register(options),
    });
    expect(res.status).toBe(401);
  });

  it('records every refusal with its reason, and no credential material', async () => {
    const reasons = (await refusals()).map((r) => r.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'ceremony_used',
        'challenge_mismatch',
        'unknown_credential',
        'counter_regressed',
        'user_not_verified',
        'wrong_user',
      ]),
    );
    expect(reasons.filter((r) => r === 'challenge_mismatch').length).toBeGreaterThanOrEqual(2);
    const all = JSON.stringify(await readEventLog(nc, { filter: 'haven.es.identity.>' }));
    expect(all).not.toMatch(/signature|clientDataJSON|authenticatorData|attestationObject|privateKey/);
    expect(logs.join('\n')).not.toMatch(/clientDataJSON|authenticatorData|attestationObject/);
  });

  it("lets an admin list and remove a user's passkey (the reset of a lost one): the password works again", async () => {
    const { jar: admin } = await passwordSignIn('admin@passkeys.test');
    const list = await admin.fetch(`${url}/api/users/${users.alice}/passkeys`);
    expect(list.status).toBe(200);
    const removed = await admin.fetch(`${url}/api/users/${users.alice}/passkeys/${alice.passkeyId}`, {
      method: 'DELETE',
      headers: { 'x-csrf-token': admin.cookies.get('haven_csrf') ?? '' },
    });
    expect(removed.status).toBe(204);
    const { jar, options } = await startSignIn();
    expect((await finish(jar, alice.authenticator.authenticate(options))).status).toBe(401);
    expect((await passwordSignIn('alice@passkeys.test')).status).toBe(200);
    const { jar: aliceJar } = await passwordSignIn('alice@passkeys.test');
    const notHers = await aliceJar.fetch(`${url}/api/users/${users.admin}/passkeys`);
    expect(notHers.status).toBe(403);
    expect((await admin.fetch(`${url}/api/users/nobody-here/passkeys`)).status).toBe(404);
    const removedEvents = (await readEventLog(nc, { filter: 'haven.es.identity.>' })).filter(
      (e) => e.type === 'haven.identity.v1.PasskeyRemoved',
    );
    expect(removedEvents.map((e) => e.data)).toEqual([
      expect.objectContaining({ userId: users.alice, passkeyId: alice.passkeyId, by: 'admin' }),
    ]);
  });

  it("lets an admin set the clinic's attestation policy, enforced on the next registration", async () => {
    const { jar: admin } = await passwordSignIn('admin@passkeys.test');
    const put = (body: unknown) =>
      admin.fetch(`${url}/api/passkey-policy`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          'x-csrf-token': admin.cookies.get('haven_csrf') ?? '',
        },
        body: JSON.stringify(body),
      });
    expect(await (await admin.fetch(`${url}/api/passkey-policy`)).json()).toEqual({
      attestation: 'none',
      allowedAaguids: [],
    });
    expect((await put({ attestation: 'direct', allowedAaguids: [] })).status).toBe(400);
    const zeros = '00000000-0000-0000-0000-000000000000';
    const direct = await put({ attestation: 'direct', allowedAaguids: [zeros] });
    expect(await direct.json()).toEqual({ attestation: 'direct', allowedAaguids: [zeros] });
    const { jar: erin } = await passwordSignIn('erin@passkeys.test');
    expect((await erin.fetch(`${url}/api/passkey-policy`)).status).toBe(403);
    const register = async () => {
      const start = await erin.post(`${url}/api/auth/passkeys/register/start`, {});
      const { ceremony, options } = (await start.json()) as {
        ceremony: string;
        options: Record<string, unknown>;
      };
      const response = new SoftAuthenticator({ rpId: 'localhost', origin }).register(options);
      return {
        options,
        res: await erin.post(`${url}/api/auth/passkeys/register/finish`, { ceremony, response }),
      };
    };
    const refused = await register(); // `none` attestation: nobody vouches for the model it states
    expect(refused.options['attestation']).toBe('direct');
    expect(refused.res.status).toBe(401);
    expect((await put({ attestation: 'none' })).status).toBe(200);
    const accepted = await register();
    expect(accepted.options['attestation']).toBe('none');
    expect(accepted.res.status).toBe(201);
    const set = (await readEventLog(nc, { filter: 'haven.es.identity.>' })).filter(
      (e) => e.type === 'haven.identity.v1.PasskeyPolicySet',
    );
    expect(set.map((e) => e.data)).toEqual([
      expect.objectContaining({ attestation: 'direct', allowedAaguids: [zeros], by: users.admin }),
      expect.objectContaining({ attestation: 'none', allowedAaguids: [], by: users.admin }),
    ]);
    expect(
      (await refusals()).some((r) => r.reason === 'attestation_refused' && r.userId === users.erin),
    ).toBe(true);
  });
});

describe('passkeys under a direct attestation policy', () => {
  let stack: Awaited<ReturnType<typeof startPasskeyGateway>>;

  beforeAll(async () => {
    stack = await startPasskeyGateway({
      HAVEN_MFA_REQUIRED_ROLES: 'none',
      HAVEN_PASSKEY_ATTESTATION: 'direct',
      HAVEN_PASSKEY_AAGUIDS: '00000000-0000-0000-0000-000000000000',
    });
    await inviteUser(stack.launched.service('identity').env, {
      email: 'carol@passkeys.test',
      role: 'clinician',
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('asks for direct attestation and refuses an authenticator that does not attest its model', async () => {
    const jar = new CookieJar();
    await jar.fetch(`${stack.url}/`);
    expect(
      (
        await jar.post(`${stack.url}/api/auth/login`, {
          username: 'carol@passkeys.test',
          password: STACK_PASSWORD,
        })
      ).status,
    ).toBe(200);
    const start = await jar.post(`${stack.url}/api/auth/passkeys/register/start`, {});
    const { ceremony, options } = (await start.json()) as {
      ceremony: string;
      options: Record<string, unknown>;
    };
    expect(options['attestation']).toBe('direct');
    // Its AAGUID (all zeros) is even listed: with `none` attestation nobody vouches for it.
    const response = new SoftAuthenticator({ rpId: 'localhost', origin: stack.origin }).register(options);
    const res = await jar.post(`${stack.url}/api/auth/passkeys/register/finish`, { ceremony, response });
    expect(res.status).toBe(401);
    const nc = await stack.launched.nats.connect();
    try {
      const refused = (await readEventLog(nc, { filter: 'haven.es.identity.>' })).filter(
        (e) => e.type === 'haven.identity.v1.PasskeyCeremonyRefused',
      );
      expect(refused.map((e) => e.data['reason'])).toEqual(['attestation_refused']);
    } finally {
      await nc.close();
    }
    const list = await jar.fetch(`${stack.url}/api/me/passkeys`);
    expect(await list.json()).toEqual({ passkeys: [] });
  });
});
