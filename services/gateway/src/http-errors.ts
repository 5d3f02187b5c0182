import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { parseStatusDetails } from '@haven/service';

/** A field the browser sent that a service rejected, named as the browser named it. */
export interface HttpFieldViolation {
  readonly field: string;
  readonly description: string;
}

/** The JSON body of every error the gateway returns. */
export interface HttpErrorBody {
  readonly error: {
    /** Stable machine code (`INVALID_ARGUMENT`, `UNAUTHENTICATED`, …). */
    readonly code: string;
    /** Generic, safe to show; never quotes the request or a service's message. */
    readonly message: string;
    readonly fieldViolations?: readonly HttpFieldViolation[];
  };
}

/** An HTTP status with its body. */
export interface HttpError {
  readonly status: number;
  readonly body: HttpErrorBody;
  /** Seconds for a `Retry-After` header (429 from a service's RESOURCE_EXHAUSTED with RetryInfo). */
  readonly retryAfterSec?: number;
}

const INTERNAL = { status: 500, message: 'Something went wrong.' };

const GENERIC: Readonly<Record<string, { status: number; message: string }>> = {
  INVALID_ARGUMENT: { status: 400, message: 'Some fields need attention.' },
  UNAUTHENTICATED: { status: 401, message: 'Please sign in.' },
  PERMISSION_DENIED: { status: 403, message: 'You are not allowed to do that.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  ALREADY_EXISTS: { status: 409, message: 'That already exists.' },
  FAILED_PRECONDITION: { status: 409, message: 'That cannot be done right now.' },
  ABORTED: { status: 409, message: 'Someone else changed this; please try again.' },
  RESOURCE_EXHAUSTED: { status: 429, message: 'Too many attempts; please wait and try again.' },
  UNAVAILABLE: { status: 503, message: 'The service is unavailable; please try again shortly.' },
  /** A service answered something the gateway cannot pass on (never a gRPC code: the gateway's own finding). */
  BAD_GATEWAY: { status: 502, message: 'A service answered something unexpected; please try again.' },
  DEADLINE_EXCEEDED: { status: 504, message: 'The service took too long; please try again.' },
  INTERNAL,
};

/**
 * Refusals the browser is told the reason of, by the service's ErrorInfo reason under the given status (the
 * service's own message still never reaches the browser). The admission consent gate: the clinician would
 * otherwise only see "That cannot be done right now." and not know the patient must consent first.
 */
const SPECIFIC: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  FAILED_PRECONDITION: {
    RECORDING_CONSENT_REQUIRED:
      'This visit is being recorded: they can be admitted once they consent to the recording. ' +
      'They are asked in the waiting room.',
    RECORDING_CONSENT_REQUIRED_BY_POLICY:
      'This clinic records every visit: they can be admitted once they consent to the recording. ' +
      'They are asked in the waiting room.',
  },
};

/** Builds an error response for a code in the table above (INTERNAL for anything else). Throws nothing. */
export function httpError(code: string, fieldViolations?: readonly HttpFieldViolation[]): HttpError {
  const known = GENERIC[code];
  const entry = known ?? INTERNAL;
  return {
    status: entry.status,
    body: {
      error: {
        code: known ? code : 'INTERNAL',
        message: entry.message,
        ...(fieldViolations && fieldViolations.length > 0 ? { fieldViolations } : {}),
      },
    },
  };
}

function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'number' &&
    'metadata' in err &&
    'details' in err
  );
}

/**
 * Maps a failed gRPC call to an HTTP error: INVALID_ARGUMENT 400 (with the field violations, renamed by
 * `fieldNames` from proto paths such as `appointment.start_time` to the browser's names; unknown paths are
 * kept), UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, FAILED_PRECONDITION/ALREADY_EXISTS/ABORTED
 * 409, RESOURCE_EXHAUSTED 429 (with `retryAfterSec` from the google.rpc.RetryInfo, 1 s at least), UNAVAILABLE 503,
 * DEADLINE_EXCEEDED 504, anything else (or a non-gRPC error) 500.
 * Messages are generic (or, for the few reasons in SPECIFIC, name the reason): a service's own message never
 * reaches the browser. Throws nothing.
 */
export function httpErrorFromGrpc(
  err: unknown,
  fieldNames: Readonly<Record<string, string>> = {},
): HttpError {
  if (!isServiceError(err)) return httpError('INTERNAL');
  const code = status[err.code] ?? 'INTERNAL';
  if (err.code === status.RESOURCE_EXHAUSTED) {
    const delayMs = parseStatusDetails(err).retryDelayMs ?? 1000;
    return { ...httpError(code), retryAfterSec: Math.max(1, Math.ceil(delayMs / 1000)) };
  }
  const details = parseStatusDetails(err);
  const specific = details.reason !== undefined ? SPECIFIC[code]?.[details.reason] : undefined;
  if (specific !== undefined) {
    const generic = httpError(code);
    return { ...generic, body: { error: { ...generic.body.error, message: specific } } };
  }
  if (err.code !== status.INVALID_ARGUMENT) return httpError(code);
  return httpError(
    code,
    details.fieldViolations.map((v) => ({
      field: fieldNames[v.field] ?? v.field,
      description: v.description,
    })),
  );
}
