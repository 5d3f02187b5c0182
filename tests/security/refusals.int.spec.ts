/**
 * Every refusal is an event, seen where an auditor looks: ListAuditEvents of the audit service. Real servers:
 * nats-server, Janus, and the built scheduling, session, recording, audit and gateway services as child
 * processes. Staff tokens come from a test issuer whose JWKS the services and the gateway trust (identity is
 * not needed: it does not take part in these refusals); patient tokens are scheduling's own, from a redeemed link.
 *
 * Each refusal is provoked from outside the way an attacker would — another clinician's token on a real gRPC
 * call, a kicked patient asking for media again, a link used after its visit ended, a front-desk token on the
 * recording service, HTTP requests to the gateway without a cookie, without CSRF, with the wrong role, a
 * WebSocket upgrade from a foreign origin — and then looked up in ListAuditEvents (by actor, by target, by
 * correlation id) with the right actor, target and reason and no PHI.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { audit, recording, scheduling, session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import {
  bookVisit as book,
  createPatient,
  eventually,
  failureOf,
  issueLink,
  type JwksServer,
  type LaunchedStack,
  launchStack,
  redeemLink,
  serveJwks,
} from '@haven/testing';

jest.setTimeout(120_000);

const ACCESS_REFUSED = 'haven.security.v1.AccessRefused';
/** The synthetic patient's PHI: none of it may appear in a refusal. */
const PHI = { givenName: 'Robin', familyName: 'Quillfeather', dateOfBirth: '1979-03-14' };

const issuer = createTestIssuer();
const ids = {
  clinicianB: `u-clin-b-${randomUUID().slice(0, 8)}`,
  frontDesk: `u-fd-${randomUUID().slice(0, 8)}`,
  auditor: `u-aud-${randomUUID().slice(0, 8)}`,
};
const tokens: Record<keyof typeof ids, string> = {
  clinicianB: '',
  frontDesk: '',
  auditor: '',
};

let stack: LaunchedStack;
let jwks: JwksServer;
let gatewayUrl: string;
let clients: {
  scheduling: scheduling.SchedulingServiceClient;
  session: session.SessionServiceClient;
  recording: recording.RecordingServiceClient;
  audit: audit.AuditServiceClient;
};

const md = (token?: string, correlationId?: string) =>
  clientCallMetadata({ ...(token ? { token } : {}), ...(correlationId ? { correlationId } : {}) });

beforeAll(async () => {
  jwks = await serveJwks(issuer.jwks);
  stack = await launchStack({
    services: ['scheduling', 'session', 'recording', 'audit', 'gateway'],
    jwksUrl: jwks.url,
    janus: { eventHandler: false },
    env: { gateway: { HAVEN_HTTP_HOST: '127.0.0.1', HAVEN_COOKIE_SECURE: 'false', LOG_LEVEL: 'warn' } },
  });
  gatewayUrl = stack.service('gateway').url!;
  const address = (name: 'scheduling' | 'session' | 'recording' | 'audit') => stack.address(name);
  const tls = stack.pki.grpcCredentials('integration');
  clients = {
    scheduling: new scheduling.SchedulingServiceClient(address('scheduling'), tls),
    session: new session.SessionServiceClient(address('session'), tls),
    recording: new recording.RecordingServiceClient(address('recording'), tls),
    audit: new audit.AuditServiceClient(address('audit'), tls),
  };
  tokens.clinicianB = await issuer.sign({ sub: ids.clinicianB, role: 'clinician' }, { expiresIn: '1h' });
  tokens.frontDesk = await issuer.sign({ sub: ids.frontDesk, role: 'front_desk' }, { expiresIn: '1h' });
  tokens.auditor = await issuer.sign({ sub: ids.auditor, role: 'auditor' }, { expiresIn: '1h' });
});

afterAll(async () => {
  for (const c of Object.values(clients ?? {})) c.close();
  await stack?.stop();
  await jwks?.close();
});

/** AccessRefused entries of ListAuditEvents (newest first), with the given filters. */
async function refusals(filter: { actor?: string; target?: string }): Promise<audit.AuditEvent[]> {
  const r = await callUnary(
    clients.audit,
    'listAuditEvents',
    audit.ListAuditEventsRequest.fromPartial({
      ...filter,
      types: [ACCESS_REFUSED],
      orderBy: 'leaf_index desc',
      pageSize: 500,
    }),
    md(tokens.auditor),
  );
  return r.auditEvents;
}

