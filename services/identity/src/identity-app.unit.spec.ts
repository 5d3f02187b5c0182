import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AlreadyExistsError,
  ResourceExhaustedError,
  UnauthenticatedError,
  ValidationError,
} from '@haven/errors';
import { InMemoryEventStore } from '@haven/eventstore';
import { createJwtVerifier } from '@haven/service';
import { loadCommonPasswords } from './credential/password/common-passwords';
import { createPasswordHasher, TEST_ARGON2_PARAMS } from './credential/password/hasher';
import { SigningKeyRing } from './tokens/keys';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from './tokens/tokens';
import { IdentityApp } from './identity-app';
import { DEFAULT_LOGIN_THROTTLE } from './shared/login-throttle';
import type { CommandContext } from './shared/streams';
import { ADMIN as admin } from './testing/deps';
import { inMemorySealer } from './testing/sealer';
import { activeTestUser, TEST_PASSWORD as PASSWORD } from './testing/users';
import type { SecretSealer } from './credential/secret-sealer';
import type { SealedPhi } from '@haven/crypto';

let dir: string;
let store: InMemoryEventStore;
let clock: number;
let app: IdentityApp;
let sealer: SecretSealer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haven-identity-app-'));
  store = new InMemoryEventStore();
  clock = Date.parse('2026-01-05T09:00:00Z');
  app = new IdentityApp({
    store,
    sealer: (sealer = inMemorySealer()),
    hasher: createPasswordHasher(TEST_ARGON2_PARAMS),
    keys: await SigningKeyRing.open({ dataDir: dir }),
    commonPasswords: loadCommonPasswords(),
    loginThrottle: { ...DEFAULT_LOGIN_THROTTLE, addressRate: { capacity: 8, refillPerSec: 0, maxKeys: 100 } },
    now: () => clock,
  });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function activeUser(username = 'dr.rivera@demo.clinic', role = 'clinician') {
  return activeTestUser(app.users, { username, role, displayName: 'Sam Rivera' }, admin, 'c2');
}
/** Invites a user; the e-mail is the username unless given. */
const invite = (user: {
  username: string;
  displayName: string;
  role: string;
  email?: string;
  userId?: string;
}) => app.users.inviteUser(admin, { email: user.username, ...user });
const types = async (stream: string) =>
  (await store.read(stream)).map((e) => e.type.replace('haven.identity.v1.', ''));
const login = (password = PASSWORD, clientIp = '10.0.0.1') =>
  app.sessions.login({ username: 'dr.rivera@demo.clinic', password, clientIp, correlationId: 'c3' });

