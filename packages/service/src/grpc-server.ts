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
import type { Attributes, Context, Meter, Span, TextMapGetter } from '@opentelemetry/api';
import {
  PrincipalKind,
  authorize as policyAuthorize,
  authorizePeer,
  policyOf,
  publicMethods as policyPublicMethods,
} from '@haven/auth';
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
import type { MutualTls } from './tls';

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** The verified caller; `undefined` only on public methods. */
  readonly principal: Principal | undefined;
  readonly metadata: grpc.Metadata;
  /** From `x-correlation-id`, or a new UUID. Put it on every event this call appends. */
  readonly correlationId: string;
  /** The caller's W3C traceparent, when it sent a non-empty one. */
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

/**
 * A call whose client certificate names a workload the peer table (@haven/auth `PEER_POLICY`) does not let call
 * this service: PERMISSION_DENIED with ErrorInfo reason `PEER_DENIED`, raised before the token is looked at.
 */
export class PeerDeniedError extends PermissionError {
  readonly reason = 'PEER_DENIED';
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
  /**
   * Mutual TLS (see mutualTlsOf): the server binds with its credentials (TLS 1.3, a client certificate of the
   * CA required, files re-read as they rotate) and, with `authorization: 'policy'`, every call's client
   * certificate must name a workload @haven/auth's peer table lets call the service (PERMISSION_DENIED
   * `PEER_DENIED`, recorded as a refusal, before the token). Wins over `credentials`.
   */
  readonly mtls?: MutualTls;
  /** Default insecure; ignored with `mtls`. */
  readonly credentials?: grpc.ServerCredentials;
  /**
   * A second, plaintext port serving grpc.health.v1 alone (no Haven RPC), for probes that cannot present a
   * client certificate (the kubelet's gRPC probe). Default none.
   */
  readonly healthPort?: number;
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
  /** The caller's workload from its client certificate (mutual TLS with the peer table); undefined: no check. */
  readonly peerOf: ((call: IncomingCall) => string | undefined) | undefined;
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
  'metadata' | 'request' | 'getDeadline' | 'getPeer' | 'getAuthContext' | 'once' | 'removeListener'
>;
type Answer = (error: Partial<grpc.StatusObject> | null, response?: unknown) => void;

/** A method's handler as the wrapper calls it (a server stream's handler reads `call` to write). */
type MethodHandler = (request: unknown, ctx: CallContext, call: IncomingCall) => Promise<unknown>;

/** What every call of one wrapped method shares. */
interface WrappedMethod {
  /** Full method path, `/haven.scheduling.v1.SchedulingService/BookAppointment`. */
  readonly path: string;
  readonly service: string;
  readonly method: string;
  readonly spanName: string;
  readonly baseAttributes: Attributes;
  /** Undefined: a method the service does not implement. */
  readonly handler: MethodHandler | undefined;
  readonly deps: WrapDeps;
}

/**
 * Wraps a handler (or, when `handler` is undefined, a method the service does not implement: UNIMPLEMENTED once
 * the caller is authenticated and authorized) with auth, policy, tracing, metrics and deadlines.
 */
function wrapUnary(
  path: string,
  handler: MethodHandler | undefined,
  deps: WrapDeps,
): (call: IncomingCall, callback: Answer) => void {
  const { service, method } = splitPath(path);
  const target: WrappedMethod = {
    path,
    service,
    method,
    spanName: `${service}/${method}`,
    baseAttributes: { [ATTR_RPC_SERVICE]: service, [ATTR_RPC_METHOD]: method },
    handler,
    deps,
  };
  return (call, callback) => new ServerCall(target, call, callback).start();
}

/** The `Bearer` token of a call's `authorization` metadata, or undefined. */
function bearerToken(metadata: grpc.Metadata): string | undefined {
  const auth = firstString(metadata, 'authorization');
  const m = auth !== undefined ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m?.[1];
}

/** A refusal the handler raised (PermissionError, UnauthenticatedError) or recorded itself. */
interface HandlerRefusal {
  readonly code: string;
  readonly reason: string;
  readonly target?: string | undefined;
  readonly kind: AccessRefusalKind;
}

/**
 * One call through the harness, in steps: the span and correlation id (constructor), cancellation and the
 * deadline, authentication, the access policy, the handler, then exactly one answer with its span status,
 * metrics and log line. Each call reports at most one refusal: the first check that said no.
 */
class ServerCall {
  private readonly started = performance.now();
  private readonly correlationId: string;
  private readonly traceparent: string | undefined;
  private readonly parent: Context;
  private readonly span: Span;
  private deadline: Date | undefined;
  /** Made only when the handler asks for `ctx.signal` (most never do). */
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private answered = false;
  private refusalReported = false;
  private caller: Principal | undefined;

