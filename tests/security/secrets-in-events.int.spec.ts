/**
 * No secret in the permanent record: a full run over the real services (identity, scheduling, session, audit as
 * built child processes on a real nats-server and Janus) exercises every identity flow that handles a secret —
 * invitation and activation, password login and change, refresh, TOTP enrollment (twice) and confirmation,
 * sign-in with a TOTP code and with a recovery code, MFA reset, service-account creation, secret rotation and token
 * issue, break-glass, logout — plus a patient link redeemed with its passcode. Then every message of every NATS
 * stream (the event store, the bus, revocations, checkpoints…), every file the audit service wrote and every line
 * every process logged is scanned for:
 *  - each secret the run saw, verbatim (passwords, TOTP secrets, recovery codes, client secrets, access, refresh,
 *    invitation, break-glass and patient tokens, link tokens and passcodes), and the SHA-256 digests of the
 *    low-entropy ones and of the recovery codes (a digest of a guessable value is the value);
 *  - secret-shaped values: JWTs, argon2 hashes, PEM keys, otpauth URIs, 32-character base32 TOTP secrets,
 *    refresh-token-shaped strings.
 * Before: `TotpSecretIssued` carried the TOTP secret in plaintext, `RecoveryCodesIssued` the digests of the
 * recovery codes, `PasswordHashSet` / `ClientSecretHashSet` argon2 hashes.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { identity, scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { createPatient, issueLink, redeemLink, totpCode } from '@haven/testing';
import { SERVICE_STACK_PASSWORD, startServiceStack, type ServiceStack } from '../support/service-stack';

jest.setTimeout(240_000);

let stack: ServiceStack;
/** Every secret the run saw: name → value. */
const secrets = new Map<string, string>();
/** Low-entropy secrets whose plain SHA-256 would give them away. */
const guessable = new Set<string>();
const remember = (name: string, value: string | undefined, options: { guessable?: boolean } = {}): string => {
  if (!value) throw new Error(`the run produced no ${name}`);
  secrets.set(`${name}#${secrets.size}`, value);
  if (options.guessable) guessable.add(value);
  return value;
};

const sha256 = (v: string) => createHash('sha256').update(v, 'utf8').digest();

