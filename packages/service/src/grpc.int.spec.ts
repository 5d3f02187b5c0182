import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { NotFoundError, PermissionError, ValidationError } from '@haven/errors';
import { setupTestTelemetry } from '@haven/telemetry/testing';
import type { TestTelemetry } from '@haven/telemetry/testing';
import { callUnary, clientCallMetadata } from './client';
import { parseStatusDetails } from './grpc-errors';
import { startGrpcService } from './grpc-server';
import type { CallContext, RunningGrpcService, ServiceRegistration } from './grpc-server';
import { createJwtVerifier } from './jwt';
import { createLogger } from './logger';
import { createTestIssuer } from './testing';
import { failureOf, localClient } from '@haven/testing';

const PROTO = `
syntax = "proto3";
package haven.test.v1;
// Test service.
service EchoService {
  rpc Echo(EchoRequest) returns (EchoResponse);
  rpc Fail(FailRequest) returns (EchoResponse);
  rpc Slow(EchoRequest) returns (EchoResponse);
  rpc Ping(EchoRequest) returns (EchoResponse);
  rpc Count(EchoRequest) returns (stream EchoResponse);
}
message EchoRequest { string text = 1; }
message EchoResponse { string text = 1; string principal = 2; string correlation_id = 3; }
message FailRequest { string kind = 1; }
`;

interface EchoRequest {
  text: string;
}
interface EchoResponse {
  text: string;
  principal: string;
  correlation_id: string;
}

type Client = grpc.Client &
  Record<string, grpc.requestCallback<unknown> & ((...args: unknown[]) => grpc.ClientUnaryCall)>;

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves when the signal aborts, or after 2 s (the assertion that follows then fails). */
function waitForAbort(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!signal || signal.aborted) return resolve();
    const timer = setTimeout(resolve, 2000);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function captureStream(): { stream: Writable; text: () => string } {
  let buffer = '';
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        buffer += chunk.toString('utf8');
        cb();
      },
    }),
    text: () => buffer,
  };
}

