/**
 * The identity service against a real nats-server (JetStream): CLI bootstrap through the app layer,
 * login over real gRPC, failures and lockout, JWKS over HTTP with @haven/service's verifier,
 * refresh rotation and reuse detection.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { identity } from '@haven/proto';
import { createJwtVerifier, createLogger, parseStatusDetails } from '@haven/service';
import { localClient, type NatsServerHandle, startNatsServer, statusOf } from '@haven/testing';
import { runCli, type CliIo } from './cli';
import { totpCodeAt } from './credential/totp';
import { loadIdentityConfig } from './config';
import { startIdentityService, type RunningIdentityService } from './index';
import { identityCalls, testIdentityEnv } from './testing/env';
import { TEST_PASSWORD as PASSWORD } from './testing/users';

jest.setTimeout(60_000);

let nats: NatsServerHandle;
let dataDir: string;
let env: Record<string, string>;
let service: RunningIdentityService;
let client: identity.IdentityServiceClient;
/** The admin's full-scope token (after TOTP enrollment) and recovery codes for later logins. */
let adminToken: string;
let recoveryCodes: string[];

function io(stdin = ''): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    readStdin: async () => stdin,
    env,
  };
}

const { call, signIn } = identityCalls(() => client);
const codeOf = statusOf;

async function eventTypes(userId: string): Promise<string[]> {
  return (await service.runtime.store.read(`identity.user-${userId}`)).map((e) => e.type);
}

beforeAll(async () => {
  nats = await startNatsServer();
  dataDir = await mkdtemp(join(tmpdir(), 'haven-identity-int-'));
  env = testIdentityEnv(nats.env('identity'), dataDir, { HAVEN_LOGIN_IP_BURST: '1000' });
  service = await startIdentityService(loadIdentityConfig(env), {
    logger: createLogger({ service: 'identity', level: 'silent' }),
    host: '127.0.0.1',
  });
  client = localClient(identity.IdentityServiceClient, service.grpcPort);
});