beforeAll(async () => {
  stack = await startServiceStack({ services: ['scheduling', 'session', 'audit'] });
  for (const caller of ['admin', 'clinician', 'front_desk', 'auditor', 'patient'] as const)
    remember(`${caller} token`, stack.token(caller));
  remember('staff password', SERVICE_STACK_PASSWORD, { guessable: true });
  const id = stack.connect(identity.IdentityServiceClient);
  const sched = stack.connect(scheduling.SchedulingServiceClient);
  try {
    const as = (token?: string) => clientCallMetadata(token === undefined ? {} : { token });
    const admin = as(stack.token('admin'));
    // Invitation and activation.
    const created = await callUnary(
      id,
      'createUser',
      identity.CreateUserRequest.fromPartial({
        user: {
          username: 'nurse@secrets.test',
          email: 'nurse@secrets.test',
          displayName: 'Nurse Secrets',
          role: identity.Role.ROLE_CLINICIAN,
        },
      }),
      admin,
    );
    remember('invitation token', created.invitationToken);
    const firstPassword = remember('first password', 'Quiet-Harbor-Orchid-5521!', { guessable: true });
    await callUnary(
      id,
      'activateUser',
      identity.ActivateUserRequest.fromPartial({
        invitationToken: created.invitationToken,
        password: firstPassword,
      }),
    );
    const userName = created.user!.name;
    // Wrong passwords are secrets too (often a typo of the right one).
    const wrong = remember('wrong password', 'Quiet-Harbor-Orchid-5512!', { guessable: true });
    await callUnary(
      id,
      'login',
      identity.LoginRequest.fromPartial({ username: 'nurse@secrets.test', password: wrong }),
    ).catch(() => undefined);
    const login = async (password: string, totpCode = '') => {
      const r = await callUnary(
        id,
        'login',
        identity.LoginRequest.fromPartial({ username: 'nurse@secrets.test', password, totpCode }),
      );
      remember('access token', r.tokens?.accessToken);
      remember('refresh token', r.tokens?.refreshToken);
      return r.tokens!;
    };
    let tokens = await login(firstPassword);
    const refreshed = await callUnary(
      id,
      'refreshToken',
      identity.RefreshTokenRequest.fromPartial({ refreshToken: tokens.refreshToken }),
    );
    remember('refreshed access token', refreshed.tokens?.accessToken);
    remember('refreshed refresh token', refreshed.tokens?.refreshToken);
    tokens = refreshed.tokens!;
    // TOTP: one enrollment replaced by another, confirmed; recovery codes.
    const first = await callUnary(id, 'enrollTotp', {}, as(tokens.accessToken));
    remember('TOTP secret', first.secret);
    remember('otpauth URI', first.otpauthUri);
    const second = await callUnary(id, 'enrollTotp', {}, as(tokens.accessToken));
    remember('TOTP secret', second.secret);
    const confirmed = await callUnary(
      id,
      'confirmTotp',
      identity.ConfirmTotpRequest.fromPartial({ code: totpCode(second.secret, Date.now()) }),
      as(tokens.accessToken),
    );
    expect(confirmed.recoveryCodes).toHaveLength(10);
    for (const code of confirmed.recoveryCodes) {
      remember('recovery code', code, { guessable: true });
      guessable.add(code.replace(/[\s-]/g, '').toUpperCase());
    }
    tokens = await login(firstPassword, totpCode(second.secret, Date.now() + 30_000));
    tokens = await login(firstPassword, confirmed.recoveryCodes[3]);
    const newPassword = remember('new password', 'Amber-Meadow-Falcon-8830!', { guessable: true });
    await callUnary(
      id,
      'changePassword',
      identity.ChangePasswordRequest.fromPartial({ currentPassword: firstPassword, newPassword }),
      as(tokens.accessToken),
    );
    // Service accounts: create, rotate, issue.
    const account = await callUnary(
      id,
      'createServiceAccount',
      identity.CreateServiceAccountRequest.fromPartial({
        serviceAccount: { displayName: 'EHR bridge', scopes: ['scheduling.appointments.read'] },
        serviceAccountId: 'ehr-secrets-test',
      }),
      admin,
    );
    remember('client secret', account.clientSecret);
    const rotated = await callUnary(
      id,
      'rotateServiceAccountSecret',
      identity.RotateServiceAccountSecretRequest.fromPartial({ name: 'serviceAccounts/ehr-secrets-test' }),
      admin,
    );
    remember('rotated client secret', rotated.clientSecret);
    const saToken = await callUnary(
      id,
      'issueServiceAccountToken',
      identity.IssueServiceAccountTokenRequest.fromPartial({
        clientId: rotated.serviceAccount!.clientId,
        clientSecret: rotated.clientSecret,
      }),
    );
    remember('service-account token', saToken.accessToken);
    // A patient, a link redeemed with its passcode, break-glass on the patient.
    const desk = { client: sched, metadata: () => as(stack.token('front_desk')) };
    const patient = await createPatient(desk, {
      givenName: 'Ada',
      familyName: 'Secrets',
      dateOfBirth: '1970-05-06',
    });
    const appointments = await callUnary(
      sched,
      'listAppointments',
      scheduling.ListAppointmentsRequest.fromPartial({}),
      desk.metadata(),
    );
    const appointment = appointments.appointments[0]!.name;
    const link = await issueLink(desk, appointment);
    remember('link token', link.token);
    remember('link passcode', link.passcode, { guessable: true });
    const redeemed = await redeemLink(sched, link);
    remember('patient token', redeemed.accessToken);
    const glass = await callUnary(
      id,
      'requestBreakGlass',
      identity.RequestBreakGlassRequest.fromPartial({
        patient,
        reason: 'Unconscious patient in the emergency department, history needed now',
      }),
      as(stack.token('clinician')),
    );
    remember('break-glass token', glass.accessToken);
    // MFA reset and logout.
    await callUnary(id, 'resetMfa', identity.ResetMfaRequest.fromPartial({ name: userName }), admin);
    await callUnary(id, 'logout', identity.LogoutRequest.fromPartial({}), as(stack.token('auditor')));
  } finally {
    id.close();
    sched.close();
  }
});
afterAll(async () => {
  await stack?.stop();
});