describe('IdentityApp', () => {
  it('invites, activates and logs in; the token verifies; no secret is in the user stream', async () => {
    const userId = await activeUser();
    const result = await login();
    expect(result.user).toMatchObject({ userId, role: 'clinician', status: 'active' });
    expect(result.mfaEnrollmentRequired).toBe(true);
    expect(result.passwordChangeRequired).toBe(false);
    const verifier = createJwtVerifier({
      jwks: app.sessions.jwks(),
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      now: () => clock,
    });
    // Not enrolled yet: the token carries no role, only the enrollment scope.
    const principal = await verifier.verify(result.tokens.accessToken);
    expect(principal).toMatchObject({ id: userId, kind: 'user', scopes: ['identity.mfa.enroll'] });
    expect(principal.role).toBeUndefined();
    expect(await types(`identity.user-${userId}`)).toEqual([
      'UserInvited',
      'UserActivated',
      'PasswordChanged',
      'LoginSucceeded',
    ]);
    const userJson = JSON.stringify((await store.read(`identity.user-${userId}`)).map((e) => e.data));
    expect(userJson).not.toContain('argon2');
    expect(userJson).not.toContain(PASSWORD);
    // The hash is in the credential stream, sealed (never in the clear).
    const credentialJson = JSON.stringify(
      (await store.read(`identity.credential-${userId}`)).map((e) => e.data),
    );
    expect(credentialJson).not.toContain('argon2');
    expect(credentialJson).toContain('"sealed"');
  });

  it('refuses a weak first password with the list of what is missing, and appends nothing', async () => {
    const invited = await invite({ username: 'x@demo.clinic', displayName: 'X', role: 'auditor' });
    const attempt = app.users.activateUser(admin, {
      invitationToken: invited.invitationToken,
      password: 'password',
    });
    await expect(attempt).rejects.toThrow(ValidationError);
    await expect(attempt).rejects.toThrow(/12 characters.*uppercase.*digit.*symbol.*common/);
    expect(await types(`identity.user-${invited.user.userId}`)).toEqual(['UserInvited']);
    expect(await store.read(`identity.credential-${invited.user.userId}`)).toEqual([]);
  });

  it('refuses an unknown role without claiming the username', async () => {
    await expect(invite({ username: 'n@demo.clinic', displayName: 'N', role: 'nurse' })).rejects.toThrow(
      ValidationError,
    );
    expect(await app.users.findUserIdByUsername('n@demo.clinic')).toBeUndefined();
  });

  it('refuses a taken username', async () => {
    await activeUser();
    await expect(
      invite({ username: 'DR.RIVERA@demo.clinic', email: 'a@b.co', displayName: 'Y', role: 'clinician' }),
    ).rejects.toThrow(AlreadyExistsError);
  });

  it('answers unknown user and wrong password alike, recording LoginFailed only for the known account', async () => {
    const userId = await activeUser();
    const unknown = app.sessions.login({
      username: 'nobody@demo.clinic',
      password: PASSWORD,
      clientIp: '10.0.0.2',
      correlationId: 'c',
    });
    await expect(unknown).rejects.toThrow(new UnauthenticatedError('invalid username or password'));
    await expect(login('Wrong-Password-99')).rejects.toThrow(
      new UnauthenticatedError('invalid username or password'),
    );
    expect((await types(`identity.user-${userId}`)).at(-1)).toBe('LoginFailed');
  });

  it('locks after five failures, refuses the right password while locked, and unlocks after the back-off', async () => {
    const userId = await activeUser();
    for (let i = 0; i < 5; i++)
      await expect(login('Wrong-Password-99')).rejects.toThrow(UnauthenticatedError);
    expect(await types(`identity.user-${userId}`)).toContain('AccountLocked');
    await expect(login(PASSWORD, '10.0.0.3')).rejects.toThrow(UnauthenticatedError);
    expect((await app.users.getUser(userId)).status).toBe('locked');
    clock += 60_001;
    await expect(login(PASSWORD, '10.0.0.3')).resolves.toMatchObject({ user: { status: 'active' } });
  });

  it('throttles one IP across accounts', async () => {
    await activeUser();
    for (let i = 0; i < 8; i++) {
      await expect(
        app.sessions.login({
          username: `u${i}@x.io`,
          password: 'x',
          clientIp: '10.9.9.9',
          correlationId: 'c',
        }),
      ).rejects.toThrow(UnauthenticatedError);
    }
    await expect(login(PASSWORD, '10.9.9.9')).rejects.toThrow(ResourceExhaustedError);
    await expect(login(PASSWORD, '10.9.9.10')).resolves.toBeDefined();
  });

  it('rotates refresh tokens; reusing an old one after the 30 s grace ends the session', async () => {
    await activeUser();
    const first = await login();
    clock += 1000;
    const second = await app.sessions.refresh({
      refreshToken: first.tokens.refreshToken,
      correlationId: 'c',
    });
    expect(second.refreshToken).not.toBe(first.tokens.refreshToken);
    clock += 30_000;
    await expect(
      app.sessions.refresh({ refreshToken: first.tokens.refreshToken, correlationId: 'c' }),
    ).rejects.toThrow(/reuse_detected/);
    await expect(
      app.sessions.refresh({ refreshToken: second.refreshToken, correlationId: 'c' }),
    ).rejects.toThrow(/ended/);
  });

  it('takes the token rotated away back once within the grace, with a fresh token', async () => {
    await activeUser();
    const first = await login();
    const refresh = (refreshToken: string) => app.sessions.refresh({ refreshToken, correlationId: 'c' });
    clock += 1000;
    const lost = await refresh(first.tokens.refreshToken); // the answer never reaches the browser
    clock += 29_000;
    const again = await refresh(first.tokens.refreshToken);
    expect(new Set([first.tokens.refreshToken, lost.refreshToken, again.refreshToken]).size).toBe(3);
    const sid = first.sessionId;
    expect(await app.sessions.sessionActive(sid)).toBe(true);
    clock += 1000;
    await expect(refresh(first.tokens.refreshToken)).rejects.toThrow(/reuse_detected/);
    expect(await app.sessions.sessionActive(sid)).toBe(false);
  });

  it('ends an idle session on refresh', async () => {
    await activeUser();
    const first = await login();
    clock += 15 * 60_000;
    await expect(
      app.sessions.refresh({ refreshToken: first.tokens.refreshToken, correlationId: 'c' }),
    ).rejects.toThrow(/idle/);
  });

  it('deactivation and role change end the user sessions; deactivated users cannot log in', async () => {
    const userId = await activeUser();
    const a = await login();
    await app.users.changeUserRole(admin, userId, 'front_desk');
    await expect(
      app.sessions.refresh({ refreshToken: a.tokens.refreshToken, correlationId: 'c' }),
    ).rejects.toThrow(UnauthenticatedError);
    const b = await login();
    expect(b.user.role).toBe('front_desk');
    await app.users.deactivateUser(admin, userId, 'left the clinic');
    expect(await app.sessions.sessionActive(b.tokens.refreshToken.split('.')[0] as string)).toBe(false);
    await expect(login()).rejects.toThrow(UnauthenticatedError);
    expect((await types(`identity.user-${userId}`)).at(-1)).toBe('LoginFailed');
  });

  it('changes a password, refusing a wrong current one and reuse', async () => {
    const userId = await activeUser();
    await expect(
      app.credentials.changePassword(admin, userId, {
        currentPassword: 'nope',
        newPassword: 'Another-Secret-77',
      }),
    ).rejects.toThrow(UnauthenticatedError);
    await expect(
      app.credentials.changePassword(admin, userId, { currentPassword: PASSWORD, newPassword: PASSWORD }),
    ).rejects.toThrow(/recent passwords/);
    await app.credentials.changePassword(admin, userId, {
      currentPassword: PASSWORD,
      newPassword: 'Another-Secret-77',
    });
    await expect(login()).rejects.toThrow(UnauthenticatedError);
    await expect(login('Another-Secret-77')).resolves.toBeDefined();
  });

  it('lists users with filters and paging', async () => {
    await activeUser();
    await invite({ username: 'frontdesk@demo.clinic', displayName: 'F', role: 'front_desk' });
    expect((await app.users.listUsers({})).users.map((u) => u.username)).toEqual([
      'dr.rivera@demo.clinic',
      'frontdesk@demo.clinic',
    ]);
    expect((await app.users.listUsers({ role: 'front_desk' })).users).toHaveLength(1);
    const page = await app.users.listUsers({ pageSize: 1 });
    expect(page.nextPageToken).not.toBe('');
    expect(
      (await app.users.listUsers({ pageSize: 1, pageToken: page.nextPageToken })).users[0]?.username,
    ).toBe('frontdesk@demo.clinic');
    // The token pages this list only: with another filter, or a bare offset, it is refused.
    await expect(
      app.users.listUsers({ pageSize: 1, pageToken: page.nextPageToken, role: 'front_desk' }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(app.users.listUsers({ pageSize: 1, pageToken: '1' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    // 1–100 a page (0: 50); a negative size is refused like one over 100, not read as the default.
    expect((await app.users.listUsers({ pageSize: 100 })).users).toHaveLength(2);
    for (const pageSize of [-1, 101]) {
      await expect(app.users.listUsers({ pageSize })).rejects.toMatchObject({
        violations: [{ field: 'page_size', description: 'must be between 1 and 100, or 0 for 50' }],
      });
    }
  });

  it("lists users reading the directory once and each user's stream once, at once", async () => {
    for (let i = 0; i < 6; i++)
      await invite({ username: `user${i}@demo.clinic`, displayName: `User ${i}`, role: 'front_desk' });
    const reads: string[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    const read = store.read.bind(store);
    jest.spyOn(store, 'read').mockImplementation(async (...args) => {
      reads.push(args[0]);
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((r) => setImmediate(r));
      try {
        return await read(...args);
      } finally {
        inFlight -= 1;
      }
    });
    const { users } = await app.users.listUsers({});
    expect(users).toHaveLength(6);
    expect(reads).toHaveLength(1 + 6);
    expect(new Set(reads).size).toBe(1 + 6);
    expect(mostInFlight).toBeGreaterThan(1);
    // The etag is still the user's stream revision, as GetUser gives it.
    jest.restoreAllMocks();
    const one = users[3];
    expect(one?.etag).toBe((await app.users.getUser(one?.userId ?? '')).etag);
  });

  describe('a command that answers an error appends nothing', () => {
    const settled = async <T>(work: Array<Promise<T>>) => {
      const results = await Promise.allSettled(work);
      return {
        ok: results.filter((r) => r.status === 'fulfilled').length,
        failed: results.filter((r) => r.status === 'rejected').length,
      };
    };

    it('refuses a user id that is taken before it claims the username', async () => {
      const userId = await activeUser();
      await expect(
        invite({ username: 'other@demo.clinic', displayName: 'Other', role: 'auditor', userId }),
      ).rejects.toThrow(AlreadyExistsError);
      expect(await app.users.findUserIdByUsername('other@demo.clinic')).toBeUndefined();
    });

    it('concurrent TOTP enrollments: one secret per answered call, none for the refused ones', async () => {
      const userId = await activeUser();
      const { ok, failed } = await settled(
        Array.from({ length: 6 }, () => app.credentials.enrollTotp(admin, userId)),
      );
      const issued = (await types(`identity.credential-${userId}`)).filter((t) => t === 'TotpSecretIssued');
      expect(ok).toBeGreaterThan(0);
      expect(issued).toHaveLength(ok);
      expect(ok + failed).toBe(6);
    });

    it('an enrollment racing a deactivation stores a secret only when it answers OK', async () => {
      const tick = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) await Promise.resolve();
      };
      for (let delay = 0; delay < 40; delay += 2) {
        const userId = await activeUser(`racer-${delay}@demo.clinic`);
        const [enroll] = await Promise.allSettled([
          app.credentials.enrollTotp(admin, userId),
          tick(delay).then(() => app.users.deactivateUser(admin, userId)),
        ]);
        const issued = (await types(`identity.credential-${userId}`)).filter((t) => t === 'TotpSecretIssued');
        expect({ delay, issued: issued.length }).toEqual({
          delay,
          issued: enroll.status === 'fulfilled' ? 1 : 0,
        });
      }
    });

    it('concurrent password changes: every password answered OK is the one that works', async () => {
      const userId = await activeUser();
      const candidates = ['First-New-Secret-71', 'Second-New-Secret-72'];
      const results = await Promise.allSettled(
        candidates.map((newPassword) =>
          app.credentials.changePassword(admin, userId, { currentPassword: PASSWORD, newPassword }),
        ),
      );
      const answered = candidates.filter((_, i) => results[i]?.status === 'fulfilled');
      expect(answered.length).toBeGreaterThan(0);
      for (const password of answered) await expect(login(password)).resolves.toBeDefined();
    });

    it('a second activation with another password neither answers OK nor replaces the first password', async () => {
      const invited = await invite({
        username: 'new@demo.clinic',
        displayName: 'New Person',
        role: 'auditor',
      });
      const anonymous: CommandContext = { actor: { kind: 'anonymous', id: 'anonymous' }, correlationId: 'a' };
      const results = await Promise.allSettled(
        ['First-Chosen-Secret-1', 'Other-Chosen-Secret-2'].map((password) =>
          app.users.activateUser(anonymous, { invitationToken: invited.invitationToken, password }),
        ),
      );
      const won = results.findIndex((r) => r.status === 'fulfilled');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const winner = ['First-Chosen-Secret-1', 'Other-Chosen-Secret-2'][won] as string;
      const loser = ['First-Chosen-Secret-1', 'Other-Chosen-Secret-2'][1 - won] as string;
      const loginAs = (password: string) =>
        app.sessions.login({
          username: 'new@demo.clinic',
          password,
          clientIp: '10.0.0.8',
          correlationId: 'c',
        });
      await expect(loginAs(loser)).rejects.toThrow(UnauthenticatedError);
      await expect(loginAs(winner)).resolves.toBeDefined();
    });
  });

  describe('TOTP secrets are crypto-shredded', () => {
    const sealedSecrets = async (userId: string) =>
      (await store.read(`identity.credential-${userId}`))
        .filter((e) => e.type === 'haven.identity.v1.TotpSecretIssued')
        .map((e) => e.data['sealed'] as SealedPhi);

    it('when a new enrollment replaces a pending one, and when an admin resets MFA', async () => {
      const userId = await activeUser();
      const first = await app.credentials.enrollTotp(admin, userId);
      const second = await app.credentials.enrollTotp(admin, userId);
      const [sealedFirst, sealedSecond] = await sealedSecrets(userId);
      expect(await sealer.open(sealedFirst!)).toBeUndefined();
      expect(await sealer.open(sealedSecond!)).toEqual({ secret: second.secret });
      expect(second.secret).not.toBe(first.secret);
      await app.credentials.resetMfa(admin, userId);
      expect(await sealer.open(sealedSecond!)).toBeUndefined();
    });
  });
});
