import * as grpc from '@grpc/grpc-js';
import { injectTraceHeaders } from '@haven/telemetry';

/** Input of {@link clientCallMetadata}. */
export interface ClientCallMetadataInput {
  /** Bearer token of the caller (a service token, or the user's token being relayed). */
  readonly token?: string;
  /** Carried to the callee so its events share the correlation; omitted when undefined. */
  readonly correlationId?: string;
  /** W3C traceparent; when omitted, the active OpenTelemetry context is injected instead. */
  readonly traceparent?: string;
}

/**
 * Metadata for a service-to-service call: `authorization: Bearer …`, `x-correlation-id`, and the trace
 * context (`traceparent`, from the input or the active span). Throws nothing.
 */
export function clientCallMetadata(input: ClientCallMetadataInput): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (input.token !== undefined) metadata.set('authorization', `Bearer ${input.token}`);
  if (input.correlationId !== undefined) metadata.set('x-correlation-id', input.correlationId);
  if (input.traceparent !== undefined) metadata.set('traceparent', input.traceparent);
  else injectTraceHeaders((key, value) => metadata.set(key, value));
  return metadata;
}

/** Options of {@link callUnary}. */
export interface CallOptions {
  /** Deadline relative to now. Default 10 000 ms; every Haven call has a deadline. */
  readonly deadlineMs?: number;
  /** Cancels the call when aborted. */
  readonly signal?: AbortSignal;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** The request type of unary method `M` of grpc-js client `C`. */
export type RequestOf<C, M extends keyof C> = C[M] extends (request: infer Req, ...rest: infer _R) => unknown
  ? Req
  : never;
/** The response type of unary method `M` of grpc-js client `C` (`unknown` when it is not a unary method). */
export type ResponseOf<C, M extends keyof C> = C[M] extends {
  (
    request: never,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: (error: grpc.ServiceError | null, response: infer Res) => void,
  ): unknown;
}
  ? Res
  : unknown;

/**
 * Calls a unary method of a grpc-js client (ts-proto or proto-loader) and resolves with the response.
 * Rejects with the grpc.ServiceError when the call fails (decode it with `parseStatusDetails`), including
 * DEADLINE_EXCEEDED when `deadlineMs` passes and CANCELLED when `signal` aborts.
 */
export function callUnary<C extends object, M extends keyof C & string>(
  client: C,
  method: M,
  request: RequestOf<C, M>,
  metadata: grpc.Metadata = new grpc.Metadata(),
  options: CallOptions = {},
): Promise<ResponseOf<C, M>> {
  const fn = (client as Record<string, unknown>)[method];
  if (typeof fn !== 'function')
    return Promise.reject(new TypeError(`callUnary: client has no method ${method}`));
  const unary = fn as UnaryMethod<RequestOf<C, M>, ResponseOf<C, M>>;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason instanceof Error ? options.signal.reason : new Error('aborted'));
      return;
    }
    const call = unary.call(
      client,
      request,
      metadata,
      { deadline: new Date(Date.now() + (options.deadlineMs ?? 10_000)) },
      (error, response) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(response);
      },
    );
    function onAbort(): void {
      call.cancel();
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Binds one unary method of a client into `(request, metadata?, options?) => Promise<response>`.
 * The returned function rejects like {@link callUnary}.
 */
export function promisifyUnary<C extends object, M extends keyof C & string>(
  client: C,
  method: M,
): (request: RequestOf<C, M>, metadata?: grpc.Metadata, options?: CallOptions) => Promise<ResponseOf<C, M>> {
  return (request, metadata, options) => callUnary(client, method, request, metadata, options);
}

/** A unary call whose client, metadata and options are already chosen: `(method, request) => Promise<response>`. */
export type BoundUnaryCall<C extends object> = <M extends keyof C & string>(
  method: M,
  request: RequestOf<C, M>,
) => Promise<ResponseOf<C, M>>;
