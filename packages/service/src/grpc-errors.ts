import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError, StatusObject } from '@grpc/grpc-js';
import {
  ConcurrencyError,
  ErrorCategory,
  HavenError,
  NotFoundError,
  PermissionError,
  PreconditionError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from '@haven/errors';
import type { FieldViolation } from '@haven/errors';
import { decodeStatus, encodeStatus, STATUS_DETAILS_KEY } from './status-details';

/** The ErrorInfo domain of every Haven error. */
export const ERROR_DOMAIN = 'haven';

/** gRPC status code of each {@link ErrorCategory}. */
export const STATUS_OF_CATEGORY = {
  [ErrorCategory.Validation]: status.INVALID_ARGUMENT,
  [ErrorCategory.NotFound]: status.NOT_FOUND,
  [ErrorCategory.Precondition]: status.FAILED_PRECONDITION,
  [ErrorCategory.AlreadyExists]: status.ALREADY_EXISTS,
  [ErrorCategory.Conflict]: status.ABORTED,
  [ErrorCategory.Permission]: status.PERMISSION_DENIED,
  [ErrorCategory.Unauthenticated]: status.UNAUTHENTICATED,
  [ErrorCategory.Exhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorCategory.Unavailable]: status.UNAVAILABLE,
} as const satisfies Record<ErrorCategory, status>;

/**
 * The ErrorInfo reason of an error: its `reason` property when it is UPPER_SNAKE_CASE, else its class
 * name without the `Error` suffix in UPPER_SNAKE_CASE (`VisitLockedError` → `VISIT_LOCKED`).
 */
export function errorReason(error: Error): string {
  const own = (error as { reason?: unknown }).reason;
  if (typeof own === 'string' && /^[A-Z][A-Z0-9_]*$/.test(own)) return own;
  const base = (error.name || 'Error').replace(/Error$/, '') || 'UNKNOWN';
  return base
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .toUpperCase();
}

/** A gRPC error status ready to hand to a unary callback. */
export type GrpcErrorStatus = Partial<StatusObject> &
  Error & { code: status; details: string; metadata: Metadata };

/**
 * Turns any thrown value into the gRPC status the caller sees.
 * A {@link HavenError} keeps its (PHI-free) message and maps by category, with `grpc-status-details-bin` =
 * google.rpc.Status{code, message, details: [BadRequest (for ValidationError), ErrorInfo{reason, domain: 'haven'},
 * RetryInfo (for ResourceExhaustedError)]}.
 * Anything else becomes INTERNAL with a generic message (the original message is not sent: it may hold PHI
 * or internals). Throws nothing.
 */
export function grpcErrorFromHavenError(
  error: unknown,
  options: { correlationId?: string } = {},
): GrpcErrorStatus {
  let code: status;
  let message: string;
  let fieldViolations: readonly FieldViolation[] = [];
  let reason: string;
  let retryDelayMs: number | undefined;
  if (error instanceof HavenError) {
    code = STATUS_OF_CATEGORY[error.category] ?? status.INTERNAL;
    message = error.message;
    reason = errorReason(error);
    if (error instanceof ValidationError) fieldViolations = error.violations;
    if (error instanceof ResourceExhaustedError) retryDelayMs = error.retryAfterMs;
  } else {
    code = status.INTERNAL;
    message = options.correlationId
      ? `internal error (correlation id ${options.correlationId})`
      : 'internal error';
    reason = 'INTERNAL';
  }
  const metadata = new Metadata();
  const bytes = encodeStatus({
    code,
    message,
    fieldViolations,
    errorInfo: {
      reason,
      domain: ERROR_DOMAIN,
      ...(options.correlationId ? { metadata: { correlationId: options.correlationId } } : {}),
    },
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
  });
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(bytes));
  const out = new Error(message) as GrpcErrorStatus;
  out.code = code;
  out.details = message;
  out.metadata = metadata;
  return out;
}

/** What a client learns from a failed call: status, message and Haven's details. */
export interface ParsedStatusDetails {
  readonly code: status;
  readonly message: string;
  readonly fieldViolations: readonly FieldViolation[];
  /** ErrorInfo.reason, when the server sent one. */
  readonly reason?: string;
  /** ErrorInfo.domain, when the server sent one. */
  readonly domain?: string;
  /** ErrorInfo.metadata (e.g. `correlationId`), when the server sent one. */
  readonly errorMetadata?: Readonly<Record<string, string>>;
  /** google.rpc.RetryInfo's delay in ms (RESOURCE_EXHAUSTED), when the server sent one. */
  readonly retryDelayMs?: number;
}

/**
 * Decodes `grpc-status-details-bin` from trailing metadata. Returns undefined when there is none or it is not
 * a valid google.rpc.Status. Throws nothing.
 */
export function havenErrorDetails(metadata: Metadata | undefined): ParsedStatusDetails | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (raw === undefined) return undefined;
  try {
    const bytes = typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw;
    const decoded = decodeStatus(bytes);
    return {
      code: decoded.code as status,
      message: decoded.message,
      fieldViolations: decoded.fieldViolations,
      ...(decoded.errorInfo
        ? {
            reason: decoded.errorInfo.reason,
            domain: decoded.errorInfo.domain,
            errorMetadata: decoded.errorInfo.metadata,
          }
        : {}),
      ...(decoded.retryDelayMs !== undefined ? { retryDelayMs: decoded.retryDelayMs } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Client side: the status, message, field violations and ErrorInfo reason of a failed call.
 * Falls back to the plain status when the server sent no details. Throws nothing.
 */
export function parseStatusDetails(
  err: Pick<ServiceError, 'code' | 'details' | 'metadata'>,
): ParsedStatusDetails {
  const details = havenErrorDetails(err.metadata);
  if (details) return { ...details, code: err.code };
  return { code: err.code, message: err.details ?? '', fieldViolations: [] };
}

/**
 * Client side: turns a failed call back into the Haven error of its category (for service-to-service calls
 * that should fail the same way). INVALID_ARGUMENT → ValidationError (with violations), NOT_FOUND →
 * NotFoundError, FAILED_PRECONDITION → PreconditionError, PERMISSION_DENIED → PermissionError,
 * UNAUTHENTICATED → UnauthenticatedError, RESOURCE_EXHAUSTED → ResourceExhaustedError (with the RetryInfo
 * delay, 1 s when none was sent), UNAVAILABLE/DEADLINE_EXCEEDED/ABORTED(non-concurrency) → UnavailableError;
 * anything else is returned unchanged. Throws nothing.
 */
export function havenErrorFromServiceError(err: ServiceError): Error {
  const d = parseStatusDetails(err);
  const cause = { cause: err };
  switch (err.code) {
    case status.INVALID_ARGUMENT:
      return new ValidationError(d.fieldViolations, { ...cause, message: d.message });
    case status.NOT_FOUND:
      return new NotFoundError(d.message, cause);
    case status.FAILED_PRECONDITION:
      return new PreconditionError(d.message, cause);
    case status.PERMISSION_DENIED:
      return new PermissionError(d.message, cause);
    case status.UNAUTHENTICATED:
      return new UnauthenticatedError(d.message, cause);
    case status.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(d.message, { ...cause, retryAfterMs: d.retryDelayMs ?? 1000 });
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.ABORTED:
      return new UnavailableError(d.message, cause);
    default:
      return err;
  }
}

/**
 * The retry predicate of Haven: true only for errors that a reload-and-retry can cure — today a lost
 * optimistic-concurrency race ({@link ConcurrencyError}). Throws nothing.
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof ConcurrencyError;
}
