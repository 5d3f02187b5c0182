/**
 * The harness enforces the @haven/auth access policy (the default `authorization: 'policy'`) for every method of
 * a real Haven service definition: before the handler, deny by default, also for methods without a handler and
 * for streaming methods; public methods of the table need no token.
 */
import * as grpc from '@grpc/grpc-js';
import { audit, scheduling } from '@haven/proto';
import { setupTestTelemetry } from '@haven/telemetry/testing';
import type { TestTelemetry } from '@haven/telemetry/testing';
import { callUnary, clientCallMetadata } from './client';
import { parseStatusDetails } from './grpc-errors';
import { startGrpcService } from './grpc-server';
import type { RunningGrpcService, UnaryHandler } from './grpc-server';
import { createJwtVerifier } from './jwt';
import { createLogger } from './logger';
import { createTestIssuer } from './testing';
import { failureOf, localClient } from '@haven/testing';

const issuer = createTestIssuer();
const verifier = createJwtVerifier({ jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience });
const logger = createLogger({ service: 'authz-test', level: 'silent' });

describe('startGrpcService with the access policy', () => {
  let telemetry: TestTelemetry;
  let running: RunningGrpcService;
  let schedulingClient: scheduling.SchedulingServiceClient;
  let auditClient: audit.AuditServiceClient;
  const handled: string[] = [];

  // Each handler answers its response type's defaults (repeated fields included, which a bare {} lacks).
  const handler =
    (name: string, response: object = {}): UnaryHandler<unknown, object> =>
    async () => {
      handled.push(name);
      return response;
    };

  beforeAll(async () => {
    telemetry = setupTestTelemetry();
    running = await startGrpcService({
      name: 'authz',
      port: 0,
      host: '127.0.0.1',
      services: [
        {
          definition: scheduling.SchedulingServiceService,
          // RedeemPatientLink is public in the table without being declared here.
          handlers: {
            bookAppointment: handler('book', scheduling.BookAppointmentResponse.fromPartial({})),
            redeemPatientLink: handler('redeem'),
          },
        },
        { definition: audit.AuditServiceService, handlers: { getTreeHead: handler('head') } },
      ],
      auth: { verifier },
      logger,
      shutdownGraceMs: 1000,
    });
    const address = `127.0.0.1:${running.port}`;
    schedulingClient = new scheduling.SchedulingServiceClient(address, grpc.credentials.createInsecure());
    auditClient = new audit.AuditServiceClient(address, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    schedulingClient.close();
    auditClient.close();
    await running.stop();
    await telemetry.shutdown();
  });

  const token = (claims: Parameters<typeof issuer.sign>[0]) => issuer.sign(claims);
  const book = (metadata: grpc.Metadata) =>
    callUnary(
      schedulingClient,
      'bookAppointment',
      scheduling.BookAppointmentRequest.fromPartial({}),
      metadata,
    );

  it('refuses a role the table does not list with PERMISSION_DENIED POLICY_DENIED, before the handler', async () => {
    handled.length = 0;
    telemetry.reset();
    const error = await failureOf(
      book(clientCallMetadata({ token: await token({ sub: 'u-a', role: 'auditor' }) })),
    );
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toBe('role auditor may not call SchedulingService/BookAppointment');
    expect(parseStatusDetails(error).reason).toBe('POLICY_DENIED');
    expect(handled).toEqual([]);
    // The refused call is still traced and counted.
    const [span] = telemetry.spans('haven.scheduling.v1.SchedulingService/BookAppointment');
    expect(span?.attributes['rpc.grpc.status_code']).toBe(grpc.status.PERMISSION_DENIED);
    const metrics = await telemetry.metricReader.collectMetrics();
    const point = metrics
      .find((m) => m.descriptor.name === 'haven.rpc.duration')
      ?.dataPoints.find(
        (p) =>
          p.attributes['rpc.method'] === 'BookAppointment' &&
          p.attributes['rpc.grpc.status_code'] === grpc.status.PERMISSION_DENIED,
      );
    expect((point?.value as { count?: number } | undefined)?.count).toBe(1);
  });

  it('lets a listed role through to the handler', async () => {
    handled.length = 0;
    await book(clientCallMetadata({ token: await token({ sub: 'u-f', role: 'front_desk' }) }));
    await book(
      clientCallMetadata({
        token: await token({
          sub: 'sa-ehr',
          kind: 'service_account',
          scope: 'scheduling.appointments.write',
        }),
      }),
    );
    expect(handled).toEqual(['book', 'book']);
  });

  it('refuses a service account without the scope, and a patient', async () => {
    for (const claims of [
      {
        sub: 'sa-ehr',
        kind: 'service_account' as const,
        scope: 'scheduling.appointments.read audit.events.read',
      },
      { sub: 'p-1', kind: 'patient' as const, role: 'admin' },
    ]) {
      const error = await failureOf(book(clientCallMetadata({ token: await token(claims) })));
      expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    }
  });

  it('keeps UNAUTHENTICATED for a caller without a token', async () => {
    const error = await failureOf(book(new grpc.Metadata()));
    expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('serves the table’s public methods without a token', async () => {
    handled.length = 0;
    await callUnary(
      schedulingClient,
      'redeemPatientLink',
      scheduling.RedeemPatientLinkRequest.fromPartial({}),
      new grpc.Metadata(),
    );
    expect(handled).toEqual(['redeem']);
  });

  it('authorizes methods without a handler before answering UNIMPLEMENTED', async () => {
    const cancel = (metadata: grpc.Metadata) =>
      failureOf(
        callUnary(
          schedulingClient,
          'cancelAppointment',
          scheduling.CancelAppointmentRequest.fromPartial({}),
          metadata,
        ),
      );
    expect((await cancel(new grpc.Metadata())).code).toBe(grpc.status.UNAUTHENTICATED);
    const denied = await cancel(clientCallMetadata({ token: await token({ sub: 'u-a', role: 'auditor' }) }));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    const allowed = await cancel(
      clientCallMetadata({ token: await token({ sub: 'u-f', role: 'front_desk' }) }),
    );
    expect(allowed.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('authorizes a streaming method without a handler the same way', async () => {
    const exportLog = (metadata: grpc.Metadata) =>
      new Promise<grpc.ServiceError>((resolve, reject) => {
        const stream = auditClient.exportAuditLog(audit.ExportAuditLogRequest.fromPartial({}), metadata, {
          deadline: Date.now() + 3000,
        });
        stream.on('data', () => reject(new Error('expected no data')));
        stream.on('error', resolve);
        stream.on('end', () => reject(new Error('expected an error status')));
      });
    expect((await exportLog(new grpc.Metadata())).code).toBe(grpc.status.UNAUTHENTICATED);
    const clinician = clientCallMetadata({ token: await token({ sub: 'u-c', role: 'clinician' }) });
    const denied = await exportLog(clinician);
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(parseStatusDetails(denied).reason).toBe('POLICY_DENIED');
    const auditor = clientCallMetadata({ token: await token({ sub: 'u-a', role: 'auditor' }) });
    expect((await exportLog(auditor)).code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('refuses to start when a declared public method is not public in the table', async () => {
    await expect(
      startGrpcService({
        name: 'bad',
        port: 0,
        host: '127.0.0.1',
        services: [{ definition: audit.AuditServiceService, handlers: { getTreeHead: handler('head') } }],
        auth: { verifier, publicMethods: ['/haven.audit.v1.AuditService/GetTreeHead'] },
        logger,
      }),
    ).rejects.toThrow(/GetTreeHead is not public in the access policy/);
  });

  it('refuses every method of a service the table does not know (deny by default)', async () => {
    const unknown: grpc.ServiceDefinition = {
      Probe: {
        path: '/haven.unknown.v1.UnknownService/Probe',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Buffer) => v,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (b: Buffer) => b,
      },
    };
    const other = await startGrpcService({
      name: 'unknown',
      port: 0,
      host: '127.0.0.1',
      services: [{ definition: unknown, handlers: { Probe: handler('probe') } }],
      auth: { verifier },
      logger,
      shutdownGraceMs: 500,
    });
    const client = localClient(grpc.Client, other.port);
    try {
      handled.length = 0;
      const metadata = clientCallMetadata({ token: await token({ sub: 'u-admin', role: 'admin' }) });
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.makeUnaryRequest(
          '/haven.unknown.v1.UnknownService/Probe',
          (v: Buffer) => v,
          (b: Buffer) => b,
          Buffer.alloc(0),
          metadata,
          (e) => resolve(e),
        ),
      );
      expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(error?.details).toBe('UnknownService/Probe has no access policy');
      expect(handled).toEqual([]);
    } finally {
      client.close();
      await other.stop();
    }
  });
});
