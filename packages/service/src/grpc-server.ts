import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import {
  context,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { Meter, TextMapGetter } from '@opentelemetry/api';
import { authorize as policyAuthorize, policyOf, publicMethods as policyPublicMethods } from '@haven/auth';
import { HavenError, PermissionError, UnauthenticatedError, UnavailableError } from '@haven/errors';
import { ConsumerState, type ConsumerHealth, type ConsumerStatus } from '@haven/eventstore';
import {
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
  createRpcMetrics,
} from '@haven/telemetry';
import type { RpcMetrics } from '@haven/telemetry';
import { AccessRefusalKind, isResourceName, type AccessRefusal } from './access-refusals';
import { errorReason, grpcErrorFromHavenError } from './grpc-errors';
import { assertRequestWellFormed, tolerantDefinition } from './request-checks';
import type { Logger } from './logger';
import { actorOf, type Principal } from './principal';
import type { TokenVerifier } from './jwt';

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** The verified caller; `undefined` only on public methods. */
  readonly principal: Principal | undefined;
  readonly metadata: grpc.Metadata;
  /** From `x-correlation-id`, or a new UUID. Put it on every event this call appends. */
  readonly correlationId: string;
  /** The caller's W3C traceparent, when it sent one. */
  readonly traceparent: string | undefined;
  readonly deadline: Date | undefined;
  /** Aborted when the client cancels or the deadline passes: pass it to I/O. */
  readonly signal: AbortSignal;
  /** Full method path, `/haven.scheduling.v1.SchedulingService/BookAppointment`. */
  readonly method: string;
  readonly peer: string;
  /**
   * Records a refusal this handler decides on its own (e.g. a link used after its visit ended, which answers
   * FAILED_PRECONDITION), with this call's method, caller and correlation id; `target` defaults to the request's
   * resource name. PermissionError and UnauthenticatedError thrown by a handler are recorded by the harness
   * without this; after a call here the harness records nothing more for the call. Never throws.
   */
  recordRefusal(
    this: void,
    refusal: {
      readonly code: string;
      readonly reason: string;
      readonly target?: string;
      readonly kind?: AccessRefusalKind;
    },
  ): void;
}

/** An RPC handler: resolve with the response or throw a HavenError. It is called once and answers once. */
export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

/**
 * A server-streaming RPC handler: sends each message with `send` (which waits while the client's flow
 * control pushes back, and rejects once the call is cancelled), then resolves; or throws a HavenError.
 */
export type ServerStreamingHandler<Req, Res> = (
  request: Req,
  ctx: CallContext,
  send: (message: Res) => Promise<void>,
) => Promise<void>;