  constructor(
    private readonly target: WrappedMethod,
    private readonly call: IncomingCall,
    private readonly callback: Answer,
  ) {
    const metadata = call.metadata;
    const rawCorrelation = firstString(metadata, 'x-correlation-id');
    this.correlationId =
      rawCorrelation !== undefined && CORRELATION_ID.test(rawCorrelation) ? rawCorrelation : randomUUID();
    // An empty header is no trace context (W3C): the handler gets none, and no event stores ''.
    this.traceparent = firstString(metadata, 'traceparent') || undefined;
    this.parent =
      this.traceparent !== undefined
        ? propagation.extract(ROOT_CONTEXT, metadata, metadataGetter)
        : ROOT_CONTEXT;
    this.span = target.deps.tracer.startSpan(
      target.spanName,
      { kind: SpanKind.SERVER, attributes: target.baseAttributes },
      this.parent,
    );
  }

  /** Runs the call to its one answer. */
  start(): void {
    this.call.once('cancelled', this.onCancelled);
    if (!this.armDeadline()) return;
    let result: unknown;
    try {
      result = context.with(trace.setSpan(this.parent, this.span), () => this.authenticateAndInvoke());
    } catch (error) {
      this.fail(error);
      return;
    }
    if (isPromiseLike(result)) result.then((response) => this.answer(null, response), this.fail);
    else this.answer(null, result);
  }

  /** Starts the deadline's timer; answers DEADLINE_EXCEEDED and returns false when it has already passed. */
  private armDeadline(): boolean {
    const rawDeadline = this.call.getDeadline();
    const deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
    if (!Number.isFinite(deadlineMs)) return true;
    this.deadline = new Date(deadlineMs);
    const remaining = deadlineMs - Date.now();
    if (remaining <= 0) {
      this.deadlineExceeded();
      return false;
    }
    this.timer = setTimeout(() => this.deadlineExceeded(), remaining);
    this.timer.unref();
    return true;
  }

