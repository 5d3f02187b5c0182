/**
 * The least-privilege matrix over the real services: every RPC of every service in proto/ (read from the proto
 * descriptors, not from a list) × every kind of caller, against identity, scheduling, session, recording and
 * audit running as built child processes on a real nats-server and Janus. Each call carries an empty request:
 * a caller the @haven/auth table allows must get past authorization (INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED,
 * FAILED_PRECONDITION… are all fine), a caller it refuses must get PERMISSION_DENIED with reason POLICY_DENIED,
 * and a caller without a token UNAUTHENTICATED (except on the table's public methods).
 *
 * Tokens: staff users are created with identity's CLI and log in through identity's Login RPC (identity checks
 * their sessions); the other services verify them through identity's real JWKS endpoint. Service-account tokens
 * are signed with identity's own key ring (identity does not issue them yet); patient and link-guest tokens for
 * the other services come from a test issuer `haven-scheduling` (HAVEN_PATIENT_JWKS_URL), for identity from its
 * key ring.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { decodeJwt, SignJWT } from 'jose';
import { authorize, POLICY, SCOPES, type AuthorizationSubject } from '@haven/auth';
import { havenServiceOf, identity, PROTO_FILES, PROTO_ROOT, SERVICE_NAMES } from '@haven/proto';
import { callUnary, clientCallMetadata, parseStatusDetails } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { SigningKeyRing } from '../../services/identity/src/tokens/keys';
import {
  type JwksServer,
  type LaunchedStack,
  launchStack,
  runIdentityCli,
  serveJwks,
  TEST_IDENTITY_ENV,
  totpCode,
} from '@haven/testing';

jest.setTimeout(180_000);

// A refusal needs one event append: seconds only on a loaded machine. A streaming RPC the caller may use can run
// until its deadline, so those stay short.
const UNARY_DEADLINE_MS = 10_000;
const STREAM_DEADLINE_MS = 3000;
const BATCH = 24;
const PASSWORD = 'Matrix-Grid-Lantern-4821!';

const CALLERS = [
  'admin',
  'clinician',
  'front_desk',
  'auditor',
  'patient',
  'guest',
  'service_account_all_scopes',
  'service_account_no_scopes',
  'no_token',
] as const;
type Caller = (typeof CALLERS)[number];
const STAFF = ['admin', 'clinician', 'front_desk', 'auditor'] as const;

interface Rpc {
  readonly service: string;
  readonly path: string;
  readonly serverStreaming: boolean;
}

/** Every RPC of every service in proto/, from the descriptors. */
function protoRpcs(): Rpc[] {
  const definition = protoLoader.loadSync([...PROTO_FILES], { includeDirs: [PROTO_ROOT], keepCase: true });
  const rpcs: Rpc[] = [];
  for (const [service, value] of Object.entries(definition)) {
    if ('format' in value) continue;
    for (const method of Object.values(value)) {
      if (method.requestStream)
        throw new Error(`${method.path}: client streaming is not covered by this test`);
      rpcs.push({ service, path: method.path, serverStreaming: method.responseStream });
    }
  }
  return rpcs.sort((a, b) => a.path.localeCompare(b.path));
}

const RPCS = protoRpcs();

function subjectOf(caller: Caller): AuthorizationSubject | undefined {
  switch (caller) {
    case 'patient':
      return { kind: 'patient', scopes: [] };
    case 'guest':
      return { kind: 'guest', scopes: [] };
    case 'service_account_all_scopes':
      return { kind: 'service_account', scopes: SCOPES };
    case 'service_account_no_scopes':
      return { kind: 'service_account', scopes: [] };
    case 'no_token':
      return undefined;
    default:
      return { kind: 'user', role: caller, scopes: [] };
  }
}

interface Outcome {
  readonly code: grpc.status;
  readonly details: string;
  readonly reason: string | undefined;
}

const raw = (b: Buffer): Buffer => b;