/** One gRPC service to serve: its definition (ts-proto `…Service` const or proto-loader) and handlers by method key. */
export interface ServiceRegistration {
  readonly definition: grpc.ServiceDefinition;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly handlers: Readonly<Record<string, UnaryHandler<any, any>>>;
  /** Server-streaming handlers by method key (same auth, policy, tracing and metrics as unary ones). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly streams?: Readonly<Record<string, ServerStreamingHandler<any, any>>>;
}

/**
 * How a server decides who may call what, once the caller is authenticated:
 * `policy` — the @haven/auth table (every Haven service; the default); `none` — authentication only (the
 * harness's own tests and benchmarks, whose fake services are not in the table).
 */
export type AuthorizationMode = 'policy' | 'none';

/**
 * A call the access policy (@haven/auth) refuses: PERMISSION_DENIED with ErrorInfo reason `POLICY_DENIED`,
 * raised by the harness before the handler runs.
 */
export class PolicyDeniedError extends PermissionError {
  readonly reason = 'POLICY_DENIED';
}

/** Options of {@link startGrpcService}. */
export interface GrpcServiceOptions {
  /** Service name (`scheduling`), used in logs. */
  readonly name: string;
  /** 0 = an ephemeral port (tests). */
  readonly port: number;
  /** Default `0.0.0.0`; tests use `127.0.0.1`. */
  readonly host?: string;
  readonly services: readonly ServiceRegistration[];
  readonly auth: {
    readonly verifier: TokenVerifier;
    /**
     * Full paths of methods callable without a token, e.g. `/haven.identity.v1.IdentityService/Login`. With
     * `authorization: 'policy'` the table's public methods are public anyway; each path given here must be
     * public in the table too (start-up fails otherwise).
     */
    readonly publicMethods?: readonly string[];
  };
  /**
   * Default `policy`: every call is checked against the @haven/auth table after authentication and before the
   * handler (deny by default: a method without an entry is refused with PERMISSION_DENIED `POLICY_DENIED`).
   * `none` is for the harness's own tests and benchmarks with fake services.
   */
  readonly authorization?: AuthorizationMode;
  /**
   * Told about every refused call, once per call: authentication (no, bad, expired, revoked token), the access
   * policy, a PermissionError or UnauthenticatedError thrown by the handler (ownership checks, deciders), and
   * refusals the handler records itself (`ctx.recordRefusal`). E.g. the `record` of
   * {@link createAccessRefusalRecorder} appends an event. Must not throw.
   */
  readonly onAccessRefused?: (refusal: AccessRefusal) => void;
  readonly logger: Logger;
  /** The .proto sources of `services`, for server reflection. */
  readonly protoFiles?: { readonly root: string; readonly files: readonly string[] };
  /** Run in order after the server has drained (close NATS, close the store…). */
  readonly onShutdown?: ReadonlyArray<() => Promise<void>>;
  /** How long `stop()` lets in-flight calls finish before cancelling them. Default 10 000 ms. */
  readonly shutdownGraceMs?: number;
  /** Default insecure (mTLS is the deployment's job). */
  readonly credentials?: grpc.ServerCredentials;
  /** Meter for RED metrics (`createRpcMetrics` of @haven/telemetry); default `metrics.getMeter('@haven/service')` at start time. */
  readonly meter?: Meter;
  /** Extra grpc-js server options. */
  readonly serverOptions?: grpc.ServerOptions;
  /**
   * The service's event consumers: while one of them is not live (starting, behind or down) the server's
   * overall health (`''`) and its services' health are NOT_SERVING; each consumer also has its own entry,
   * {@link consumerHealthName}. {@link LIVENESS_HEALTH_NAME} stays SERVING while the server runs.
   */
  readonly consumers?: ConsumerHealth;
}

/**
 * The health-check name that is SERVING for as long as the server runs, whatever its consumers do: for
 * liveness and start-up probes (a consumer catching up on a long backlog must not get the process killed).
 * The overall name `''` is the readiness one.
 */
export const LIVENESS_HEALTH_NAME = 'liveness';

/** The health-check name of one event consumer (`haven.consumer.session.bookings`): SERVING while it is live. */
export function consumerHealthName(consumer: string): string {
  return `haven.consumer.${consumer}`;
}

/** A running service. */
export interface RunningGrpcService {
  /** The bound port (useful with `port: 0`). */
  readonly port: number;
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  /**
   * Graceful stop, idempotent: health NOT_SERVING, stop accepting calls, wait up to the grace for in-flight
   * calls (then cancel them), then run the onShutdown hooks. Never rejects; hook failures are logged.
   */
  stop(): Promise<void>;
}

const SERVER_ERROR_CODES = new Set<grpc.status>([
  grpc.status.UNKNOWN,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.INTERNAL,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

const metadataGetter: TextMapGetter<grpc.Metadata> = {
  get(carrier, key) {
    const values = carrier.get(key);
    if (values.length === 0) return undefined;
    return values.map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
  },
  keys(carrier) {
    return Object.keys(carrier.getMap());
  },
};

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function firstString(metadata: grpc.Metadata, key: string): string | undefined {
  const v = metadata.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

function splitPath(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return { service: m?.[1] ?? 'unknown', method: m?.[2] ?? 'unknown' };
}

interface WrapDeps {
  readonly verifier: TokenVerifier;
  readonly isPublic: boolean;
  /** Undefined: authentication only (`authorization: 'none'`). */
  readonly authorize:
    | ((method: string, principal: Principal) => { allowed: true } | { allowed: false; reason: string })
    | undefined;
  readonly logger: Logger;
  readonly tracer: ReturnType<typeof trace.getTracer>;
  readonly rpcMetrics: RpcMetrics;
  readonly onAccessRefused: ((refusal: AccessRefusal) => void) | undefined;
}

function makeError(code: grpc.status, message: string): Partial<grpc.StatusObject> {
  return { code, details: message, metadata: new grpc.Metadata() };
}

/** A refused call, as reported to {@link GrpcServiceOptions.onAccessRefused} (defined in ./access-refusals). */
export type { AccessRefusal };

/** Request fields that name the resource a call is about, in the order they are looked at (AIP names). */
const RESOURCE_FIELDS = ['name', 'visit', 'appointment', 'parent', 'recording', 'patient', 'user'] as const;

/**
 * The resource a request names, for a refusal's target: the first of {@link RESOURCE_FIELDS} whose value is
 * shaped like a resource name (free text never is). Undefined when none is. Throws nothing.
 */
function resourceNameOf(request: unknown): string | undefined {
  if (typeof request !== 'object' || request === null) return undefined;
  const fields = request as Record<string, unknown>;
  for (const field of RESOURCE_FIELDS) {
    if (isResourceName(fields[field])) return fields[field];
  }
  return undefined;
}

/** Thrown after authorization for a method the service has no handler for: UNIMPLEMENTED. */
class NotImplementedSignal extends Error {}

/** The parts of a unary or server-streaming call the wrapper reads. */
type IncomingCall = Pick<
  grpc.ServerUnaryCall<unknown, unknown>,
  'metadata' | 'request' | 'getDeadline' | 'getPeer' | 'once' | 'removeListener'
>;
type Answer = (error: Partial<grpc.StatusObject> | null, response?: unknown) => void;

/**
 * Wraps a handler (or, when `handler` is undefined, a method the service does not implement: UNIMPLEMENTED once
 * the caller is authenticated and authorized) with auth, policy, tracing, metrics and deadlines.
 */
// eslint-disable-next-line max-lines-per-function -- follow-up (issue 12): auth, policy, tracing, answer in steps
function wrapUnary(
  path: string,
  handler: ((request: unknown, ctx: CallContext, call: IncomingCall) => Promise<unknown>) | undefined,
  deps: WrapDeps,
): (call: IncomingCall, callback: Answer) => void {
  const { service, method } = splitPath(path);
  const spanName = `${service}/${method}`;
  const baseAttributes = { [ATTR_RPC_SERVICE]: service, [ATTR_RPC_METHOD]: method };

  // eslint-disable-next-line max-lines-per-function -- the same follow-up as wrapUnary
  return (call, callback) => {
    const started = performance.now();
    const metadata = call.metadata;
    const rawCorrelation = firstString(metadata, 'x-correlation-id');
    const correlationId =
      rawCorrelation !== undefined && CORRELATION_ID.test(rawCorrelation) ? rawCorrelation : randomUUID();
    const traceparent = firstString(metadata, 'traceparent');
    const parent =
      traceparent !== undefined ? propagation.extract(ROOT_CONTEXT, metadata, metadataGetter) : ROOT_CONTEXT;
    const span = deps.tracer.startSpan(
      spanName,
      { kind: SpanKind.SERVER, attributes: baseAttributes },
      parent,
    );
    // The AbortController is made only when the handler asks for `ctx.signal` (most never do).
    let controller: AbortController | undefined;
    let abortReason: Error | undefined;
    const abort = (reason: Error): void => {
      if (abortReason) return;
      abortReason = reason;
      controller?.abort(reason);
    };
    let timer: NodeJS.Timeout | undefined;
    let answered = false;

    const answer = (error: Partial<grpc.StatusObject> | null, response?: unknown, cause?: unknown): void => {
      if (answered) return;
      answered = true;
      if (timer) clearTimeout(timer);
      call.removeListener('cancelled', onCancelled);
      const code = error?.code ?? grpc.status.OK;
      span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
      if (SERVER_ERROR_CODES.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      const durationMs = performance.now() - started;
      deps.rpcMetrics.record(service, method, code, durationMs);
      if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) {
        deps.logger.error({ rpc: path, code, durationMs, correlationId, err: cause }, 'rpc failed');
      } else if (deps.logger.isLevelEnabled('debug')) {
        deps.logger.debug({ rpc: path, code, durationMs, correlationId }, 'rpc');
      }
      try {
        if (error) callback(error);
        else callback(null, response);
      } catch (callbackError) {
        deps.logger.warn({ rpc: path, correlationId, err: callbackError }, 'could not send the answer');
      }
    };

    function onCancelled(): void {
      abort(new Error('cancelled by the client'));
      answer(makeError(grpc.status.CANCELLED, 'cancelled'));
    }
    call.once('cancelled', onCancelled);

    const rawDeadline = call.getDeadline();
    const deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
    const deadline = Number.isFinite(deadlineMs) ? new Date(deadlineMs) : undefined;
    if (deadline) {
      const remaining = deadlineMs - Date.now();
      if (remaining <= 0) {
        abort(new Error('deadline exceeded'));
        answer(makeError(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded'));
        return;
      }
      timer = setTimeout(() => {
        abort(new Error('deadline exceeded'));
        answer(makeError(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded'));
      }, remaining);
      timer.unref();
    }

    // Each call reports at most one refusal: the first check that said no.
    let refusalReported = false;
    let caller: Principal | undefined;
    const report = (refusal: AccessRefusal): void => {
      if (refusalReported) return;
      refusalReported = true;
      if (!deps.onAccessRefused) return;
      try {
        deps.onAccessRefused(refusal);
      } catch (error) {
        deps.logger.warn({ err: error }, 'access refusal hook failed');
      }
    };
    const refuse = (error: HavenError): HavenError => {
      if (error instanceof UnauthenticatedError) {
        report({
          method: path,
          kind: 'unauthenticated',
          reason: error.message,
          code: 'UNAUTHENTICATED',
          correlationId,
        });
      }
      return error;
    };
    /** A refusal the handler raised (PermissionError, UnauthenticatedError) or recorded itself. */
    const reportFromHandler = (refusal: {
      readonly code: string;
      readonly reason: string;
      readonly target?: string | undefined;
      readonly kind: AccessRefusalKind;
    }): void => {
      const target = refusal.target ?? resourceNameOf(call.request);
      report({
        method: path,
        kind: refusal.kind,
        reason: refusal.reason,
        code: refusal.code,
        ...(target !== undefined ? { target } : {}),
        ...(caller ? { principal: actorOf(caller) } : {}),
        correlationId,
      });
    };
    const authorize = (principal: Principal): void => {
      if (!deps.authorize) return;
      const decision = deps.authorize(path, principal);
      if (decision.allowed) return;
      deps.logger.info(
        { rpc: path, correlationId, principalKind: principal.kind, role: principal.role },
        'call refused by the access policy',
      );
      const target = resourceNameOf(call.request);
      report({
        method: path,
        kind: 'policy',
        reason: decision.reason,
        code: 'POLICY_DENIED',
        ...(target !== undefined ? { target } : {}),
        principal: actorOf(principal),
        correlationId,
      });
      throw new PolicyDeniedError(decision.reason);
    };
    const invoke = (principal: Principal | undefined): unknown => {
      // Undecodable bytes and out-of-range Timestamps: INVALID_ARGUMENT, after authentication and policy.
      assertRequestWellFormed(call.request);
      if (!handler) throw new NotImplementedSignal(`${path} is not implemented`);
      caller = principal;
      const ctx: CallContext = {
        principal,
        metadata,
        correlationId,
        traceparent,
        deadline,
        get signal(): AbortSignal {
          if (!controller) {
            controller = new AbortController();
            if (abortReason) controller.abort(abortReason);
          }
          return controller.signal;
        },
        method: path,
        get peer(): string {
          return call.getPeer();
        },
        recordRefusal: (refusal) => {
          try {
            reportFromHandler({ ...refusal, kind: refusal.kind ?? AccessRefusalKind.State });
          } catch (error) {
            deps.logger.warn({ err: error }, 'access refusal not reported');
          }
        },
      };
      return handler(call.request, ctx, call);
    };
    // Authenticate, authorize, run the handler. A caller whose token is already verified (the usual case)
    // goes straight through without an asynchronous step; otherwise the token is verified first.
    const run = (): unknown => {
      if (deps.isPublic) return invoke(undefined);
      const auth = firstString(metadata, 'authorization');
      const m = auth !== undefined ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
      const token = m?.[1];
      if (!token) throw refuse(new UnauthenticatedError('missing bearer token'));
      const known = deps.verifier.verifyCached?.(token);
      if (known) {
        authorize(known);
        return invoke(known);
      }
      return deps.verifier.verify(token).then(
        (principal) => {
          authorize(principal);
          return invoke(principal);
        },
        (error: unknown) => {
          if (error instanceof HavenError) throw refuse(error);
          throw refuse(new UnauthenticatedError('invalid token', { cause: error }));
        },
      );
    };
    const fail = (error: unknown): void => {
      // A handler's (or its decider's) PermissionError or UnauthenticatedError is a refusal too: recorded here,
      // once, for every handler (a refusal already reported for this call is not reported again).
      if (!refusalReported && (error instanceof PermissionError || error instanceof UnauthenticatedError)) {
        reportFromHandler({
          kind:
            error instanceof PermissionError
              ? AccessRefusalKind.Permission
              : AccessRefusalKind.Unauthenticated,
          code: errorReason(error),
          reason: error.message,
        });
      }
      if (error instanceof NotImplementedSignal) answer(makeError(grpc.status.UNIMPLEMENTED, error.message));
      else answer(grpcErrorFromHavenError(error, { correlationId }), undefined, error);
    };
    let result: unknown;
    try {
      result = context.with(trace.setSpan(parent, span), run);
    } catch (error) {
      fail(error);
      return;
    }
    if (isPromiseLike(result)) result.then((response) => answer(null, response), fail);
    else answer(null, result);
  };
}

/** A wrapped call answered as a server stream: the error as the stream's status, or the end of the stream. */
function asServerStream(
  wrapped: (call: IncomingCall, callback: Answer) => void,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) =>
    wrapped(call, (error) => {
      if (error) call.emit('error', error);
      else call.end();
    });
}

/** `send` for a server stream: writes, waits for 'drain' when the buffer is full, rejects once cancelled. */
function writerFor(call: grpc.ServerWritableStream<unknown, unknown>): (message: unknown) => Promise<void> {
  return (message) =>
    new Promise<void>((resolve, reject) => {
      if (call.cancelled) {
        reject(new UnavailableError('the client cancelled the stream'));
        return;
      }
      if (call.write(message)) {
        resolve();
        return;
      }
      const done = (error?: Error): void => {
        call.removeListener('drain', onDrain);
        call.removeListener('cancelled', onCancel);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = (): void => done();
      const onCancel = (): void => done(new UnavailableError('the client cancelled the stream'));
      call.once('drain', onDrain);
      call.once('cancelled', onCancel);
    });
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

function serviceNameOf(definition: grpc.ServiceDefinition): string {
  const first = Object.values(definition)[0];
  if (!first) throw new TypeError('startGrpcService: a service definition has no methods');
  return splitPath(first.path).service;
}

/**
 * Starts a gRPC server the Haven way: every unary handler wrapped once (bearer-token auth unless public, then
 * the @haven/auth access policy before the handler runs — PERMISSION_DENIED `POLICY_DENIED`, deny by default —
 * correlation id, OpenTelemetry server span with the caller's trace as parent, RED metrics, deadline and
 * cancellation → `ctx.signal`, HavenError → gRPC status with google.rpc.Status details; undecodable request bytes
 * and out-of-range Timestamps → INVALID_ARGUMENT with a field violation, before the handler), plus the standard
 * health service (SERVING for '' and each service) and server reflection.
 * Methods of a definition without a handler authenticate and authorize too, then answer UNIMPLEMENTED.
 * Throws TypeError when a handler names a method the definition lacks, a handler is given for a streaming
 * method, a declared public method path is not served or (policy mode) not public in the table; rejects when
 * the port cannot be bound.
 */
// eslint-disable-next-line max-lines-per-function -- follow-up (issue 12): split checks of the table from the bind
export async function startGrpcService(options: GrpcServiceOptions): Promise<RunningGrpcService> {
  const { logger } = options;
  const tracer = trace.getTracer('@haven/service');
  const meter = options.meter ?? metrics.getMeter('@haven/service');
  const rpcMetrics = createRpcMetrics(meter);
  const mode: AuthorizationMode = options.authorization ?? 'policy';
  const declaredPublic = new Set(options.auth.publicMethods ?? []);
  const tablePublic = new Set(mode === 'policy' ? policyPublicMethods() : []);
  if (mode === 'policy') {
    for (const p of declaredPublic) {
      if (!tablePublic.has(p)) {
        throw new TypeError(
          `startGrpcService: public method ${p} is not public in the access policy (@haven/auth POLICY)`,
        );
      }
    }
  }
  const isPublic = (path: string): boolean => declaredPublic.has(path) || tablePublic.has(path);
  const server = new grpc.Server(options.serverOptions);
  const served = new Set<string>();
  const serviceNames: string[] = [];
  const deps = {
    verifier: options.auth.verifier,
    authorize: mode === 'policy' ? policyAuthorize : undefined,
    logger,
    tracer,
    rpcMetrics,
    onAccessRefused: options.onAccessRefused,
  };

  for (const registration of options.services) {
    const { definition, handlers } = registration;
    serviceNames.push(serviceNameOf(definition));
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [key, handler] of Object.entries(handlers)) {
      const methodDef = definition[key];
      if (!methodDef)
        throw new TypeError(`startGrpcService: handler "${key}" has no method in the service definition`);
      if (methodDef.requestStream || methodDef.responseStream) {
        throw new TypeError(
          `startGrpcService: ${methodDef.path} is streaming; only unary handlers are supported`,
        );
      }
      served.add(methodDef.path);
      implementation[key] = wrapUnary(methodDef.path, handler as UnaryHandler<unknown, unknown>, {
        ...deps,
        isPublic: isPublic(methodDef.path),
      }) as grpc.handleUnaryCall<unknown, unknown>;
    }
    for (const [key, handler] of Object.entries(registration.streams ?? {})) {
      const methodDef = definition[key];
      if (!methodDef || methodDef.requestStream || !methodDef.responseStream) {
        throw new TypeError(`startGrpcService: stream handler "${key}" has no server-streaming method`);
      }
      served.add(methodDef.path);
      const stream = handler as ServerStreamingHandler<unknown, unknown>;
      const wrapped = wrapUnary(
        methodDef.path,
        async (request, ctx, call) => {
          await stream(request, ctx, writerFor(call as grpc.ServerWritableStream<unknown, unknown>));
        },
        { ...deps, isPublic: isPublic(methodDef.path) },
      );
      implementation[key] = asServerStream(wrapped);
    }
    // Methods without a handler still authenticate and authorize before answering UNIMPLEMENTED, so the
    // policy holds for every method of the contract (and a probe learns nothing without the right token).
    for (const [key, methodDef] of Object.entries(definition)) {
      if (implementation[key] !== undefined || methodDef.requestStream) continue;
      const unimplemented = wrapUnary(methodDef.path, undefined, {
        ...deps,
        isPublic: isPublic(methodDef.path),
      });
      if (!methodDef.responseStream) {
        implementation[key] = unimplemented as grpc.handleUnaryCall<unknown, unknown>;
      } else {
        implementation[key] = asServerStream(unimplemented);
      }
    }
    if (mode === 'policy' && logger.isLevelEnabled('warn')) {
      const unlisted = Object.values(definition)
        .map((m) => m.path)
        .filter((p) => policyOf(p) === undefined);
      if (unlisted.length > 0) {
        logger.warn({ methods: unlisted }, 'methods without an access policy entry: every call is refused');
      }
    }
    server.addService(tolerantDefinition(definition), implementation);
  }
  for (const p of declaredPublic) {
    if (!served.has(p)) throw new TypeError(`startGrpcService: public method ${p} is not served`);
  }

  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    ...Object.fromEntries(serviceNames.map((n) => [n, 'NOT_SERVING'])),
  });
  health.addToServer(server);

  const reflectionFiles = [
    ...(options.protoFiles?.files ?? []).map((f) =>
      f.startsWith('/') ? f : `${options.protoFiles?.root}/${f}`,
    ),
    healthProtoPath,
  ];
  const packageDefinition = protoLoader.loadSync(reflectionFiles, {
    includeDirs: options.protoFiles ? [options.protoFiles.root] : [],
    keepCase: true,
  });
  new ReflectionService(packageDefinition).addToServer(server);

  const host = options.host ?? '0.0.0.0';
  const address = host.includes(':') ? `[${host}]:${options.port}` : `${host}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      address,
      options.credentials ?? grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    );
  });
  // Readiness ('' and the services) follows the consumers; liveness only the server itself.
  const consumers = options.consumers;
  let running = true;
  const applyReadiness = (): void => {
    const status = running && (consumers?.ready ?? true) ? 'SERVING' : 'NOT_SERVING';
    for (const n of ['', ...serviceNames]) health.setStatus(n, status);
  };
  const applyConsumer = (s: ConsumerStatus): void =>
    health.setStatus(consumerHealthName(s.name), s.state === ConsumerState.Live ? 'SERVING' : 'NOT_SERVING');
  for (const s of consumers?.statuses() ?? []) applyConsumer(s);
  const unsubscribeConsumers = consumers?.onChange((s) => {
    if (!running) return;
    applyConsumer(s);
    applyReadiness();
  });
  health.setStatus(LIVENESS_HEALTH_NAME, 'SERVING');
  applyReadiness();
  logger.info({ port, services: serviceNames }, `${options.name} gRPC server listening`);

  const grace = options.shutdownGraceMs ?? 10_000;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      running = false;
      unsubscribeConsumers?.();
      for (const n of ['', LIVENESS_HEALTH_NAME, ...serviceNames]) health.setStatus(n, 'NOT_SERVING');
      logger.info({ graceMs: grace }, `${options.name} gRPC server draining`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ graceMs: grace }, 'grace period over; cancelling in-flight calls');
          server.forceShutdown();
          resolve();
        }, grace);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      for (const hook of options.onShutdown ?? []) {
        try {
          await hook();
        } catch (error) {
          logger.error({ err: error }, 'shutdown hook failed');
        }
      }
      logger.info(`${options.name} gRPC server stopped`);
    })();
    return stopping;
  };

  return { port, server, health, stop };
}
