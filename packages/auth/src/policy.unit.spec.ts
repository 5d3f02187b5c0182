import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_FILES, PROTO_ROOT } from '@haven/proto';
import {
  authorize,
  POLICY,
  policyMarkdown,
  policyMethods,
  policyOf,
  publicMethods,
  ROLES,
  SCOPES,
  type AuthorizationSubject,
} from './index';

/** Every RPC path of every service in proto/, from the descriptors (not from the generated TypeScript). */
function protoRpcPaths(): string[] {
  const definition = protoLoader.loadSync([...PROTO_FILES], { includeDirs: [PROTO_ROOT], keepCase: true });
  const paths: string[] = [];
  for (const value of Object.values(definition)) {
    if ('format' in value) continue; // a message or enum
    for (const method of Object.values(value)) paths.push(method.path);
  }
  return paths.sort();
}

const user = (role: string): AuthorizationSubject => ({ kind: 'user', role, scopes: [] });
const patient: AuthorizationSubject = { kind: 'patient', scopes: [] };
/** The visit itself (sorted): all a link guest may call, and part of what a patient may. */
const VISIT_ITSELF = [
  'session.v1.SessionService/AcknowledgeRecordingNotice',
  'session.v1.SessionService/GetLobbyNotice',
  'session.v1.SessionService/GetVisit',
  'session.v1.SessionService/JoinLobby',
  'session.v1.SessionService/JoinMedia',
  'session.v1.SessionService/LeaveVisit',
  'session.v1.SessionService/RecordConsent',
];
/** The visit's chat: a patient's, never a link guest's. */
const VISIT_CHAT = [
  'session.v1.SessionService/ListChatMessages',
  'session.v1.SessionService/ReadChatFile',
  'session.v1.SessionService/SendChatMessage',
  'session.v1.SessionService/ShareChatFile',
];
const serviceAccount = (...scopes: string[]): AuthorizationSubject => ({ kind: 'service_account', scopes });
const allowedFor = (subject: AuthorizationSubject): string[] =>
  policyMethods().filter((m) => POLICY[m]?.public !== true && authorize(m, subject).allowed);

const BOOK = '/haven.scheduling.v1.SchedulingService/BookAppointment';