/** One call with an empty request (zero bytes: every proto3 message's empty encoding). */
function callRaw(client: grpc.Client, rpc: Rpc, metadata: grpc.Metadata): Promise<Outcome> {
  const deadline = Date.now() + (rpc.serverStreaming ? STREAM_DEADLINE_MS : UNARY_DEADLINE_MS);
  const toOutcome = (e: grpc.ServiceError | grpc.StatusObject | null): Outcome =>
    e === null
      ? { code: grpc.status.OK, details: '', reason: undefined }
      : {
          code: e.code,
          details: e.details,
          reason: e.code === grpc.status.OK ? undefined : parseStatusDetails(e).reason,
        };
  if (!rpc.serverStreaming) {
    return new Promise((resolve) => {
      client.makeUnaryRequest(rpc.path, raw, raw, Buffer.alloc(0), metadata, { deadline }, (e) =>
        resolve(toOutcome(e)),
      );
    });
  }
  return new Promise((resolve) => {
    const stream = client.makeServerStreamRequest(rpc.path, raw, raw, Buffer.alloc(0), metadata, {
      deadline,
    });
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('status', (s: grpc.StatusObject) => resolve(toOutcome(s)));
  });
}

/** Messages the harness uses when it demands a token (a public method must never answer with these). */
const HARNESS_TOKEN_MESSAGES = new Set(['missing bearer token', 'invalid token']);
/** Non-public methods whose request carries a credential of its own: an empty one may be UNAUTHENTICATED. */
const BODY_CREDENTIAL_METHODS = new Set([
  '/haven.identity.v1.IdentityService/ChangePassword',
  '/haven.identity.v1.IdentityService/ConfirmTotp',
]);

let stack: LaunchedStack;
let jwksServer: JwksServer;
let dir: string;
const clients = new Map<string, grpc.Client>();
const tokens = new Map<string, string>(); // `${caller}` (other services) or `identity:${caller}`
const results: Array<{ rpc: Rpc; caller: Caller; expected: 'allowed' | 'denied'; outcome: Outcome }> = [];

