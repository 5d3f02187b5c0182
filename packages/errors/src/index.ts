/**
 * Haven's error categories. Every error thrown across a boundary belongs to one
 * category; the gRPC error interceptor in @haven/service maps categories to status codes
 * (validation → INVALID_ARGUMENT, not_found → NOT_FOUND, precondition → FAILED_PRECONDITION,
 * already_exists → ALREADY_EXISTS, conflict → ABORTED, permission → PERMISSION_DENIED,
 * unauthenticated → UNAUTHENTICATED, exhausted → RESOURCE_EXHAUSTED, unavailable → UNAVAILABLE). Pure code
 * may import this package: it uses no Node builtins.
 */

/** The category of a {@link HavenError}; decides the gRPC status it maps to. */
export const ErrorCategory = {
  Validation: 'validation',
  NotFound: 'not_found',
  Precondition: 'precondition',
  /** The resource a create names is already there (AIP-133: ALREADY_EXISTS). */
  AlreadyExists: 'already_exists',
  Conflict: 'conflict',
  Permission: 'permission',
  Unauthenticated: 'unauthenticated',
  /** A quota or throttle: the same request succeeds later (the error says when). */
  Exhausted: 'exhausted',
  Unavailable: 'unavailable',
} as const;
/** One of the {@link ErrorCategory} values. */
export type ErrorCategory = (typeof ErrorCategory)[keyof typeof ErrorCategory];

/** One offending field of a request: the path (`appointment.start_time`) and what is wrong. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Base class of every Haven error. Never throw strings. */
export abstract class HavenError extends Error {
  abstract readonly category: ErrorCategory;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input. Carries the field violations that become a `google.rpc.BadRequest`. */
export class ValidationError extends HavenError {
  readonly category = ErrorCategory.Validation;
  readonly violations: readonly FieldViolation[];
  constructor(violations: readonly FieldViolation[], options?: { cause?: unknown; message?: string }) {
    super(
      options?.message ??
        `invalid request: ${violations.map((v) => `${v.field}: ${v.description}`).join('; ')}`,
      options,
    );
    this.violations = violations;
  }
}

/** The resource named in the request does not exist (or the caller may not know it exists). */
export class NotFoundError extends HavenError {
  readonly category = ErrorCategory.NotFound;
}

/** The request is well-formed but the resource is not in a state that allows it. */
export class PreconditionError extends HavenError {
  readonly category = ErrorCategory.Precondition;
}

/** A create names a resource that already exists (a client-chosen id that is taken). */
export class AlreadyExistsError extends HavenError {
  readonly category = ErrorCategory.AlreadyExists;
}

/** Optimistic concurrency lost: the stream moved on since it was read. Retryable by reloading. */
export class ConcurrencyError extends HavenError {
  readonly category = ErrorCategory.Conflict;
  constructor(
    readonly stream: string,
    readonly expected: string,
    readonly actual: string,
    options?: { cause?: unknown },
  ) {
    super(`stream ${stream}: expected revision ${expected}, found ${actual}`, options);
  }
}

/** The authenticated caller may not do this. */
export class PermissionError extends HavenError {
  readonly category = ErrorCategory.Permission;
}

/** No, or no valid, credentials. */
export class UnauthenticatedError extends HavenError {
  readonly category = ErrorCategory.Unauthenticated;
}

/**
 * The caller exceeded a quota or a throttle (too many attempts). `retryAfterMs` says when the same request may
 * succeed; it becomes a `google.rpc.RetryInfo` on the wire and `Retry-After` at the gateway.
 */
export class ResourceExhaustedError extends HavenError {
  readonly category = ErrorCategory.Exhausted;
  /** How long to wait before retrying, ms (at least 1). */
  readonly retryAfterMs: number;
  constructor(message: string, options: { retryAfterMs: number; cause?: unknown }) {
    super(message, options);
    this.retryAfterMs = Math.max(1, Math.ceil(options.retryAfterMs));
  }
}

/** A dependency (event store, bus, media server) is not reachable; retry later. */
export class UnavailableError extends HavenError {
  readonly category = ErrorCategory.Unavailable;
}

/** True for a {@link HavenError} of the given category. */
export function isCategory(error: unknown, category: ErrorCategory): error is HavenError {
  return error instanceof HavenError && error.category === category;
}

/**
 * Runs one check of a request that reports its own violations: returns what `check` returns, or undefined after
 * adding the violations of the ValidationError it threw to `violations`, so that a request's violations are
 * answered together. Throws whatever else `check` throws.
 */
export function collectViolations<T>(violations: FieldViolation[], check: () => T): T | undefined {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    violations.push(...error.violations);
    return undefined;
  }
}