describe('startGrpcService (real gRPC on 127.0.0.1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'haven-service-'));
  writeFileSync(join(dir, 'echo.proto'), PROTO);
  const packageDefinition = protoLoader.loadSync('echo.proto', {
    includeDirs: [dir],
    keepCase: true,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    haven: { test: { v1: { EchoService: grpc.ServiceClientConstructor } } };
  };
  const EchoService = loaded.haven.test.v1.EchoService;
  const issuer = createTestIssuer();
  const verifier = createJwtVerifier({ jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience });
  const logs = captureStream();
  const logger = createLogger({ service: 'test', level: 'debug', destination: logs.stream });

  let slowEntered = deferred();
  let slowRelease = deferred();
  let slowSignal: AbortSignal | undefined;
  let echoTraceparent: string | undefined;

  const handlers: ServiceRegistration['handlers'] = {
    Echo: async (req: EchoRequest, ctx: CallContext) => {
      echoTraceparent = ctx.traceparent;
      return {
        text: req.text,
        principal: ctx.principal ? `${ctx.principal.kind}:${ctx.principal.id}` : '',
        correlation_id: ctx.correlationId,
      };
    },
    Ping: async (req: EchoRequest, ctx: CallContext) => ({
      text: `pong ${req.text}`,
      principal: ctx.principal?.id ?? '',
      correlation_id: ctx.correlationId,
    }),
    Fail: async (req: { kind: string }) => {
      switch (req.kind) {
        case 'validation':
          throw new ValidationError([
            { field: 'start_time', description: 'must be in the future' },
            { field: 'patient.email', description: 'must be an email address' },
          ]);
        case 'not_found':
          throw new NotFoundError('appointment apt-1 not found');
        case 'permission':
          throw new PermissionError('front desk cannot admit');
        default:
          throw new Error('db exploded while saving patient Jane Doe, dob 1970-01-01');
      }
    },
    Slow: async (req: EchoRequest, ctx: CallContext) => {
      slowSignal = ctx.signal;
      slowEntered.resolve();
      await Promise.race([
        slowRelease.promise,
        new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true })),
      ]);
      return { text: req.text, principal: '', correlation_id: ctx.correlationId };
    },
  };

  const streams: ServiceRegistration['streams'] = {
    // Streams `text` back in as many messages as it has characters; "!" fails with INVALID_ARGUMENT.
    Count: async (req: EchoRequest, ctx: CallContext, send: (m: EchoResponse) => Promise<void>) => {
      if (req.text === '!') throw new ValidationError([{ field: 'text', description: 'not "!"' }]);
      for (const ch of req.text) {
        await send({ text: ch, principal: ctx.principal?.id ?? '', correlation_id: ctx.correlationId });
      }
    },
  };

  const start = (): Promise<RunningGrpcService> =>
    startGrpcService({
      name: 'test',
      port: 0,
      host: '127.0.0.1',
      services: [{ definition: EchoService.service, handlers, streams }],
      auth: { verifier, publicMethods: ['/haven.test.v1.EchoService/Ping'] },
      authorization: 'none',
      logger,
      protoFiles: { root: dir, files: ['echo.proto'] },
      shutdownGraceMs: 5000,
    });

  let running: RunningGrpcService;
  let client: Client;
  let token: string;
  const clients: grpc.Client[] = [];
  const newClient = <T extends grpc.Client>(
    ctor: new (address: string, creds: grpc.ChannelCredentials) => T,
    port: number,
  ): T => {
    const c = localClient(ctor, port);
    clients.push(c);
    return c;
  };

  let telemetry: TestTelemetry;

  beforeAll(async () => {
    telemetry = setupTestTelemetry();
    running = await start();
    client = newClient(EchoService, running.port) as unknown as Client;
    token = await issuer.sign({ sub: 'u-1', role: 'clinician' });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await running.stop();
    await telemetry.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, req: object, metadata: grpc.Metadata, deadlineMs = 5000) =>
    callUnary(client as unknown as Record<string, unknown>, method, req as never, metadata, {
      deadlineMs,
    }) as Promise<EchoResponse>;

  const count = (text: string, metadata: grpc.Metadata): Promise<EchoResponse[]> =>
    new Promise((resolve, reject) => {
      const out: EchoResponse[] = [];
      const stream = (
        client as unknown as {
          Count(req: object, md: grpc.Metadata): grpc.ClientReadableStream<EchoResponse>;
        }
      ).Count({ text }, metadata);
      stream.on('data', (m: EchoResponse) => out.push(m));
      stream.on('error', reject);
      stream.on('end', () => resolve(out));
    });

  it('streams through the same authentication, policy and error mapping as unary calls', async () => {
    const messages = await count('abc', clientCallMetadata({ token, correlationId: 'corr-s' }));
    expect(messages).toEqual(
      ['a', 'b', 'c'].map((text) => ({ text, principal: 'u-1', correlation_id: 'corr-s' })),
    );
    const unauthenticated = await failureOf(count('abc', new grpc.Metadata()));
    expect(unauthenticated.code).toBe(grpc.status.UNAUTHENTICATED);
    const invalid = await failureOf(count('!', clientCallMetadata({ token })));
    expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(invalid).fieldViolations.map((v) => v.field)).toEqual(['text']);
  });

  it('answers an authenticated call with the principal and the caller correlation id', async () => {
    const res = await call('Echo', { text: 'hi' }, clientCallMetadata({ token, correlationId: 'corr-42' }));
    expect(res).toEqual({ text: 'hi', principal: 'user:u-1', correlation_id: 'corr-42' });
  });

  it('records a server span under the caller trace, with only rpc attributes, and RED metrics', async () => {
    telemetry.reset();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const parentSpanId = 'b7ad6b7169203331';
    await call(
      'Echo',
      { text: 'secret PHI text' },
      clientCallMetadata({ token, traceparent: `00-${traceId}-${parentSpanId}-01` }),
    );
    await call('Fail', { kind: 'not_found' }, clientCallMetadata({ token })).catch(() => undefined);
    const [span] = telemetry.spans('haven.test.v1.EchoService/Echo');
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.parentSpanContext?.spanId).toBe(parentSpanId);
    expect(span?.attributes).toEqual({
      'rpc.service': 'haven.test.v1.EchoService',
      'rpc.method': 'Echo',
      'rpc.grpc.status_code': 0,
    });
    const [failed] = telemetry.spans('haven.test.v1.EchoService/Fail');
    expect(failed?.attributes['rpc.grpc.status_code']).toBe(grpc.status.NOT_FOUND);
    const metrics = await telemetry.metricReader.collectMetrics();
    const duration = metrics.find((m) => m.descriptor.name === 'haven.rpc.duration');
    const echoPoint = duration?.dataPoints.find(
      (p) => p.attributes['rpc.method'] === 'Echo' && p.attributes['rpc.grpc.status_code'] === 0,
    );
    expect((echoPoint?.value as { count?: number } | undefined)?.count).toBeGreaterThanOrEqual(1);
  });

  it('gives the handler the caller traceparent, and none for an empty one', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await call('Echo', { text: 'hi' }, clientCallMetadata({ token, traceparent }));
    expect(echoTraceparent).toBe(traceparent);
    const empty = clientCallMetadata({ token });
    empty.set('traceparent', '');
    await call('Echo', { text: 'hi' }, empty);
    expect(echoTraceparent).toBeUndefined();
  });

  it('makes a correlation id when the caller sends none', async () => {
    const res = await call('Echo', { text: 'hi' }, clientCallMetadata({ token }));
    expect(res.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a call without a token: UNAUTHENTICATED', async () => {
    const err = await failureOf(call('Echo', { text: 'hi' }, new grpc.Metadata()));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(parseStatusDetails(err).reason).toBe('UNAUTHENTICATED');
  });

  it('refuses a bad token: UNAUTHENTICATED', async () => {
    const other = createTestIssuer();
    const err = await failureOf(
      call('Echo', { text: 'hi' }, clientCallMetadata({ token: await other.sign({}) })),
    );
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    const expired = await failureOf(
      call('Echo', { text: 'hi' }, clientCallMetadata({ token: await issuer.sign({}, { expiresIn: -30 }) })),
    );
    expect(expired.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(expired.details).toBe('token expired');
  });

  it('lets public methods through without a token', async () => {
    const res = await call('Ping', { text: 'x' }, new grpc.Metadata());
    expect(res).toMatchObject({ text: 'pong x', principal: '' });
  });

  it('maps ValidationError to INVALID_ARGUMENT with BadRequest field violations', async () => {
    const err = await failureOf(call('Fail', { kind: 'validation' }, clientCallMetadata({ token })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    const details = parseStatusDetails(err);
    expect(details.fieldViolations).toEqual([
      { field: 'start_time', description: 'must be in the future' },
      { field: 'patient.email', description: 'must be an email address' },
    ]);
    expect(details.reason).toBe('VALIDATION');
    expect(details.domain).toBe('haven');
  });

  it('maps NotFoundError to NOT_FOUND and PermissionError to PERMISSION_DENIED', async () => {
    const notFound = await failureOf(call('Fail', { kind: 'not_found' }, clientCallMetadata({ token })));
    expect(notFound.code).toBe(grpc.status.NOT_FOUND);
    expect(notFound.details).toBe('appointment apt-1 not found');
    expect(parseStatusDetails(notFound).reason).toBe('NOT_FOUND');
    const denied = await failureOf(call('Fail', { kind: 'permission' }, clientCallMetadata({ token })));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('maps an unknown error to INTERNAL without leaking its message, to the caller or the log', async () => {
    const err = await failureOf(
      call('Fail', { kind: 'boom' }, clientCallMetadata({ token, correlationId: 'corr-boom' })),
    );
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe('internal error (correlation id corr-boom)');
    expect(JSON.stringify(parseStatusDetails(err))).not.toContain('Jane');
    expect(logs.text()).toContain('corr-boom');
    expect(logs.text()).not.toContain('Jane Doe');
    expect(logs.text()).not.toContain('1970-01-01');
  });

  it('aborts ctx.signal and answers DEADLINE_EXCEEDED when the deadline passes', async () => {
    slowEntered = deferred();
    slowRelease = deferred();
    const err = await failureOf(call('Slow', { text: 's' }, clientCallMetadata({ token }), 300));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await slowEntered.promise;
    // The server's own deadline timer fires a moment after the client's.
    await waitForAbort(slowSignal);
    expect(slowSignal?.aborted).toBe(true);
  });

  it('aborts ctx.signal when the client cancels', async () => {
    slowEntered = deferred();
    slowRelease = deferred();
    const controller = new AbortController();
    const pending = failureOf(
      callUnary(
        client as unknown as Record<string, unknown>,
        'Slow',
        { text: 's' } as never,
        clientCallMetadata({ token }),
        {
          signal: controller.signal,
        },
      ),
    );
    await slowEntered.promise;
    expect(slowSignal?.aborted).toBe(false);
    controller.abort();
    expect((await pending).code).toBe(grpc.status.CANCELLED);
    await waitForAbort(slowSignal);
    expect(slowSignal?.aborted).toBe(true);
  });

  it('serves standard health checks: SERVING for the server and each service', async () => {
    const health = grpc.loadPackageDefinition(
      protoLoader.loadSync(healthProtoPath, { enums: String }),
    ) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    const healthClient = newClient(health.grpc.health.v1.Health, running.port) as unknown as Record<
      string,
      unknown
    >;
    await expect(callUnary(healthClient, 'Check', { service: '' } as never)).resolves.toEqual({
      status: 'SERVING',
    });
    await expect(
      callUnary(healthClient, 'Check', { service: 'haven.test.v1.EchoService' } as never),
    ).resolves.toEqual({ status: 'SERVING' });
    const unknown = await failureOf(callUnary(healthClient, 'Check', { service: 'nope' } as never));
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
  });

  it('lists its services through server reflection', async () => {
    const reflectionProto = join(
      require.resolve('@grpc/reflection/package.json'),
      '..',
      'build/proto/grpc/reflection/v1/reflection.proto',
    );
    const reflection = grpc.loadPackageDefinition(
      protoLoader.loadSync(reflectionProto, { keepCase: true }),
    ) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const reflectionClient = newClient(
      reflection.grpc.reflection.v1.ServerReflection,
      running.port,
    ) as unknown as {
      ServerReflectionInfo(): grpc.ClientDuplexStream<
        object,
        { list_services_response?: { service: { name: string }[] } }
      >;
    };
    const stream = reflectionClient.ServerReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      stream.on('data', (msg: { list_services_response?: { service: { name: string }[] } }) =>
        resolve((msg.list_services_response?.service ?? []).map((s) => s.name)),
      );
      stream.on('error', reject);
      stream.write({ list_services: '*' });
    });
    stream.end();
    expect(names).toEqual(expect.arrayContaining(['haven.test.v1.EchoService', 'grpc.health.v1.Health']));
  });

  it('refuses handlers for methods that do not exist and unserved public methods', async () => {
    await expect(
      startGrpcService({
        name: 'bad',
        port: 0,
        host: '127.0.0.1',
        services: [{ definition: EchoService.service, handlers: { Ech0: handlers['Echo']! } }],
        auth: { verifier },
        authorization: 'none',
        logger,
      }),
    ).rejects.toThrow(/Ech0/);
    await expect(
      startGrpcService({
        name: 'bad',
        port: 0,
        host: '127.0.0.1',
        services: [{ definition: EchoService.service, handlers }],
        auth: { verifier, publicMethods: ['/haven.test.v1.EchoService/Nope'] },
        authorization: 'none',
        logger,
      }),
    ).rejects.toThrow(/Nope/);
  });

  it('shuts down gracefully: NOT_SERVING, waits for the in-flight call, then runs the hooks', async () => {
    const order: string[] = [];
    const service = await startGrpcService({
      name: 'drain',
      port: 0,
      host: '127.0.0.1',
      services: [{ definition: EchoService.service, handlers }],
      auth: { verifier },
      authorization: 'none',
      logger,
      shutdownGraceMs: 5000,
      onShutdown: [
        async () => {
          order.push('hook');
        },
      ],
    });
    const c = newClient(EchoService, service.port) as unknown as Record<string, unknown>;
    const health = grpc.loadPackageDefinition(
      protoLoader.loadSync(healthProtoPath, { enums: String }),
    ) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    const hc = newClient(health.grpc.health.v1.Health, service.port) as unknown as {
      Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
    };
    const watch = hc.Watch({ service: '' });
    const statuses: string[] = [];
    const serving = deferred();
    const notServing = deferred();
    watch.on('data', (m: { status: string }) => {
      statuses.push(m.status);
      if (m.status === 'SERVING') serving.resolve();
      if (m.status === 'NOT_SERVING') notServing.resolve();
    });
    watch.on('error', () => undefined);
    await serving.promise;

    slowEntered = deferred();
    slowRelease = deferred();
    const inFlight = callUnary(c, 'Slow', { text: 'drain me' } as never, clientCallMetadata({ token }), {
      deadlineMs: 10_000,
    }).then((r) => {
      order.push('call answered');
      return r;
    });
    await slowEntered.promise;
    const stopped = service.stop().then(() => order.push('stopped'));
    await notServing.promise;
    watch.cancel(); // a watch stream would otherwise hold the drain open
    expect(statuses).toEqual(['SERVING', 'NOT_SERVING']);
    // The call is still in flight and the server has not finished stopping.
    expect(order).toEqual([]);
    slowRelease.resolve();
    await expect(inFlight).resolves.toMatchObject({ text: 'drain me' });
    await stopped;
    expect(order).toEqual(['call answered', 'hook', 'stopped']);
    expect(slowSignal?.aborted).toBe(false);
  });
});
