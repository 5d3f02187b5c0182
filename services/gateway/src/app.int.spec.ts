import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { eventually } from '@haven/testing';
import { listening, type AccessRefusal } from '@haven/service';
import { AUDITOR, FRONT_DESK, startTestBackend } from '../test/backend';
import type { TestBackend } from '../test/backend';
import { CookieJar, startTestGateway } from '../test/gateway';
import type { TestGateway } from '../test/gateway';

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listening(server, 0, '127.0.0.1');
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

function inOneHour(offsetMinutes = 0): string {
  return new Date(Date.now() + 3_600_000 + offsetMinutes * 60_000).toISOString();
}

/** A booking form scheduling accepts: half an hour, starting in an hour. */
function booking() {
  return { clinicianId: 'dr-house', patientId: 'pat-0001', startTime: inOneHour(), endTime: inOneHour(30) };
}

describe('gateway against a real gRPC backend', () => {
  let backend: TestBackend;
  let gateway: TestGateway;

  beforeAll(async () => {
    backend = await startTestBackend();
    gateway = await startTestGateway({
      identityAddress: backend.address,
      schedulingAddress: backend.address,
      tokenVerifier: backend.verifier,
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.stop();
  });

  /** A jar that loaded the page (so it holds a CSRF cookie) and, unless `signIn: false`, signed in. */
  async function session(user = FRONT_DESK, options: { signIn?: boolean } = {}): Promise<CookieJar> {
    const jar = new CookieJar();
    expect((await jar.fetch(`${gateway.url}/`)).status).toBe(200);
    if (options.signIn !== false) {
      const res = await jar.post(`${gateway.url}/api/auth/login`, {
        username: user.username,
        password: user.password,
      });
      expect(res.status).toBe(200);
    }
    return jar;
  }

  describe('probes and headers', () => {
    it('answers /healthz with 200', async () => {
      const res = await fetch(`${gateway.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    });

    /** The CSP's directives by name, each a list of its source tokens. */
    const directives = (csp: string) =>
      new Map(
        csp
          .split(';')
          .map((d) => d.trim().split(/\s+/))
          .filter((d) => d[0])
          .map(([name, ...tokens]) => [name!, tokens]),
      );

    it('sends a strict Content-Security-Policy without inline scripts', async () => {
      const res = await fetch(`${gateway.url}/`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      // The staff app runs the clinician's visit: WebAssembly for the background blur, never JavaScript eval.
      expect(directives(csp).get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
      expect(csp.split(/\s+/)).not.toContain("'unsafe-eval'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-powered-by')).toBeNull();
    });

    it("allows WebAssembly on the visit documents only ('/', '/join'), script-src 'self' everywhere else", async () => {
      const scriptSrc = async (path: string) =>
        directives((await fetch(`${gateway.url}${path}`)).headers.get('content-security-policy') ?? '').get(
          'script-src',
        );
      expect(await scriptSrc('/join')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
      expect(await scriptSrc('/index.html')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
      for (const path of ['/messages', '/healthz', '/api/auth/session', '/styles.css', '/join/x', '/nowhere'])
        expect([path, await scriptSrc(path)]).toEqual([path, ["'self'"]]);
    });

    it('serves the background blur’s model and wasm from the installed package, and nothing else of it', async () => {
      const dir = dirname(require.resolve('@mediapipe/selfie_segmentation/package.json'));
      const base = `${gateway.url}/vendor/mediapipe/selfie_segmentation`;
      const model = await fetch(`${base}/selfie_segmentation_landscape.tflite`);
      expect(model.status).toBe(200);
      expect(Buffer.from(await model.arrayBuffer())).toEqual(
        readFileSync(join(dir, 'selfie_segmentation_landscape.tflite')),
      );
      const wasm = await fetch(`${base}/selfie_segmentation_solution_simd_wasm_bin.wasm`);
      expect(wasm.status).toBe(200);
      expect(wasm.headers.get('content-type')).toBe('application/wasm');
      await wasm.arrayBuffer();
      for (const path of ['package.json', 'README.md', '..%2Fpackage.json', '%2E%2E%2F%2E%2E%2Fpackage.json'])
        expect([path, (await fetch(`${base}/${path}`)).status]).toEqual([path, 404]);
    });

    it('serves the web app and hands out a readable, SameSite=Strict CSRF cookie', async () => {
      const jar = new CookieJar();
      const res = await jar.fetch(`${gateway.url}/`);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(await res.text()).toContain('Haven');
      const csrf = jar.last.find((c) => c.name === 'haven_csrf');
      expect(csrf?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(csrf?.attributes).not.toHaveProperty('httponly');
      expect(csrf?.attributes['samesite']).toBe('Strict');
      expect(csrf?.attributes).toHaveProperty('secure');
    });

    it('reports ready when identity and scheduling are SERVING', async () => {
      // A readiness probe is asked periodically: the first check on a cold gRPC channel may pass its 1 s
      // deadline on a loaded machine, so the probe is repeated (as a kubelet would) until it answers 200.
      const body = await eventually(
        'the gateway reports ready',
        async () => {
          const res = await fetch(`${gateway.url}/readyz`);
          return res.status === 200 ? await res.json() : undefined;
        },
        { timeoutMs: 15_000 },
      );
      expect(body).toMatchObject({ checks: { identity: true, scheduling: true } });
    });

    it('reports not ready (503) within the deadline when a backend is down', async () => {
      const down = await startTestGateway({
        identityAddress: backend.address,
        schedulingAddress: `127.0.0.1:${await closedPort()}`,
      });
      try {
        const started = Date.now();
        const res = await fetch(`${down.url}/readyz`);
        expect(res.status).toBe(503);
        expect(await res.json()).toMatchObject({ checks: { identity: true, scheduling: false } });
        expect(Date.now() - started).toBeLessThan(3000);
      } finally {
        await down.close();
      }
    });
  });

  describe('sign-in', () => {
    it('refuses a POST without the CSRF header (403) and does not reach identity', async () => {
      const jar = await session(FRONT_DESK, { signIn: false });
      const before = backend.seen.logins;
      const res = await jar.post(
        `${gateway.url}/api/auth/login`,
        { username: FRONT_DESK.username, password: FRONT_DESK.password },
        { csrf: false },
      );
      expect(res.status).toBe(403);
      expect(backend.seen.logins).toBe(before);
      expect(jar.cookies.has('haven_access')).toBe(false);
    });

    it('refuses a CSRF header that does not match the cookie', async () => {
      const jar = await session(FRONT_DESK, { signIn: false });
      const res = await jar.post(
        `${gateway.url}/api/auth/login`,
        { username: FRONT_DESK.username, password: FRONT_DESK.password },
        { csrf: false, headers: { 'x-csrf-token': 'A'.repeat(43) } },
      );
      expect(res.status).toBe(403);
    });

    it('sets httpOnly, Secure, SameSite=Strict token cookies and rotates the CSRF token', async () => {
      const jar = await session(FRONT_DESK, { signIn: false });
      const csrfBefore = jar.cookies.get('haven_csrf');
      const res = await jar.post(`${gateway.url}/api/auth/login`, {
        username: FRONT_DESK.username,
        password: FRONT_DESK.password,
      });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({
        user: { role: 'front_desk' },
        mfaEnrollmentRequired: false,
        passwordChangeRequired: false,
      });
      const access = jar.last.find((c) => c.name === 'haven_access');
      const refresh = jar.last.find((c) => c.name === 'haven_refresh');
      for (const c of [access, refresh]) {
        expect(c?.attributes).toHaveProperty('httponly');
        expect(c?.attributes).toHaveProperty('secure');
        expect(c?.attributes['samesite']).toBe('Strict');
      }
      expect(access?.attributes['path']).toBe('/api');
      expect(refresh?.attributes['path']).toBe('/api/auth');
      expect(Number(access?.attributes['max-age'])).toBeGreaterThan(60);
      expect(jar.cookies.get('haven_csrf')).not.toBe(csrfBefore);
      // The tokens travel only in the httpOnly cookies, never in the body.
      expect(access?.value.length).toBeGreaterThan(20);
      expect(text).not.toContain(access?.value ?? 'missing');
      expect(text).not.toContain(refresh?.value ?? 'missing');
    });

    it('answers wrong credentials with a generic 401 and sets no token cookie', async () => {
      const jar = await session(FRONT_DESK, { signIn: false });
      const res = await jar.post(`${gateway.url}/api/auth/login`, {
        username: FRONT_DESK.username,
        password: 'not the password',
      });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNAUTHENTICATED');
      expect(body.error.message).not.toMatch(/wrong credentials/); // the service's message stays inside
      expect(jar.cookies.has('haven_access')).toBe(false);
    });

    it('answers missing fields with 400 and field violations, without calling identity', async () => {
      const jar = await session(FRONT_DESK, { signIn: false });
      const before = backend.seen.logins;
      const res = await jar.post(`${gateway.url}/api/auth/login`, { username: '' });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { fieldViolations: Array<{ field: string }> } };
      expect(body.error.fieldViolations.map((v) => v.field).sort()).toEqual(['password', 'username']);
      expect(backend.seen.logins).toBe(before);
    });

    it('refuses a JSON body over 16 KiB with 413', async () => {
      const jar = await session(FRONT_DESK, { signIn: false });
      const res = await jar.post(`${gateway.url}/api/auth/login`, {
        username: 'x',
        password: 'y'.repeat(17 * 1024),
      });
      expect(res.status).toBe(413);
    });

    it('rate-limits /api/auth/* per client', async () => {
      const limited = await startTestGateway({
        identityAddress: backend.address,
        schedulingAddress: backend.address,
        config: { authRateLimit: { limit: 3, windowMs: 60_000 } },
      });
      try {
        const jar = new CookieJar();
        await jar.fetch(`${limited.url}/`);
        const statuses: number[] = [];
        for (let i = 0; i < 4; i += 1) {
          const res = await jar.post(`${limited.url}/api/auth/login`, { username: 'x', password: 'wrong' });
          statuses.push(res.status);
        }
        expect(statuses).toEqual([401, 401, 401, 429]);
      } finally {
        await limited.close();
      }
    });

    it('gives refresh and logout a budget of their own, not the sign-in budget', async () => {
      const limited = await startTestGateway({
        identityAddress: backend.address,
        schedulingAddress: backend.address,
        config: {
          authRateLimit: { limit: 2, windowMs: 60_000 },
          sessionRateLimit: { limit: 4, windowMs: 60_000 },
        },
      });
      try {
        const jar = new CookieJar();
        await jar.fetch(`${limited.url}/`);
        const login = async () =>
          (await jar.post(`${limited.url}/api/auth/login`, { username: 'x', password: 'wrong' })).status;
        const keep = async (path: 'refresh' | 'logout') =>
          (await jar.post(`${limited.url}/api/auth/${path}`, {})).status;
        // The sign-in budget is spent; keeping a session still gets through (no refresh cookie: 401; logout: 204).
        expect([await login(), await login(), await login()]).toEqual([401, 401, 429]);
        expect([
          await keep('refresh'),
          await keep('logout'),
          await keep('refresh'),
          await keep('logout'),
        ]).toEqual([401, 204, 401, 204]);
        // ... up to its own limit.
        expect(await keep('refresh')).toBe(429);
        expect(await login()).toBe(429);
      } finally {
        await limited.close();
      }
    });
  });

  describe('the signed-in user', () => {
    it('GET /api/me returns the verified claims', async () => {
      const jar = await session();
      const res = await jar.fetch(`${gateway.url}/api/me`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({
        sub: FRONT_DESK.id,
        role: 'front_desk',
        kind: 'user',
        idleTimeoutSec: 900,
      });
    });

    it('GET /api/me refuses a token it cannot verify (401)', async () => {
      const other = await startTestBackend(); // another issuer, another key
      try {
        const jar = await session(FRONT_DESK, { signIn: false });
        jar.cookies.set('haven_access', await other.sign(FRONT_DESK));
        expect((await jar.fetch(`${gateway.url}/api/me`)).status).toBe(401);
      } finally {
        await other.stop();
      }
    });

    it('GET /api/me without a session is 401', async () => {
      expect((await fetch(`${gateway.url}/api/me`)).status).toBe(401);
    });

    it('refreshes the access token with the refresh cookie', async () => {
      const jar = await session();
      const before = jar.cookies.get('haven_access');
      const res = await jar.post(`${gateway.url}/api/auth/refresh`, {});
      expect(res.status).toBe(204);
      const after = jar.cookies.get('haven_access');
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
      expect((await jar.fetch(`${gateway.url}/api/me`)).status).toBe(200);
    });

    it('signs out: identity Logout is called and the token cookies are cleared', async () => {
      const jar = await session();
      const before = backend.seen.logouts;
      const res = await jar.post(`${gateway.url}/api/auth/logout`, {});
      expect(res.status).toBe(204);
      expect(backend.seen.logouts).toBe(before + 1);
      expect(jar.cookies.has('haven_access')).toBe(false);
      expect(jar.cookies.has('haven_refresh')).toBe(false);
      expect((await jar.fetch(`${gateway.url}/api/me`)).status).toBe(401);
    });
  });

  describe('booking appointments', () => {
    it('books with the user token relayed to scheduling (201)', async () => {
      const jar = await session();
      const res = await jar.post(`${gateway.url}/api/appointments`, booking());
      expect(res.status).toBe(201);
      const body = (await res.json()) as { appointment: { name: string; clinician: string } };
      expect(body.appointment.name).toMatch(/^appointments\//);
      expect(body.appointment.clinician).toBe('users/dr-house');
      expect(backend.seen.bookings.at(-1)).toEqual({
        principalId: FRONT_DESK.id,
        clinician: 'users/dr-house',
        patient: 'patients/pat-0001',
      });
    });

    it('maps INVALID_ARGUMENT to 400 with field violations named like the form fields', async () => {
      const jar = await session();
      const res = await jar.post(`${gateway.url}/api/appointments`, {
        clinicianId: 'X',
        patientId: 'pat-0001',
        startTime: new Date(Date.now() - 3_600_000).toISOString(),
        endTime: inOneHour(),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as {
        error: { code: string; fieldViolations: Array<{ field: string; description: string }> };
      };
      expect(body.error.code).toBe('INVALID_ARGUMENT');
      expect(body.error.fieldViolations).toEqual(
        expect.arrayContaining([
          { field: 'clinicianId', description: 'must name a clinician' },
          { field: 'startTime', description: 'must not be in the past' },
        ]),
      );
    });

    it('rejects an unparseable date itself with 400', async () => {
      const jar = await session();
      const count = backend.seen.bookings.length;
      const res = await jar.post(`${gateway.url}/api/appointments`, {
        clinicianId: 'dr-house',
        patientId: 'pat-0001',
        startTime: 'next tuesday-ish',
        endTime: inOneHour(),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { fieldViolations: Array<{ field: string }> } };
      expect(body.error.fieldViolations).toEqual([
        { field: 'startTime', description: 'must be a date and time' },
      ]);
      expect(backend.seen.bookings.length).toBe(count);
    });

    it('refuses a token it cannot read with 401 before calling scheduling', async () => {
      const jar = await session(FRONT_DESK, { signIn: false });
      jar.cookies.set('haven_access', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.');
      const res = await jar.post(`${gateway.url}/api/appointments`, booking());
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    });

    it('maps gRPC UNAUTHENTICATED (a token scheduling rejects) to 401', async () => {
      // Without a verifier the gateway only decodes the token: scheduling's verifier refuses the foreign issuer.
      const unverified = await startTestGateway({
        identityAddress: backend.address,
        schedulingAddress: backend.address,
      });
      const other = await startTestBackend();
      try {
        const jar = new CookieJar();
        await jar.fetch(`${unverified.url}/`);
        jar.cookies.set('haven_access', await other.sign(FRONT_DESK));
        const res = await jar.post(`${unverified.url}/api/appointments`, booking());
        expect(res.status).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
      } finally {
        await other.stop();
        await unverified.close();
      }
    });

    describe('behind staff() like every staff route', () => {
      const refused: AccessRefusal[] = [];
      let guarded: TestGateway;
      beforeAll(async () => {
        guarded = await startTestGateway({
          identityAddress: backend.address,
          schedulingAddress: backend.address,
          tokenVerifier: backend.verifier,
          refusals: { record: (r) => void refused.push(r), flush: async () => {} },
        });
      });
      afterAll(async () => {
        await guarded?.close();
      });

      /** The first refusal of POST /api/appointments recorded after `mark` refusals (recorded after the answer). */
      async function bookingRefusalAfter(mark: number): Promise<AccessRefusal | undefined> {
        const deadline = Date.now() + 5000;
        const next = () => refused.slice(mark).find((r) => r.method === 'POST /api/appointments');
        while (!next() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        return next();
      }

      it('refuses a token from another issuer itself and records the refusal (scheduling never sees it)', async () => {
        const other = await startTestBackend();
        try {
          const jar = new CookieJar();
          await jar.fetch(`${guarded.url}/`);
          jar.cookies.set('haven_access', await other.sign(FRONT_DESK));
          const mark = refused.length;
          const res = await jar.post(`${guarded.url}/api/appointments`, booking());
          expect(res.status).toBe(401);
          const refusal = await bookingRefusalAfter(mark);
          expect(refusal).toMatchObject({ kind: 'unauthenticated', code: 'UNAUTHENTICATED' });
          expect(refusal?.reason).not.toBe('no session cookie');
          expect(refusal?.principal).toBeUndefined();
        } finally {
          await other.stop();
        }
      });

      it('refuses a request without the cookie and records why', async () => {
        const jar = new CookieJar();
        await jar.fetch(`${guarded.url}/`);
        const mark = refused.length;
        const res = await jar.post(`${guarded.url}/api/appointments`, { clinicianId: 'dr-house' });
        expect(res.status).toBe(401);
        expect(await bookingRefusalAfter(mark)).toMatchObject({
          kind: 'unauthenticated',
          code: 'UNAUTHENTICATED',
          reason: 'no session cookie',
        });
      });

      it('still checks the CSRF token first (403 CSRF, scheduling never called)', async () => {
        const jar = new CookieJar();
        await jar.fetch(`${guarded.url}/`);
        jar.cookies.set('haven_access', await backend.sign(FRONT_DESK));
        const before = backend.seen.bookings.length;
        const mark = refused.length;
        const res = await jar.post(`${guarded.url}/api/appointments`, booking(), { csrf: false });
        expect(res.status).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('CSRF');
        expect(backend.seen.bookings.length).toBe(before);
        expect(await bookingRefusalAfter(mark)).toMatchObject({
          kind: 'csrf',
          code: 'CSRF',
          principal: { id: FRONT_DESK.id },
        });
      });
    });

    it('maps gRPC PERMISSION_DENIED to 403', async () => {
      const jar = await session(AUDITOR);
      const res = await jar.post(`${gateway.url}/api/appointments`, booking());
      expect(res.status).toBe(403);
    });

    it('maps UNAVAILABLE to 503 when scheduling is down', async () => {
      const down = await startTestGateway({
        identityAddress: backend.address,
        schedulingAddress: `127.0.0.1:${await closedPort()}`,
      });
      try {
        const jar = new CookieJar();
        await jar.fetch(`${down.url}/`);
        jar.cookies.set('haven_access', await backend.sign(FRONT_DESK));
        const res = await jar.post(`${down.url}/api/appointments`, booking());
        expect(res.status).toBe(503);
      } finally {
        await down.close();
      }
    });
  });

  describe('passkey ceremonies whose WebAuthn options identity answered', () => {
    const REGISTRATION = {
      challenge: 'cmVnaXN0cmF0aW9uLWNoYWxsZW5nZQ',
      rp: { name: 'Haven', id: 'localhost' },
      user: { id: 'dS1mcm9udGRlc2s', name: 'frontdesk', displayName: 'Front Desk' },
      pubKeyCredParams: [
        { alg: -8, type: 'public-key' },
        { alg: -7, type: 'public-key' },
      ],
      timeout: 60_000,
      attestation: 'none',
      excludeCredentials: [{ id: 'Y3JlZGVudGlhbC0x', type: 'public-key', transports: ['internal'] }],
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      extensions: { credProps: true },
    };
    const SIGN_IN = {
      challenge: 'c2lnbi1pbi1jaGFsbGVuZ2U',
      timeout: 60_000,
      rpId: 'localhost',
      allowCredentials: [],
      userVerification: 'required',
    };
    const json = (value: unknown) => JSON.stringify(value);
    /** What both ceremonies' options need, wrong in ways a broken identity (or a proxy) could answer. */
    const common = (options: object): [string, string][] => [
      ['not JSON', '{"challenge":'],
      ['null', 'null'],
      ['a string', '"options"'],
      ['an array', '[]'],
      ['no challenge', json({ ...options, challenge: undefined })],
      ['a challenge that is not base64url', json({ ...options, challenge: 'not base64url!' })],
      ['a numeric challenge', json({ ...options, challenge: 42 })],
      ['an empty challenge', json({ ...options, challenge: '' })],
      ['a timeout that is not a number', json({ ...options, timeout: '60s' })],
    ];
    const registrationCases: [string, string][] = [
      ...common(REGISTRATION),
      ['no user', json({ ...REGISTRATION, user: undefined })],
      ['a user id that is not base64url', json({ ...REGISTRATION, user: { ...REGISTRATION.user, id: 7 } })],
      ['no relying party name', json({ ...REGISTRATION, rp: { id: 'localhost' } })],
      ['no algorithms', json({ ...REGISTRATION, pubKeyCredParams: [] })],
      [
        'an excluded credential without an id',
        json({ ...REGISTRATION, excludeCredentials: [{ type: 'public-key' }] }),
      ],
    ];
    const signInCases: [string, string][] = [
      ...common(SIGN_IN),
      [
        'an allowed credential id that is not base64url',
        json({ ...SIGN_IN, allowCredentials: [{ id: 'a b', type: 'public-key' }] }),
      ],
      ['allowed credentials that are not a list', json({ ...SIGN_IN, allowCredentials: 'all' })],
    ];

    beforeEach(() => {
      backend.passkeyOptions.signIn = json(SIGN_IN);
      backend.passkeyOptions.registration = json(REGISTRATION);
    });

    it('hands well-formed options to the browser as identity made them', async () => {
      const jar = await session();
      const registration = await jar.post(`${gateway.url}/api/auth/passkeys/register/start`, {});
      expect(registration.status).toBe(200);
      expect(await registration.json()).toEqual({
        ceremony: expect.any(String) as unknown,
        options: REGISTRATION,
      });
      const signIn = await (
        await session(FRONT_DESK, { signIn: false })
      ).post(`${gateway.url}/api/auth/passkeys/sign-in/start`, {});
      expect(signIn.status).toBe(200);
      expect(await signIn.json()).toEqual({ options: SIGN_IN });
    });

    it.each(registrationCases)(
      'answers a registration 502 and nothing of it on %s',
      async (_what, answer) => {
        backend.passkeyOptions.registration = answer;
        const jar = await session();
        const res = await jar.post(`${gateway.url}/api/auth/passkeys/register/start`, {});
        expect(res.status).toBe(502);
        expect(await res.json()).toEqual({
          error: { code: 'BAD_GATEWAY', message: expect.any(String) as unknown },
        });
      },
    );

    it.each(signInCases)(
      'answers a sign-in 502, nothing of it and no ceremony cookie on %s',
      async (_what, answer) => {
        backend.passkeyOptions.signIn = answer;
        const jar = await session(FRONT_DESK, { signIn: false });
        const res = await jar.post(`${gateway.url}/api/auth/passkeys/sign-in/start`, {});
        expect(res.status).toBe(502);
        expect(await res.json()).toEqual({
          error: { code: 'BAD_GATEWAY', message: expect.any(String) as unknown },
        });
        expect(jar.last.map((c) => c.name)).not.toContain('haven_passkey');
      },
    );

    it('logs that identity answered malformed options, and none of the options', async () => {
      backend.passkeyOptions.signIn = json({ ...SIGN_IN, challenge: 'secret challenge text' });
      const before = gateway.logs.length;
      const jar = await session(FRONT_DESK, { signIn: false });
      expect((await jar.post(`${gateway.url}/api/auth/passkeys/sign-in/start`, {})).status).toBe(502);
      const logs = gateway.logs.slice(before).join('');
      expect(logs).toContain('identity.StartPasskeySignIn');
      expect(logs).not.toContain('secret challenge text');
    });
  });

  it('never logs passwords, tokens, usernames or bodies', async () => {
    const jar = await session();
    const token = jar.cookies.get('haven_access') ?? 'missing';
    await jar.post(`${gateway.url}/api/appointments`, { clinicianId: 'X', patientId: 'secret-patient-id' });
    const logs = gateway.logs.join('');
    expect(logs).toContain('http request'); // there are logs to look at
    for (const secret of [FRONT_DESK.password, token, FRONT_DESK.username, 'secret-patient-id']) {
      expect(logs).not.toContain(secret);
    }
  });
});
