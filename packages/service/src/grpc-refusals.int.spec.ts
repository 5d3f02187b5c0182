/**
 * One path for refusals through the harness (a real gRPC server and client): every call that is refused reports
 * exactly one AccessRefusal — missing token, the access policy, a PermissionError or UnauthenticatedError thrown
 * by the handler (ownership checks, deciders) and a refusal the handler records itself — with method, caller,
 * target (the request's resource name), code and correlation id. A call that merely fails reports nothing.
 */
import * as grpc from '@grpc/grpc-js';
import { PermissionError, PreconditionError, UnauthenticatedError } from '@haven/errors';
import { scheduling, session } from '@haven/proto';
import type { AccessRefusal } from './access-refusals';
import { callUnary, clientCallMetadata } from './client';
import { startGrpcService } from './grpc-server';
import type { CallContext, RunningGrpcService } from './grpc-server';
import { createJwtVerifier } from './jwt';
import { createLogger } from './logger';
import { createTestIssuer } from './testing';
import { failureOf } from '@haven/testing';

const issuer = createTestIssuer();
const verifier = createJwtVerifier({ jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience });
const logger = createLogger({ service: 'refusals-test', level: 'silent' });

describe('refusals reported by the gRPC harness', () => {
  let running: RunningGrpcService;
  let sessionClient: session.SessionServiceClient;
  let schedulingClient: scheduling.SchedulingServiceClient;
  const refusals: AccessRefusal[] = [];

  beforeAll(async () => {
    running = await startGrpcService({
      name: 'refusals',
      port: 0,
      host: '127.0.0.1',
      services: [
        {
          definition: session.SessionServiceService,
          handlers: {
            getVisit: async () => {
              throw new PermissionError('not allowed to see this visit');
            },
            admitParticipant: async () => {
              throw new PreconditionError('participant is admitted, not waiting');
            },
          },
        },
        {
          definition: scheduling.SchedulingServiceService,
          handlers: {
            redeemPatientLink: async (request: scheduling.RedeemPatientLinkRequest, ctx: CallContext) => {
              if (request.token === 'unknown') throw new UnauthenticatedError('link or passcode not valid');
              ctx.recordRefusal({
                code: 'LINK_NOT_USABLE',
                reason: 'this visit has ended',
                target: 'appointments/apt-9',
              });
              // A refusal recorded by the handler is not reported a second time by the harness.
              throw new PermissionError('refused');
            },
          },
        },
      ],
      auth: { verifier },
      onAccessRefused: (r) => refusals.push(r),
      logger,
      shutdownGraceMs: 1000,
    });
    const address = `127.0.0.1:${running.port}`;
    sessionClient = new session.SessionServiceClient(address, grpc.credentials.createInsecure());
    schedulingClient = new scheduling.SchedulingServiceClient(address, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    sessionClient.close();
    schedulingClient.close();
    await running.stop();
  });

  it("reports an ownership check's PermissionError with the caller and the request's resource name", async () => {
    refusals.length = 0;
    const token = await issuer.sign({ sub: 'u-b', role: 'clinician' });
    const error = await failureOf(
      callUnary(
        sessionClient,
        'getVisit',
        { name: 'visits/apt-1' },
        clientCallMetadata({ token, correlationId: 'corr-own' }),
      ),
    );
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(refusals).toEqual([
      {
        method: '/haven.session.v1.SessionService/GetVisit',
        kind: 'permission',
        code: 'PERMISSION',
        reason: 'not allowed to see this visit',
        target: 'visits/apt-1',
        principal: { kind: 'user', id: 'u-b', role: 'clinician' },
        correlationId: 'corr-own',
      },
    ]);
  });

  it('reports a policy refusal once, with its target, and a missing token once', async () => {
    refusals.length = 0;
    const token = await issuer.sign({ sub: 'u-f', role: 'front_desk' });
    await failureOf(
      callUnary(sessionClient, 'getVisit', { name: 'visits/apt-2' }, clientCallMetadata({ token })),
    );
    await failureOf(callUnary(sessionClient, 'getVisit', { name: 'visits/apt-2' }, clientCallMetadata({})));
    expect(refusals.map((r) => [r.kind, r.code, r.target, r.principal?.id])).toEqual([
      ['policy', 'POLICY_DENIED', 'visits/apt-2', 'u-f'],
      ['unauthenticated', 'UNAUTHENTICATED', undefined, undefined],
    ]);
  });

  it("reports a public method's UnauthenticatedError as anonymous, and a handler's own refusal once", async () => {
    refusals.length = 0;
    await failureOf(
      callUnary(
        schedulingClient,
        'redeemPatientLink',
        { token: 'unknown', passcode: '1', dateOfBirth: '', forMessages: false },
        clientCallMetadata({}),
      ),
    );
    await failureOf(
      callUnary(
        schedulingClient,
        'redeemPatientLink',
        { token: 'ended', passcode: '1', dateOfBirth: '', forMessages: false },
        clientCallMetadata({}),
      ),
    );
    expect(refusals).toEqual([
      expect.objectContaining({
        kind: 'unauthenticated',
        code: 'UNAUTHENTICATED',
        reason: 'link or passcode not valid',
      }),
      expect.objectContaining({
        kind: 'state',
        code: 'LINK_NOT_USABLE',
        reason: 'this visit has ended',
        target: 'appointments/apt-9',
      }),
    ]);
    expect(refusals[0]?.principal).toBeUndefined();
    expect(JSON.stringify(refusals)).not.toContain('unknown');
  });

  it('reports nothing for a call that fails without being refused', async () => {
    refusals.length = 0;
    const token = await issuer.sign({ sub: 'u-a', role: 'clinician' });
    const error = await failureOf(
      callUnary(
        sessionClient,
        'admitParticipant',
        { name: 'visits/apt-1/participants/p-1', requestId: '' },
        clientCallMetadata({ token }),
      ),
    );
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(refusals).toEqual([]);
  });
});