async function runCli(args: string[], env: Record<string, string>, stdin: string): Promise<string> {
  const { code, output } = await runIdentityCli(args, { env, stdin });
  if (code !== 0) throw new Error(`haven ${args.join(' ')} exited ${code}:\n${output}`);
  return output;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'haven-authz-'));
  // Patient tokens of the "scheduling" issuer, served like the scheduling service's JWKS.
  const patientIssuer = createTestIssuer({ issuer: 'haven-scheduling' });
  jwksServer = await serveJwks(patientIssuer.jwks);
  const patientJwksUrl = `${jwksServer.origin}/jwks.json`;

  // Identity: its key ring is created here first so the test can sign tokens identity itself trusts.
  const ring = await SigningKeyRing.open({ dataDir: join(dir, 'data', 'identity') });
  stack = await launchStack({
    services: ['identity', 'scheduling', 'session', 'recording', 'audit'],
    dir,
    patientJwksUrl,
    janus: { eventHandler: false },
    env: {
      identity: TEST_IDENTITY_ENV,
      // The table lets patients list their recordings; the clinic setting that allows it is on here, so a
      // refusal of that cell would be the policy's, not the clinic's.
      recording: { HAVEN_RECORDING_PATIENT_ACCESS: 'true' },
    },
  });
  const identityEnv = stack.service('identity').env;

  // Staff users through identity's real flow: the CLI creates them, Login opens a live session.
  const identityClient = stack.client(identity.IdentityServiceClient, 'identity');
  try {
    for (const role of STAFF) {
      await runCli(
        ['user', 'invite', '--email', `${role}@matrix.test`, '--role', role, '--password-stdin'],
        identityEnv,
        PASSWORD,
      );
    }
    const login = async (role: string, totpCode?: string): Promise<string> => {
      const response = await callUnary(
        identityClient,
        'login',
        identity.LoginRequest.fromPartial({
          username: `${role}@matrix.test`,
          password: PASSWORD,
          ...(totpCode ? { totpCode } : {}),
        }),
        new grpc.Metadata(),
      );
      const access = response.tokens?.accessToken;
      if (!access) throw new Error(`no access token for ${role}`);
      return access;
    };
    for (const role of STAFF) {
      let access = await login(role);
      if (decodeJwt(access)['role'] === undefined) {
        // Roles that need MFA get a role-less token until TOTP is enrolled: enroll, confirm, sign in again.
        const md = clientCallMetadata({ token: access });
        const { secret } = await callUnary(
          identityClient,
          'enrollTotp',
          identity.EnrollTotpRequest.fromPartial({}),
          md,
        );
        await callUnary(
          identityClient,
          'confirmTotp',
          identity.ConfirmTotpRequest.fromPartial({ code: totpCode(secret, Date.now() - 30_000) }),
          md,
        );
        access = await login(role, totpCode(secret, Date.now()));
      }
      expect(decodeJwt(access)['role']).toBe(role);
      tokens.set(role, access);
      tokens.set(`identity:${role}`, access);
    }
  } finally {
    identityClient.close();
  }
  const key = ring.currentKey();
  const signWithIdentityKey = (sub: string, claims: Record<string, string>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
      .setSubject(sub)
      .setIssuer('haven-identity')
      .setAudience('haven')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key.privateKey);
  const saAll = await signWithIdentityKey('sa-matrix-all', {
    kind: 'service_account',
    scope: SCOPES.join(' '),
  });
  const saNone = await signWithIdentityKey('sa-matrix-none', { kind: 'service_account', scope: '' });
  for (const prefix of ['', 'identity:']) {
    tokens.set(`${prefix}service_account_all_scopes`, saAll);
    tokens.set(`${prefix}service_account_no_scopes`, saNone);
  }
  // A patient's and a link guest's token (the same issuer, each its own kind), and each signed with identity's key.
  for (const [kind, sub, visit] of [
    ['patient', 'pp-matrix', 'appointments/apt-matrix'],
    ['guest', 'gmatrix', 'visits/apt-matrix'],
  ] as const) {
    tokens.set(kind, await patientIssuer.sign({ sub, kind, visit }));
    tokens.set(`identity:${kind}`, await signWithIdentityKey(sub, { kind, visit }));
  }

  for (const name of ['identity', 'scheduling', 'session', 'recording', 'audit'] as const) {
    const client = stack.client(grpc.Client, name);
    for (const service of new Set(RPCS.map((r) => r.service))) {
      if (havenServiceOf(service) === name) clients.set(service, client);
    }
  }

  // The matrix: Logout last (it ends the caller's identity session, which the other identity calls need).
  const cells = RPCS.flatMap((rpc) => CALLERS.map((caller) => ({ rpc, caller })));
  const isLogout = (c: { rpc: Rpc }) => c.rpc.path.endsWith('/Logout');
  for (const group of [cells.filter((c) => !isLogout(c)), cells.filter(isLogout)]) {
    for (let i = 0; i < group.length; i += BATCH) {
      const batch = group.slice(i, i + BATCH);
      results.push(
        ...(await Promise.all(
          batch.map(async ({ rpc, caller }) => {
            const client = clients.get(rpc.service);
            if (!client) throw new Error(`no service process serves ${rpc.service}`);
            const token = tokens.get(
              havenServiceOf(rpc.service) === 'identity' ? `identity:${caller}` : caller,
            );
            const metadata =
              caller === 'no_token' ? new grpc.Metadata() : clientCallMetadata({ token: token! });
            const expected = authorize(rpc.path, subjectOf(caller)).allowed
              ? ('allowed' as const)
              : ('denied' as const);
            return { rpc, caller, expected, outcome: await callRaw(client, rpc, metadata) };
          }),
        )),
      );
    }
  }
});