/** Waits for the AccessRefused entry of a correlation id (with filters, when given). */
function refusalOf(
  correlationId: string,
  filter: { actor?: string; target?: string } = {},
): Promise<audit.AuditEvent> {
  return eventually(
    `the AccessRefused of ${correlationId}`,
    async () => (await refusals(filter)).find((e) => e.correlationId === correlationId),
    { timeoutMs: 15_000 },
  );
}

function expectNoPhi(entries: readonly audit.AuditEvent[]): void {
  const text = JSON.stringify(entries.map((e) => audit.AuditEvent.toJSON(e)));
  for (const value of Object.values(PHI)) expect(text).not.toContain(value);
}

interface Booked {
  readonly appointmentId: string;
  readonly visit: string;
  readonly linkToken: string;
  readonly passcode: string;
  readonly patientId: string;
  readonly patientToken: string;
  /** The owning clinician's token (a clinician of its own per visit, so bookings never overlap). */
  readonly ownerToken: string;
}

/** Front desk books a visit with a new clinician; the patient redeems the link. Waits until the visit is open. */
async function bookVisit(): Promise<Booked> {
  const ownerId = `u-owner-${randomUUID().slice(0, 8)}`;
  const ownerToken = await issuer.sign({ sub: ownerId, role: 'clinician' }, { expiresIn: '1h' });
  const desk = { client: clients.scheduling, metadata: () => md(tokens.frontDesk) };
  const patient = await createPatient(desk, PHI);
  const start = new Date(Date.now() + 2 * 60_000);
  const appointment = (await book(desk, { patient, clinician: `users/${ownerId}`, start })).name;
  const link = await issueLink(desk, appointment);
  const redeemed = await redeemLink(clients.scheduling, link);
  const appointmentId = appointment.slice('appointments/'.length);
  const visit = `visits/${appointmentId}`;
  await eventually(
    'the visit to open',
    async () =>
      callUnary(clients.session, 'getVisit', { name: visit }, md(ownerToken)).then(
        (r) => r.visit,
        () => undefined,
      ),
    { timeoutMs: 15_000 },
  );
  return {
    appointmentId,
    visit,
    linkToken: link.token,
    passcode: link.passcode,
    patientId: redeemed.patient.slice('patients/'.length),
    patientToken: redeemed.accessToken,
    ownerToken,
  };
}

/** The booked patient enters the visit's lobby; returns their participant name. */
async function joinLobby(v: Booked): Promise<string> {
  const lobby = await callUnary(
    clients.session,
    'joinLobby',
    session.JoinLobbyRequest.fromPartial({ appointment: `appointments/${v.appointmentId}` }),
    md(v.patientToken),
  );
  return lobby.participant?.name ?? '';
}

describe('refusals inside handlers (ownership) are recorded', () => {
  it("records clinician B's get, admit and kick on another clinician's visit, filterable by actor and target", async () => {
    const v = await bookVisit();
    const participant = await joinLobby(v);
    const corr = { get: randomUUID(), admit: randomUUID(), kick: randomUUID() };
    const calls = [
      failureOf(callUnary(clients.session, 'getVisit', { name: v.visit }, md(tokens.clinicianB, corr.get))),
      failureOf(
        callUnary(
          clients.session,
          'admitParticipant',
          { name: participant, requestId: '' },
          md(tokens.clinicianB, corr.admit),
        ),
      ),
      failureOf(
        callUnary(
          clients.session,
          'kickParticipant',
          { name: participant, allowRejoin: false, requestId: '' },
          md(tokens.clinicianB, corr.kick),
        ),
      ),
    ];
    for (const error of await Promise.all(calls)) expect(error.code).toBe(grpc.status.PERMISSION_DENIED);

    const byActor = `users/${ids.clinicianB}`;
    const get = await refusalOf(corr.get, { actor: byActor });
    const admit = await refusalOf(corr.admit, { actor: byActor });
    const kick = await refusalOf(corr.kick, { actor: byActor });
    expect(get.actor).toEqual(expect.objectContaining({ id: ids.clinicianB, role: 'clinician' }));
    expect(get.data).toEqual(
      expect.objectContaining({
        method: '/haven.session.v1.SessionService/GetVisit',
        kind: 'permission',
        code: 'PERMISSION',
        target: v.visit,
        service: 'session',
      }),
    );
    expect(admit.data).toEqual(
      expect.objectContaining({
        method: '/haven.session.v1.SessionService/AdmitParticipant',
        target: participant,
      }),
    );
    expect(kick.data).toEqual(
      expect.objectContaining({
        method: '/haven.session.v1.SessionService/KickParticipant',
        target: participant,
      }),
    );
    expect(String(admit.data?.['reason'])).toMatch(/host of this visit/);
    // By target: the visit's refusals, and nobody else's.
    const aboutVisit = await refusals({ target: v.visit });
    expect(aboutVisit.map((e) => e.correlationId)).toContain(corr.get);
    expect(aboutVisit.every((e) => e.data?.['target'] === v.visit)).toBe(true);
    expectNoPhi([get, admit, kick]);
  });
});