/** Every message of every NATS stream, as text. */
async function everyStreamMessage(): Promise<Array<{ where: string; text: string }>> {
  const nc = await stack.nats.connect();
  const out: Array<{ where: string; text: string }> = [];
  try {
    const jsm = await nc.jetstreamManager();
    for await (const info of jsm.streams.list()) {
      const last = Math.min(info.state.last_seq, 50_000);
      for (let seq = info.state.first_seq; seq <= last; seq++) {
        const m = await jsm.streams.getMessage(info.config.name, { seq }).catch(() => undefined);
        if (m)
          out.push({
            where: `${info.config.name}#${seq} ${m.subject}`,
            text: Buffer.from(m.data).toString('utf8'),
          });
      }
    }
  } finally {
    await nc.close();
  }
  return out;
}

function filesUnder(dir: string): Array<{ where: string; text: string }> {
  const out: Array<{ where: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ where: path, text: readFileSync(path).toString('utf8') });
  }
  return out;
}

const SHAPES: ReadonlyArray<[string, RegExp]> = [
  ['JWT', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['argon2 hash', /\$argon2(id|i|d)\$/],
  ['PEM key', /-----BEGIN [A-Z ]*KEY-----/],
  ['otpauth URI', /otpauth:\/\//],
  ['base32 TOTP secret', /"[A-Z2-7]{32}"/],
  ['refresh token', /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{43}/],
];

describe('no secret in events, stored files or logs after a full run', () => {
  let events: Array<{ where: string; text: string }> = [];
  beforeAll(async () => {
    events = await everyStreamMessage();
  });

  it('covers every identity event type that handles a secret', () => {
    const types = new Map<string, number>();
    for (const e of events) {
      const type = /"type":"(haven\.[a-z]+\.v1\.[A-Za-z]+)"/.exec(e.text)?.[1];
      if (type) types.set(type, (types.get(type) ?? 0) + 1);
    }
    console.log(
      `scanned ${events.length} stream messages; event types: ${[...types].map(([t, n]) => `${t} ×${n}`).join(', ')}`,
    );
    for (const t of [
      'PasswordHashSet',
      'TotpSecretIssued',
      'TotpSecretConfirmed',
      'RecoveryCodesIssued',
      'RecoveryCodeConsumed',
      'TotpCodeAccepted',
      'TotpSecretRevoked',
      'ClientSecretHashSet',
      'ServiceAccountTokenIssued',
      'SessionStarted',
      'TokenRefreshed',
      'BreakGlassGranted',
      'LoginFailed',
    ])
      expect([t, types.has(`haven.identity.v1.${t}`)]).toEqual([t, true]);
  });

  const findings = (sources: Array<{ where: string; text: string }>): string[] => {
    const out: string[] = [];
    const needles = [...secrets].map(([name, value]) => ({ name, value }));
    for (const value of guessable) {
      const digest = sha256(value);
      needles.push({ name: `sha256 of a guessable secret`, value: digest.toString('hex') });
      needles.push({ name: `sha256 of a guessable secret`, value: digest.toString('base64url') });
    }
    for (const { where, text } of sources) {
      for (const { name, value } of needles) if (text.includes(value)) out.push(`${where}: ${name}`);
      for (const [name, shape] of SHAPES) if (shape.test(text)) out.push(`${where}: ${name}`);
    }
    return out;
  };

  it('no NATS stream message holds a secret or a secret-shaped value', () => {
    expect(events.length).toBeGreaterThan(50);
    expect(findings(events)).toEqual([]);
  });

  it('no file the audit service wrote holds one (its own signing key aside, which is a 0600 key file)', () => {
    const files = filesUnder(join(stack.dir, 'data', 'audit'));
    const keys = files.filter((f) => f.where.endsWith('.pem'));
    for (const k of keys) expect(statSync(k.where).mode & 0o077).toBe(0);
    expect(files.length).toBeGreaterThan(keys.length);
    expect(findings(files.filter((f) => !f.where.endsWith('.pem')))).toEqual([]);
  });

  it('no process logged one', () => {
    const logs = [...stack.processes.values()].map((p) => ({ where: `${p.name} log`, text: p.output() }));
    expect(findings(logs)).toEqual([]);
  });
});