describe('the policy table', () => {
  it('has exactly one entry for every RPC in proto/ and none for anything else', () => {
    const rpcs = protoRpcPaths();
    expect(rpcs.length).toBeGreaterThanOrEqual(60);
    expect(new Set(rpcs).size).toBe(rpcs.length);
    expect(policyMethods()).toEqual(rpcs);
  });

  it('lists service_account exactly where it lists scopes, and only known scopes', () => {
    for (const [method, policy] of Object.entries(POLICY)) {
      if (policy.public === true) continue;
      const hasScopes = (policy.scopes ?? []).length > 0;
      expect([method, (policy.kinds ?? []).includes('service_account')]).toEqual([method, hasScopes]);
      for (const scope of policy.scopes ?? []) expect(SCOPES).toContain(scope);
      expect(policy.note.length).toBeGreaterThan(0);
    }
    for (const scope of SCOPES) expect(scope).toMatch(/^[a-z]+\.[a-z]+\.(read|write)$/);
    const used = new Set(Object.values(POLICY).flatMap((p) => (p.public === true ? [] : (p.scopes ?? []))));
    expect([...used].sort()).toEqual([...SCOPES].sort());
  });

  it('names ten public methods: the ones that authenticate by other means', () => {
    expect(publicMethods().map((m) => m.slice(m.lastIndexOf('/') + 1))).toEqual([
      'ActivateUser',
      'GetJwks',
      'IssueServiceAccountToken',
      'Login',
      'RefreshToken',
      'SignInWithSso',
      'FinishPasskeySignIn',
      'StartPasskeySignIn',
      'RedeemGuestLink',
      'RedeemPatientLink',
    ]);
  });

  it('gives front desk scheduling only (their own account, the clinician list to book for, who is waiting)', () => {
    const methods = allowedFor(user('front_desk'));
    expect(methods.filter((m) => !m.includes('SchedulingService'))).toEqual([
      '/haven.identity.v1.IdentityService/ChangePassword',
      '/haven.identity.v1.IdentityService/ConfirmTotp',
      '/haven.identity.v1.IdentityService/EnrollTotp',
      '/haven.identity.v1.IdentityService/GetUser',
      '/haven.identity.v1.IdentityService/ListUsers',
      '/haven.identity.v1.IdentityService/Logout',
      '/haven.identity.v1.PasskeyService/DeletePasskey',
      '/haven.identity.v1.PasskeyService/FinishPasskeyRegistration',
      '/haven.identity.v1.PasskeyService/ListPasskeys',
      '/haven.identity.v1.PasskeyService/StartPasskeyRegistration',
      // The day view's "who is waiting": participants' roles and states only (session's front-desk view).
      '/haven.session.v1.SessionService/ListVisits',
    ]);
    expect(methods.filter((m) => m.includes('SchedulingService'))).toHaveLength(18);
  });

  it('gives an auditor the audit log read-only, never a patient’s own access log', () => {
    const audit = allowedFor(user('auditor')).filter(
      (m) => !m.includes('IdentityService') && !m.includes('PasskeyService'),
    );
    expect(audit.every((m) => m.startsWith('/haven.audit.v1.AuditService/'))).toBe(true);
    expect(audit).toHaveLength(6);
    expect(audit).not.toContain('/haven.audit.v1.AuditService/ListMyAccessLog');
  });

  it('gives a patient only their visit, their access log, their recordings and their secure messages', () => {
    expect(allowedFor(patient).map((m) => m.slice(m.indexOf('.') + 1))).toEqual([
      'audit.v1.AuditService/ListMyAccessLog',
      'recording.v1.RecordingService/ListRecordings',
      'recording.v1.RecordingService/PlayRecording',
      'recording.v1.RecordingService/ReadRecordingMedia',
      'scheduling.v1.SchedulingService/CreateMessageThread',
      'scheduling.v1.SchedulingService/ListMessageThreads',
      'scheduling.v1.SchedulingService/ListSecureMessages',
      'scheduling.v1.SchedulingService/MarkMessageThreadRead',
      'scheduling.v1.SchedulingService/PostSecureMessage',
      ...[...VISIT_ITSELF, ...VISIT_CHAT].sort(),
    ]);
  });

  it('gives a link guest only the visit itself: no chat, recordings, access log or scheduling', () => {
    expect(allowedFor({ kind: 'guest', scopes: [] }).map((m) => m.slice(m.indexOf('.') + 1))).toEqual(
      VISIT_ITSELF,
    );
  });

  it('never lets a clinician into the audit log, user administration or recording deletion', () => {
    const methods = allowedFor(user('clinician'));
    expect(methods.some((m) => m.includes('AuditService'))).toBe(false);
    expect(methods).not.toContain('/haven.identity.v1.IdentityService/CreateUser');
    expect(methods).not.toContain('/haven.recording.v1.RecordingService/DeleteRecording');
    expect(methods).toContain('/haven.session.v1.SessionService/AdmitParticipant');
    expect(methods).toContain('/haven.identity.v1.IdentityService/RequestBreakGlass');
  });

  it('lets only the clinician and the patient watch a recording; holds, retention and deletion are admin', () => {
    const rec = (m: string) => `/haven.recording.v1.RecordingService/${m}`;
    const who = (m: string) =>
      [
        user('admin'),
        user('clinician'),
        user('front_desk'),
        user('auditor'),
        patient,
        serviceAccount(...SCOPES),
      ]
        .filter((s) => authorize(rec(m), s).allowed)
        .map((s) => (s.kind === 'user' ? s.role : s.kind));
    expect(who('PlayRecording')).toEqual(['clinician', 'patient']);
    expect(who('ReadRecordingMedia')).toEqual(['clinician', 'patient']);
    for (const m of ['DeleteRecording', 'PlaceLegalHold', 'ReleaseLegalHold', 'UpdateRetentionPolicy'])
      expect([m, who(m)]).toEqual([m, ['admin']]);
    expect(allowedFor(user('front_desk')).some((m) => m.includes('RecordingService'))).toBe(false);
  });

  it('opens nothing to a service account without scopes', () => {
    expect(allowedFor(serviceAccount())).toEqual([]);
    expect(allowedFor({ kind: 'service', scopes: [] })).toEqual([]);
  });
});