afterAll(async () => {
  for (const client of clients.values()) client.close();
  await stack?.stop();
  await jwksServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const codeName = (code: grpc.status): string => grpc.status[code] ?? String(code);
const describeCell = (r: (typeof results)[number]) =>
  `${r.rpc.path} as ${r.caller}: expected ${r.expected}, got ${codeName(r.outcome.code)}` +
  `${r.outcome.reason ? ` (${r.outcome.reason})` : ''} "${r.outcome.details}"`;

describe('the access-policy matrix over the running services', () => {
  it('covers every RPC of every service in proto/, and the table has an entry for each', () => {
    const services = new Set(RPCS.map((r) => r.service));
    // Every Haven service serves its main proto service, and every proto service runs in a Haven service.
    for (const name of Object.values(SERVICE_NAMES)) expect(services).toContain(name);
    expect([...services].filter((s) => havenServiceOf(s) === undefined)).toEqual([]);
    const missing = RPCS.filter((r) => !Object.prototype.hasOwnProperty.call(POLICY, r.path)).map(
      (r) => r.path,
    );
    expect(missing).toEqual([]);
    expect(results).toHaveLength(RPCS.length * CALLERS.length);
  });

  it('lets every caller the table allows past authorization', () => {
    const wrong = results
      .filter((r) => r.expected === 'allowed')
      .filter((r) => {
        const { code, details, reason } = r.outcome;
        const isPublic = POLICY[r.rpc.path]?.public === true;
        if (reason === 'POLICY_DENIED') return true;
        // A handler's own role check that refuses what the table allows is a disagreement with the table (public
        // methods excepted: e.g. ActivateUser's reactivation path checks for an admin token itself).
        if (code === grpc.status.PERMISSION_DENIED) return !isPublic;
        if (code !== grpc.status.UNAUTHENTICATED) return false;
        // Methods that authenticate by their request body (a password, a refresh, link or TOTP code) may answer
        // an empty request UNAUTHENTICATED — but never because the harness asked for a bearer token.
        if (HARNESS_TOKEN_MESSAGES.has(details)) return true;
        return !isPublic && !BODY_CREDENTIAL_METHODS.has(r.rpc.path);
      });
    expect(wrong.map(describeCell)).toEqual([]);
  });

  it('refuses every caller the table does not allow: PERMISSION_DENIED POLICY_DENIED, or UNAUTHENTICATED without a token', () => {
    const wrong = results
      .filter((r) => r.expected === 'denied')
      .filter((r) =>
        r.caller === 'no_token'
          ? r.outcome.code !== grpc.status.UNAUTHENTICATED
          : r.outcome.code !== grpc.status.PERMISSION_DENIED || r.outcome.reason !== 'POLICY_DENIED',
      );
    expect(wrong.map(describeCell)).toEqual([]);
  });

  it('has both outcomes for every caller with a token (the matrix is not vacuous)', () => {
    for (const caller of CALLERS.filter((c) => c !== 'no_token' && c !== 'service_account_no_scopes')) {
      const mine = results.filter((r) => r.caller === caller);
      expect([caller, mine.some((r) => r.expected === 'allowed')]).toEqual([caller, true]);
      expect([caller, mine.some((r) => r.expected === 'denied')]).toEqual([caller, true]);
    }
    // Print the matrix (one line per RPC) so a reader of the CI log sees what was called and answered.
    const lines = RPCS.map(
      (rpc) =>
        `${rpc.path.padEnd(62)} ${CALLERS.map((caller) => {
          const r = results.find((x) => x.rpc === rpc && x.caller === caller);
          return `${caller}=${r ? codeName(r.outcome.code) : '?'}`;
        }).join(' ')}`,
    );
    if (process.env.HAVEN_PRINT_AUTHZ_MATRIX) process.stdout.write(`${lines.join('\n')}\n`);
    expect(lines).toHaveLength(RPCS.length);
  });
});