afterAll(async () => {
  client?.close();
  await service?.stop();
  await nats?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('identity service (real NATS, real gRPC)', () => {
  let adminId: string;

  it('bootstraps the first admin from the CLI, idempotently', async () => {
    const first = io(`${PASSWORD}\n`);
    expect(
      await runCli(
        ['admin', 'create', '--email', 'admin@demo.clinic', '--name', 'Alex Morgan', '--password-stdin'],
        first,
      ),
    ).toBe(0);
    expect(first.out.join('')).toMatch(/created admin admin@demo\.clinic \(users\/([0-9a-f-]+)\), active/);
    adminId = /users\/([0-9a-f-]+)/.exec(first.out.join(''))?.[1] as string;
    const again = io(`${PASSWORD}\n`);
    expect(
      await runCli(
        ['admin', 'create', '--email', 'admin@demo.clinic', '--password-stdin', '--if-not-exists'],
        again,
      ),
    ).toBe(0);
    expect(again.out.join('')).toMatch(/^exists: /);
    expect(await eventTypes(adminId)).toEqual([
      'haven.identity.v1.UserInvited',
      'haven.identity.v1.UserActivated',
      'haven.identity.v1.PasswordChanged',
    ]);
    const weak = io('password\n');
    expect(
      await runCli(
        ['user', 'invite', '--email', 'weak@demo.clinic', '--role', 'auditor', '--password-stdin'],
        weak,
      ),
    ).toBe(1);
    expect(weak.err.join('')).toMatch(/uppercase letter/);
  });

  it('logs in over gRPC; the access token verifies against the JWKS served over HTTP', async () => {
    // An un-enrolled admin gets a token limited to TOTP enrollment.
    const first = await signIn('admin@demo.clinic');
    expect(first.mfaEnrollmentRequired).toBe(true);
    const enrolled = await call('enrollTotp', {}, first.tokens?.accessToken);
    const confirmed = await call(
      'confirmTotp',
      { code: await totpCodeAt(enrolled.secret) },
      first.tokens?.accessToken,
    );
    recoveryCodes = confirmed.recoveryCodes;
    const res = await signIn('admin@demo.clinic', await totpCodeAt(enrolled.secret, Date.now() + 30_000));
    expect(res.mfaEnrollmentRequired).toBe(false);
    adminToken = res.tokens?.accessToken as string;
    expect(res.user?.role).toBe(identity.Role.ROLE_ADMIN);
    expect(res.tokens?.refreshToken).toMatch(/^[0-9a-f-]{36}\./);
    const jwks = JSON.parse(await (await fetch(service.jwksUrl)).text()) as { keys: { kid: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(JSON.stringify(jwks)).not.toContain('"d"');
    const verifier = createJwtVerifier({
      jwksUrl: service.jwksUrl,
      issuer: 'haven-identity',
      audience: 'haven',
    });
    const principal = await verifier.verify(res.tokens?.accessToken as string);
    expect(principal).toMatchObject({ kind: 'user', id: adminId, role: 'admin' });
    expect(principal.sessionId).toBeDefined();
    const viaRpc = await call('getJwks', {});
    expect(viaRpc.keys.map((k) => k.kid)).toEqual(jwks.keys.map((k) => k.kid));
  });

  it('creates, activates and lists users through the RPCs; admin-only RPCs refuse others', async () => {
    const created = await call(
      'createUser',
      {
        user: identity.User.fromPartial({
          username: 'frontdesk@demo.clinic',
          email: 'frontdesk@demo.clinic',
          displayName: 'Jordan Lee',
          role: identity.Role.ROLE_FRONT_DESK,
        }),
        userId: '',
      },
      adminToken,
    );
    expect(created.user?.state).toBe(identity.UserState.USER_STATE_INVITED);
    // A taken username or user id is a resource that exists already (AIP-193), as in scheduling.
    const again = (username: string, userId: string) =>
      codeOf(
        call(
          'createUser',
          {
            user: identity.User.fromPartial({
              username,
              email: 'again@demo.clinic',
              displayName: 'Again',
              role: identity.Role.ROLE_FRONT_DESK,
            }),
            userId,
          },
          adminToken,
        ),
      );
    expect(await again('FrontDesk@demo.clinic', '')).toBe(grpc.status.ALREADY_EXISTS);
    expect(await again('again@demo.clinic', (created.user?.name ?? '').replace('users/', ''))).toBe(
      grpc.status.ALREADY_EXISTS,
    );
    const weak = await call('activateUser', {
      name: '',
      invitationToken: created.invitationToken,
      password: 'short',
    }).catch((e: grpc.ServiceError) => e);
    expect((weak as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(weak as grpc.ServiceError).fieldViolations?.map((v) => v.field)).toContain(
      'password',
    );
    const activated = await call('activateUser', {
      name: '',
      invitationToken: created.invitationToken,
      password: 'Front-Desk-Pass-1',
    });
    expect(activated.user?.state).toBe(identity.UserState.USER_STATE_ACTIVE);
    const list = await call('listUsers', { pageSize: 10, pageToken: '', role: 0, state: 0 }, adminToken);
    expect(list.users.map((u) => u.username)).toEqual(['admin@demo.clinic', 'frontdesk@demo.clinic']);
    const fdToken = (
      await call('login', { username: 'frontdesk@demo.clinic', password: 'Front-Desk-Pass-1', totpCode: '' })
    ).tokens?.accessToken as string;
    // Front desk books for clinicians: it may list clinicians (id and display name only), nobody else.
    const forDesk = await call('listUsers', { pageSize: 10, pageToken: '', role: 0, state: 0 }, fdToken);
    expect(forDesk.users).toEqual([]); // no clinician exists here; the admin and front desk are not listed
    expect(
      await codeOf(
        call('listUsers', { pageSize: 10, pageToken: '', role: identity.Role.ROLE_ADMIN, state: 0 }, fdToken),
      ),
    ).toBe(grpc.status.PERMISSION_DENIED);
    expect(await codeOf(call('listUsers', { pageSize: 10, pageToken: '', role: 0, state: 0 }))).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    expect(
      await codeOf(call('listUsers', { pageSize: 10, pageToken: '', role: 0, state: 0 }, 'not.a.jwt')),
    ).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf(call('resetMfa', { name: `users/${adminId}` }, fdToken))).toBe(
      grpc.status.PERMISSION_DENIED,
    );
  });

  it('answers a wrong password with UNAUTHENTICATED and appends LoginFailed; locks after 5 failures', async () => {
    const created = await service.runtime.app.users.inviteUser(
      { actor: { kind: 'service', id: 'test' }, correlationId: 'c' },
      {
        username: 'dr.rivera@demo.clinic',
        email: 'dr.rivera@demo.clinic',
        displayName: 'Sam Rivera',
        role: 'clinician',
      },
    );
    await service.runtime.app.users.activateUser(
      { actor: { kind: 'anonymous', id: 'anonymous' }, correlationId: 'c' },
      { invitationToken: created.invitationToken, password: PASSWORD },
    );
    const userId = created.user.userId;
    const wrong = () =>
      call('login', { username: 'dr.rivera@demo.clinic', password: 'Wrong-Password-1', totpCode: '' });
    const unknown = await call('login', {
      username: 'nobody@demo.clinic',
      password: 'Wrong-Password-1',
      totpCode: '',
    }).catch((e: grpc.ServiceError) => e);
    const first = await wrong().catch((e: grpc.ServiceError) => e);
    expect((first as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((unknown as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((unknown as grpc.ServiceError).details).toBe((first as grpc.ServiceError).details);
    expect((await eventTypes(userId)).at(-1)).toBe('haven.identity.v1.LoginFailed');
    for (let i = 0; i < 4; i++) expect(await codeOf(wrong())).toBe(grpc.status.UNAUTHENTICATED);
    expect(await eventTypes(userId)).toContain('haven.identity.v1.AccountLocked');
    // Locked: even the right password is refused, and the attempt is recorded.
    expect(await codeOf(signIn('dr.rivera@demo.clinic'))).toBe(grpc.status.UNAUTHENTICATED);
    const last = (await service.runtime.store.read(`identity.user-${userId}`)).at(-1);
    expect(last?.data).toMatchObject({ reason: 'account_locked' });
  });

  it('rotates refresh tokens; reusing one two rotations old ends the session and its access token stops working here', async () => {
    const login = await signIn('admin@demo.clinic', recoveryCodes[0]);
    const r1 = login.tokens?.refreshToken as string;
    const refreshed = await call('refreshToken', { refreshToken: r1 });
    const r2 = refreshed.tokens?.refreshToken as string;
    expect(r2).not.toBe(r1);
    expect(
      await codeOf(
        call('listUsers', { pageSize: 1, pageToken: '', role: 0, state: 0 }, refreshed.tokens?.accessToken),
      ),
    ).toBe(grpc.status.OK);
    // r1 is two rotations old once r2 has rotated too: no reuse grace for it (session/refresh-grace.int.spec.ts).
    const r3 = (await call('refreshToken', { refreshToken: r2 })).tokens?.refreshToken as string;
    expect(await codeOf(call('refreshToken', { refreshToken: r1 }))).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf(call('refreshToken', { refreshToken: r3 }))).toBe(grpc.status.UNAUTHENTICATED);
    const sid = r1.split('.')[0] as string;
    const [ended, revoked] = (await service.runtime.store.read(`identity.session-${sid}`)).slice(-2);
    expect(ended).toMatchObject({
      type: 'haven.identity.v1.SessionEnded',
      data: { reason: 'reuse_detected' },
    });
    expect(revoked).toMatchObject({
      type: 'haven.identity.v1.SessionRevoked',
      data: { sid, sub: adminId, reason: 'reuse_detected' },
    });
    expect(
      await codeOf(
        call('listUsers', { pageSize: 1, pageToken: '', role: 0, state: 0 }, refreshed.tokens?.accessToken),
      ),
    ).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('logout ends the session', async () => {
    const login = await signIn('admin@demo.clinic', recoveryCodes[1]);
    await call('logout', { refreshToken: '' }, login.tokens?.accessToken);
    expect(await codeOf(call('refreshToken', { refreshToken: login.tokens?.refreshToken as string }))).toBe(
      grpc.status.UNAUTHENTICATED,
    );
  });

  it('fans user events out on the bus, but never credentials, sessions or break-glass reasons', async () => {
    const nc = await nats.connect('audit');
    try {
      const jsm = await nc.jetstreamManager();
      const subjects = new Set<string>();
      // Bounded: the relay runs in the background; wait (≤ 10 s) until the user events are there.
      for (let i = 0; i < 100; i++) {
        const info = await jsm.streams.info('HAVEN_BUS', { subjects_filter: 'haven.bus.identity.>' });
        for (const subject of Object.keys(info.state.subjects ?? {})) subjects.add(subject);
        if ([...subjects].some((s) => s.startsWith('haven.bus.identity.user.'))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect([...subjects].some((s) => s.startsWith('haven.bus.identity.user.'))).toBe(true);
      for (const hidden of ['credential', 'session', 'breakglass']) {
        expect([...subjects].filter((s) => s.startsWith(`haven.bus.identity.${hidden}.`))).toEqual([]);
      }
    } finally {
      await nc.close();
    }
  });

  it('keeps the signing key file private', async () => {
    const keyFile = JSON.parse(await readFile(join(dataDir, 'identity-signing-keys.json'), 'utf8')) as {
      keys: unknown[];
    };
    expect(keyFile.keys).toHaveLength(1);
  });
});