describe('a kicked patient and a link after the visit ended', () => {
  it('records JoinMedia after a kick, and redeeming the link after EndVisit, without PHI or secrets', async () => {
    const v = await bookVisit();
    const participant = await joinLobby(v);
    await callUnary(
      clients.session,
      'admitParticipant',
      { name: participant, requestId: '' },
      md(v.ownerToken),
    );
    await callUnary(
      clients.session,
      'kickParticipant',
      { name: participant, allowRejoin: false, requestId: '' },
      md(v.ownerToken),
    );
    const joinCorr = randomUUID();
    const joinError = await failureOf(
      callUnary(clients.session, 'joinMedia', { visit: v.visit }, md(v.patientToken, joinCorr)),
    );
    expect(joinError.code).toBe(grpc.status.PERMISSION_DENIED);
    const join = await refusalOf(joinCorr, { actor: `patients/${v.patientId}` });
    expect(join.actor).toEqual(expect.objectContaining({ id: v.patientId }));
    expect(join.data).toEqual(
      expect.objectContaining({
        method: '/haven.session.v1.SessionService/JoinMedia',
        kind: 'permission',
        target: v.visit,
      }),
    );

    await callUnary(clients.session, 'endVisit', { name: v.visit, requestId: '' }, md(v.ownerToken));
    const redeemCorr = randomUUID();
    const redeemError = await failureOf(
      callUnary(
        clients.scheduling,
        'redeemPatientLink',
        scheduling.RedeemPatientLinkRequest.fromPartial({ token: v.linkToken, passcode: v.passcode }),
        md(undefined, redeemCorr),
      ),
    );
    expect(redeemError.code).toBe(grpc.status.FAILED_PRECONDITION);
    const appointment = `appointments/${v.appointmentId}`;
    const redeem = await refusalOf(redeemCorr, { target: appointment });
    expect(redeem.actor).toEqual(expect.objectContaining({ id: 'unauthenticated' }));
    expect(redeem.data).toEqual(
      expect.objectContaining({
        method: '/haven.scheduling.v1.SchedulingService/RedeemPatientLink',
        kind: 'state',
        code: 'LINK_NOT_USABLE',
        target: appointment,
        service: 'scheduling',
      }),
    );
    expect(String(redeem.data?.['reason'])).toMatch(/ended/);
    const text = JSON.stringify([join, redeem].map((e) => audit.AuditEvent.toJSON(e)));
    expect(text).not.toContain(v.linkToken);
    expect(text).not.toContain(v.passcode);
    expectNoPhi([join, redeem]);

    // The patient's own view still answers, and lists accesses to their record, never refusals.
    const mine = await callUnary(
      clients.audit,
      'listMyAccessLog',
      audit.ListMyAccessLogRequest.fromPartial({ pageSize: 50 }),
      md(v.patientToken),
    );
    expect(mine.entries.map((e) => e.auditEvent)).not.toContain(join.name);
  });
});

describe('the recording service records its refusals', () => {
  it('records a front-desk call to the recording service (policy) and a call without a token', async () => {
    const [policyCorr, anonCorr] = [randomUUID(), randomUUID()];
    const policyError = await failureOf(
      callUnary(
        clients.recording,
        'listRecordings',
        recording.ListRecordingsRequest.fromPartial({}),
        md(tokens.frontDesk, policyCorr),
      ),
    );
    expect(policyError.code).toBe(grpc.status.PERMISSION_DENIED);
    const anonError = await failureOf(
      callUnary(clients.recording, 'getRecording', { name: 'recordings/r-1' }, md(undefined, anonCorr)),
    );
    expect(anonError.code).toBe(grpc.status.UNAUTHENTICATED);
    const policy = await refusalOf(policyCorr, { actor: `users/${ids.frontDesk}` });
    expect(policy.data).toEqual(
      expect.objectContaining({
        method: '/haven.recording.v1.RecordingService/ListRecordings',
        kind: 'policy',
        code: 'POLICY_DENIED',
        service: 'recording',
      }),
    );
    const anon = await refusalOf(anonCorr, { actor: 'unauthenticated' });
    expect(anon.data).toEqual(
      expect.objectContaining({
        kind: 'unauthenticated',
        reason: 'missing bearer token',
        service: 'recording',
      }),
    );
  });
});