describe('authorize', () => {
  it('refuses a method without an entry, whoever calls (deny by default)', () => {
    for (const subject of [user('admin'), patient, serviceAccount(...SCOPES), undefined]) {
      const decision = authorize('/haven.scheduling.v1.SchedulingService/DropDatabase', subject);
      expect(decision).toEqual({
        allowed: false,
        reason: 'SchedulingService/DropDatabase has no access policy',
      });
    }
    expect(authorize('/__proto__/constructor', user('admin')).allowed).toBe(false);
    expect(policyOf('toString')).toBeUndefined();
  });

  it('allows a public method without a caller, and refuses a private one', () => {
    expect(authorize('/haven.identity.v1.IdentityService/Login', undefined)).toEqual({ allowed: true });
    expect(authorize(BOOK, undefined)).toEqual({
      allowed: false,
      reason: 'SchedulingService/BookAppointment needs an authenticated caller',
    });
  });

  it('decides users by role, with a PHI-free reason', () => {
    expect(authorize(BOOK, user('front_desk')).allowed).toBe(true);
    expect(authorize(BOOK, user('clinician')).allowed).toBe(true);
    expect(authorize(BOOK, user('auditor'))).toEqual({
      allowed: false,
      reason: 'role auditor may not call SchedulingService/BookAppointment',
    });
    expect(authorize(BOOK, { kind: 'user', scopes: [] })).toEqual({
      allowed: false,
      reason: 'a user without a known role may not call SchedulingService/BookAppointment',
    });
    expect(authorize(BOOK, user('superuser')).allowed).toBe(false);
  });

  it('lets any signed-in user act on themself, but not a patient or a service account', () => {
    const logout = '/haven.identity.v1.IdentityService/Logout';
    for (const role of ROLES) expect(authorize(logout, user(role)).allowed).toBe(true);
    expect(authorize(logout, { kind: 'user', scopes: [] }).allowed).toBe(true);
    expect(authorize(logout, patient).allowed).toBe(false);
    expect(authorize(logout, serviceAccount(...SCOPES)).allowed).toBe(false);
  });

  it('admits a service account only with a listed scope', () => {
    expect(authorize(BOOK, serviceAccount('scheduling.appointments.write')).allowed).toBe(true);
    expect(authorize(BOOK, serviceAccount('scheduling.appointments.read'))).toEqual({
      allowed: false,
      reason: 'a service account without a scope for it may not call SchedulingService/BookAppointment',
    });
    const open = '/haven.session.v1.SessionService/OpenVisit';
    expect(authorize(open, serviceAccount('session.visits.write')).allowed).toBe(true);
    expect(authorize(open, user('admin')).allowed).toBe(false);
    // A role claim on a service account grants nothing.
    expect(authorize(BOOK, { kind: 'service_account', role: 'admin', scopes: [] }).allowed).toBe(false);
  });

  it('admits patients by kind, and refuses unknown kinds', () => {
    const join = '/haven.session.v1.SessionService/JoinLobby';
    expect(authorize(join, patient).allowed).toBe(true);
    // A clinician may try (an invited guest waits in the lobby); the session service refuses the uninvited.
    expect(authorize(join, user('clinician')).allowed).toBe(true);
    expect(authorize(join, user('front_desk')).allowed).toBe(false);
    expect(authorize(join, { kind: 'robot', scopes: [] })).toEqual({
      allowed: false,
      reason: 'an unknown principal kind may not call SessionService/JoinLobby',
    });
    // A patient token carrying a role claim is still a patient.
    expect(authorize(BOOK, { kind: 'patient', role: 'admin', scopes: [] }).allowed).toBe(false);
  });
});

describe('docs/access-policy.md', () => {
  it('is the table as policyMarkdown() renders it (regenerate it when the table changes)', () => {
    const file = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'access-policy.md'), 'utf8');
    expect(file).toBe(policyMarkdown());
  });

  it('lists every method once', () => {
    const md = policyMarkdown();
    for (const method of policyMethods()) {
      const name = method.slice(method.lastIndexOf('/') + 1);
      expect(md).toContain(`| \`${name}\` |`);
    }
    expect(md.match(/^\| `/gm)).toHaveLength(policyMethods().length);
  });
});