  private deadlineExceeded(): void {
    this.abort(new Error('deadline exceeded'));
    this.answer(makeError(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded'));
  }

  private readonly onCancelled = (): void => {
    this.abort(new Error('cancelled by the client'));
    this.answer(makeError(grpc.status.CANCELLED, 'cancelled'));
  };

  private abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  private signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /**
   * Authenticate, authorize, run the handler. A caller whose token is already verified (the usual case) goes
   * straight through without an asynchronous step; otherwise the token is verified first.
   */
  private authenticateAndInvoke(): unknown {
    const { deps } = this.target;
    this.checkPeer();
    if (deps.isPublic) return this.invoke(undefined);
    const token = bearerToken(this.call.metadata);
    if (!token) throw this.refuse(new UnauthenticatedError('missing bearer token'));
    const known = deps.verifier.verifyCached?.(token);
    if (known) return this.authorizeAndInvoke(known);
    return deps.verifier.verify(token).then(
      (principal) => this.authorizeAndInvoke(principal),
      (error: unknown) => {
        if (error instanceof HavenError) throw this.refuse(error);
        throw this.refuse(new UnauthenticatedError('invalid token', { cause: error }));
      },
    );
  }

  /**
   * The workload of the caller's client certificate against the peer table (public methods too: the transport
   * is checked before anything else); throws PeerDeniedError (reported as a refusal) when it may not call.
   */
  private checkPeer(): void {
    const { path, deps } = this.target;
    if (!deps.peerOf) return;
    const workload = deps.peerOf(this.call);
    const decision = authorizePeer(path, workload);
    if (decision.allowed) return;
    deps.logger.warn(
      { rpc: path, correlationId: this.correlationId, workload },
      'call refused: the client certificate names a workload that may not call this service',
    );
    this.report({
      method: path,
      kind: AccessRefusalKind.Policy,
      reason: decision.reason,
      code: 'PEER_DENIED',
      ...(workload !== undefined ? { principal: { kind: PrincipalKind.Service, id: workload } } : {}),
      correlationId: this.correlationId,
    });
    throw new PeerDeniedError(decision.reason);
  }

  private authorizeAndInvoke(principal: Principal): unknown {
    this.authorize(principal);
    return this.invoke(principal);
  }

  /** The access policy's decision; throws PolicyDeniedError (reported as a refusal) when it says no. */
  private authorize(principal: Principal): void {
    const { path, deps } = this.target;
    if (!deps.authorize) return;
    const decision = deps.authorize(path, principal);
    if (decision.allowed) return;
    deps.logger.info(
      { rpc: path, correlationId: this.correlationId, principalKind: principal.kind, role: principal.role },
      'call refused by the access policy',
    );
    const target = resourceNameOf(this.call.request);
    this.report({
      method: path,
      kind: 'policy',
      reason: decision.reason,
      code: 'POLICY_DENIED',
      ...(target !== undefined ? { target } : {}),
      principal: actorOf(principal),
      correlationId: this.correlationId,
    });
    throw new PolicyDeniedError(decision.reason);
  }

  private invoke(principal: Principal | undefined): unknown {
    const { path, handler } = this.target;
    // Undecodable bytes and out-of-range Timestamps: INVALID_ARGUMENT, after authentication and policy.
    assertRequestWellFormed(this.call.request);
    if (!handler) throw new NotImplementedSignal(`${path} is not implemented`);
    this.caller = principal;
    return handler(this.call.request, this.contextFor(principal), this.call);
  }

  /** The handler's view of the call. */
  private contextFor(principal: Principal | undefined): CallContext {
    const call = this.call;
    const signal = (): AbortSignal => this.signal();
    return {
      principal,
      metadata: call.metadata,
      correlationId: this.correlationId,
      traceparent: this.traceparent,
      deadline: this.deadline,
      get signal(): AbortSignal {
        return signal();
      },
      method: this.target.path,
      get peer(): string {
        return call.getPeer();
      },
      recordRefusal: (refusal) => {
        try {
          this.reportFromHandler({ ...refusal, kind: refusal.kind ?? AccessRefusalKind.State });
        } catch (error) {
          this.target.deps.logger.warn({ err: error }, 'access refusal not reported');
        }
      },
    };
  }

  private report(refusal: AccessRefusal): void {
    if (this.refusalReported) return;
    this.refusalReported = true;
    const { deps } = this.target;
    if (!deps.onAccessRefused) return;
    try {
      deps.onAccessRefused(refusal);
    } catch (error) {
      deps.logger.warn({ err: error }, 'access refusal hook failed');
    }
  }

  /** Reports an authentication failure; returns the error to throw. */
  private refuse(error: HavenError): HavenError {
    if (error instanceof UnauthenticatedError) {
      this.report({
        method: this.target.path,
        kind: 'unauthenticated',
        reason: error.message,
        code: 'UNAUTHENTICATED',
        correlationId: this.correlationId,
      });
    }
    return error;
  }

  private reportFromHandler(refusal: HandlerRefusal): void {
    const target = refusal.target ?? resourceNameOf(this.call.request);
    this.report({
      method: this.target.path,
      kind: refusal.kind,
      reason: refusal.reason,
      code: refusal.code,
      ...(target !== undefined ? { target } : {}),
      ...(this.caller ? { principal: actorOf(this.caller) } : {}),
      correlationId: this.correlationId,
    });
  }

  private readonly fail = (error: unknown): void => {
    // A handler's (or its decider's) PermissionError or UnauthenticatedError is a refusal too: recorded here,
    // once, for every handler (a refusal already reported for this call is not reported again).
    if (
      !this.refusalReported &&
      (error instanceof PermissionError || error instanceof UnauthenticatedError)
    ) {
      this.reportFromHandler({
        kind:
          error instanceof PermissionError ? AccessRefusalKind.Permission : AccessRefusalKind.Unauthenticated,
        code: errorReason(error),
        reason: error.message,
      });
    }
    if (error instanceof NotImplementedSignal)
      this.answer(makeError(grpc.status.UNIMPLEMENTED, error.message));
    else this.answer(grpcErrorFromHavenError(error, { correlationId: this.correlationId }), undefined, error);
  };

  /** Answers once (later calls are ignored): ends the span, records the metrics, logs, calls back. */
  private answer(error: Partial<grpc.StatusObject> | null, response?: unknown, cause?: unknown): void {
    if (this.answered) return;
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
    this.call.removeListener('cancelled', this.onCancelled);
    const { path, service, method, deps } = this.target;
    const code = error?.code ?? grpc.status.OK;
    this.span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
    if (SERVER_ERROR_CODES.has(code)) this.span.setStatus({ code: SpanStatusCode.ERROR });
    this.span.end();
    const durationMs = performance.now() - this.started;
    deps.rpcMetrics.record(service, method, code, durationMs);
    const correlationId = this.correlationId;
    if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) {
      deps.logger.error({ rpc: path, code, durationMs, correlationId, err: cause }, 'rpc failed');
    } else if (deps.logger.isLevelEnabled('debug')) {
      deps.logger.debug({ rpc: path, code, durationMs, correlationId }, 'rpc');
    }
    try {
      if (error) this.callback(error);
      else this.callback(null, response);
    } catch (callbackError) {
      deps.logger.warn({ rpc: path, correlationId, err: callbackError }, 'could not send the answer');
    }
  }
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

/** The public-method check: declared paths must be public in the table too (policy mode). Throws TypeError. */
function publicMethodCheck(
  mode: AuthorizationMode,
  declaredPublic: ReadonlySet<string>,
): (path: string) => boolean {
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
  return (path) => declaredPublic.has(path) || tablePublic.has(path);
}

/**
 * One service's implementation: its unary and server-streaming handlers wrapped, and every other method of its
 * definition answering UNIMPLEMENTED after authentication and policy. Adds each handled path to `served`.
 * Throws TypeError when a handler names a method the definition lacks or of the wrong kind.
 */
function implementationOf(
  registration: ServiceRegistration,
  depsFor: (path: string) => WrapDeps,
  served: Set<string>,
): grpc.UntypedServiceImplementation {
  const { definition, handlers } = registration;
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
    implementation[key] = wrapUnary(
      methodDef.path,
      handler as UnaryHandler<unknown, unknown>,
      depsFor(methodDef.path),
    ) as grpc.handleUnaryCall<unknown, unknown>;
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
      depsFor(methodDef.path),
    );
    implementation[key] = asServerStream(wrapped);
  }
  // Methods without a handler still authenticate and authorize before answering UNIMPLEMENTED, so the
  // policy holds for every method of the contract (and a probe learns nothing without the right token).
  for (const [key, methodDef] of Object.entries(definition)) {
    if (implementation[key] !== undefined || methodDef.requestStream) continue;
    const unimplemented = wrapUnary(methodDef.path, undefined, depsFor(methodDef.path));
    if (!methodDef.responseStream) {
      implementation[key] = unimplemented as grpc.handleUnaryCall<unknown, unknown>;
    } else {
      implementation[key] = asServerStream(unimplemented);
    }
  }
  return implementation;
}

/** Logs the methods of a definition the access policy has no entry for (every call to them is refused). */
function warnUnlisted(definition: grpc.ServiceDefinition, logger: Logger): void {
  if (!logger.isLevelEnabled('warn')) return;
  const unlisted = Object.values(definition)
    .map((m) => m.path)
    .filter((p) => policyOf(p) === undefined);
  if (unlisted.length > 0) {
    logger.warn({ methods: unlisted }, 'methods without an access policy entry: every call is refused');
  }
}

/** Server reflection over the services' .proto sources and the health service's. */
function addReflection(server: grpc.Server, protoFiles: GrpcServiceOptions['protoFiles']): void {
  const reflectionFiles = [
    ...(protoFiles?.files ?? []).map((f) => (f.startsWith('/') ? f : `${protoFiles?.root}/${f}`)),
    healthProtoPath,
  ];
  const packageDefinition = protoLoader.loadSync(reflectionFiles, {
    includeDirs: protoFiles ? [protoFiles.root] : [],
    keepCase: true,
  });
  new ReflectionService(packageDefinition).addToServer(server);
}

/** How long a server waits for its certificate files at start before it gives up. */
const TLS_LOAD_TIMEOUT_MS = 10_000;

/**
 * Binds the server to `host:port` with mutual TLS, the given credentials or none (in that order); resolves
 * with the port.
 */
async function bind(
  server: grpc.Server,
  options: Pick<GrpcServiceOptions, 'host' | 'port' | 'mtls' | 'credentials'>,
): Promise<number> {
  const host = options.host ?? '0.0.0.0';
  const address = host.includes(':') ? `[${host}]:${options.port}` : `${host}:${options.port}`;
  const mtls = options.mtls?.serverCredentials();
  const credentials = mtls ?? options.credentials ?? grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  // The certificate files are read after the bind; the port is not announced before they are.
  if (mtls && options.mtls) {
    await mtls.whenLoaded(TLS_LOAD_TIMEOUT_MS, options.mtls.description).catch((error: unknown) => {
      server.forceShutdown();
      throw error;
    });
  }
  return port;
}

/** The plaintext health-only server on `healthPort` (see GrpcServiceOptions.healthPort), or undefined. */
async function serveHealthOnly(
  health: HealthImplementation,
  options: GrpcServiceOptions,
): Promise<grpc.Server | undefined> {
  if (options.healthPort === undefined) return undefined;
  const server = new grpc.Server();
  health.addToServer(server);
  await bind(server, { ...(options.host ? { host: options.host } : {}), port: options.healthPort });
  return server;
}

/**
 * Health that follows the server and its consumers: readiness ('' and the services) follows the consumers,
 * liveness only the server itself, each consumer its own entry. `stop()` turns every entry NOT_SERVING for good.
 */
function trackHealth(
  health: HealthImplementation,
  consumers: ConsumerHealth | undefined,
  serviceNames: readonly string[],
): { stop(): void } {
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
  return {
    stop: () => {
      running = false;
      unsubscribeConsumers?.();
      for (const n of ['', LIVENESS_HEALTH_NAME, ...serviceNames]) health.setStatus(n, 'NOT_SERVING');
    },
  };
}

/** Lets in-flight calls finish for up to `graceMs`, then cancels the rest. Never rejects. */
function drain(server: grpc.Server, graceMs: number, logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ graceMs }, 'grace period over; cancelling in-flight calls');
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Runs the hooks in order; a failing hook is logged and the next one still runs. */
async function runShutdownHooks(hooks: ReadonlyArray<() => Promise<void>>, logger: Logger): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (error) {
      logger.error({ err: error }, 'shutdown hook failed');
    }
  }
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
export async function startGrpcService(options: GrpcServiceOptions): Promise<RunningGrpcService> {
  const { logger } = options;
  const tracer = trace.getTracer('@haven/service');
  const meter = options.meter ?? metrics.getMeter('@haven/service');
  const rpcMetrics = createRpcMetrics(meter);
  const mode: AuthorizationMode = options.authorization ?? 'policy';
  const declaredPublic = new Set(options.auth.publicMethods ?? []);
  const isPublic = publicMethodCheck(mode, declaredPublic);
  const server = new grpc.Server(options.serverOptions);
  const served = new Set<string>();
  const serviceNames: string[] = [];
  const mtls = options.mtls;
  const deps = {
    verifier: options.auth.verifier,
    authorize: mode === 'policy' ? policyAuthorize : undefined,
    logger,
    tracer,
    rpcMetrics,
    onAccessRefused: options.onAccessRefused,
    peerOf:
      mtls && mode === 'policy'
        ? (call: IncomingCall) => mtls.workloadOf(call.getAuthContext()?.sslPeerCertificate)
        : undefined,
  };
  const depsFor = (path: string): WrapDeps => ({ ...deps, isPublic: isPublic(path) });

  for (const registration of options.services) {
    serviceNames.push(serviceNameOf(registration.definition));
    const implementation = implementationOf(registration, depsFor, served);
    if (mode === 'policy') warnUnlisted(registration.definition, logger);
    server.addService(tolerantDefinition(registration.definition), implementation);
  }
  for (const p of declaredPublic) {
    if (!served.has(p)) throw new TypeError(`startGrpcService: public method ${p} is not served`);
  }

  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    ...Object.fromEntries(serviceNames.map((n) => [n, 'NOT_SERVING'])),
  });
  health.addToServer(server);
  addReflection(server, options.protoFiles);
  const port = await bind(server, options);
  const healthServer = await serveHealthOnly(health, options).catch((error: unknown) => {
    server.forceShutdown();
    throw error;
  });
  const healthTracking = trackHealth(health, options.consumers, serviceNames);
  logger.info(
    { port, services: serviceNames, mtls: mtls !== undefined, healthPort: options.healthPort },
    `${options.name} gRPC server listening`,
  );

  const grace = options.shutdownGraceMs ?? 10_000;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      healthTracking.stop();
      logger.info({ graceMs: grace }, `${options.name} gRPC server draining`);
      await drain(server, grace, logger);
      healthServer?.forceShutdown();
      await runShutdownHooks(options.onShutdown ?? [], logger);
      logger.info(`${options.name} gRPC server stopped`);
    })();
    return stopping;
  };

  return { port, server, health, stop };
}