/** One HTTP request to the gateway; resolves with the status and the correlation id it answered with. */
function http(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; correlationId: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      `${gatewayUrl}${path}`,
      {
        method,
        timeout: 5000,
        headers: {
          ...headers,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            correlationId: String(res.headers['x-correlation-id'] ?? ''),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

const CSRF = 'c'.repeat(43);

describe("the gateway's own refusals are recorded", () => {
  it('records a request without a session cookie as unauthenticated', async () => {
    const r = await http('GET', '/api/visits');
    expect(r.status).toBe(401);
    const e = await refusalOf(r.correlationId, { actor: 'unauthenticated' });
    expect(e.data).toEqual(
      expect.objectContaining({ method: 'GET /api/visits', kind: 'unauthenticated', service: 'gateway' }),
    );
  });

  it('records a state-changing request without CSRF, attributed to the cookie it carried', async () => {
    const r = await http(
      'POST',
      '/api/visits/apt-x1/admit',
      { cookie: `haven_access=${tokens.frontDesk}` },
      { participantId: 'p-1' },
    );
    expect(r.status).toBe(403);
    const e = await refusalOf(r.correlationId, { actor: `users/${ids.frontDesk}` });
    expect(e.data).toEqual(
      expect.objectContaining({
        method: 'POST /api/visits/:id/admit',
        kind: 'csrf',
        code: 'CSRF',
        target: 'visits/apt-x1',
        service: 'gateway',
      }),
    );
    expect(JSON.stringify(audit.AuditEvent.toJSON(e))).not.toContain(tokens.frontDesk.split('.')[2]!);
  });

  it("records a route the caller's role may not use (front desk on the clinician's visits)", async () => {
    const r = await http('GET', '/api/visits/apt-x2', {
      cookie: `haven_access=${tokens.frontDesk}; haven_csrf=${CSRF}`,
    });
    expect(r.status).toBe(403);
    const e = await refusalOf(r.correlationId, { actor: `users/${ids.frontDesk}` });
    expect(e.data).toEqual(
      expect.objectContaining({
        method: 'GET /api/visits/:id',
        kind: 'policy',
        code: 'ROLE_NOT_ALLOWED',
        target: 'visits/apt-x2',
      }),
    );
  });

  it('records a refusal a service answered once, by that service (not again by the gateway)', async () => {
    const v = await bookVisit();
    const r = await http(
      'POST',
      `/api/visits/${v.appointmentId}/lock`,
      { cookie: `haven_access=${tokens.clinicianB}; haven_csrf=${CSRF}`, 'x-csrf-token': CSRF },
      {},
    );
    expect(r.status).toBe(403);
    const e = await refusalOf(r.correlationId, { actor: `users/${ids.clinicianB}` });
    expect(e.data).toEqual(
      expect.objectContaining({ method: '/haven.session.v1.SessionService/LockVisit', service: 'session' }),
    );
    // Give the gateway time to have recorded a duplicate, then count.
    await new Promise((res) => setTimeout(res, 500));
    const same = (await refusals({ actor: `users/${ids.clinicianB}` })).filter(
      (x) => x.correlationId === r.correlationId,
    );
    expect(same).toHaveLength(1);
  });

  it('records a WebSocket upgrade from a foreign origin', async () => {
    const before = new Date();
    const r = await http('GET', '/api/ws', {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': Buffer.from(randomUUID().slice(0, 16)).toString('base64'),
      origin: 'https://attacker.example.test',
    }).catch(() => ({ status: 403, correlationId: '' }));
    expect(r.status).toBe(403);
    const e = await eventually(
      'the refused upgrade',
      async () =>
        (await refusals({ actor: 'unauthenticated' })).find(
          (x) =>
            x.data?.['method'] === 'GET /api/ws' && (x.occurTime?.getTime() ?? 0) >= before.getTime() - 1000,
        ),
      { timeoutMs: 15_000 },
    );
    expect(e.data).toEqual(
      expect.objectContaining({ kind: 'csrf', code: 'ORIGIN_NOT_ALLOWED', service: 'gateway' }),
    );
  });
});
