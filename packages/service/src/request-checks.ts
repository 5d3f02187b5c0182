/**
 * Checks every request gets in the gRPC harness before its handler runs, so bad bytes never reach a handler and
 * never become INTERNAL:
 *  - undecodable protobuf bytes: the harness decodes with {@link tolerantDefinition}, which turns a decoder error
 *    into an {@link UndecodableRequest} instead of letting grpc-js answer INTERNAL "Error deserializing request";
 *  - google.protobuf.Timestamp values outside the range the type allows (0001-01-01 … 9999-12-31 UTC), found in
 *    any field of the decoded request ({@link timestampViolations}; ts-proto turns a Timestamp into a `Date`, an
 *    out-of-range one into an invalid or far-away `Date` that later throws a RangeError).
 * Both become a ValidationError (INVALID_ARGUMENT with a google.rpc.BadRequest field violation).
 */
import type * as grpc from '@grpc/grpc-js';
import { ValidationError, type FieldViolation } from '@haven/errors';

/** What a request decoded to when its bytes were not a valid message. */
export class UndecodableRequest {
  constructor(readonly problem: string) {}
}

/** The field name of the violation reported for undecodable bytes. */
export const UNDECODABLE_FIELD = 'request';

/**
 * A copy of `definition` whose request deserializers return an {@link UndecodableRequest} instead of throwing.
 * Throws nothing.
 */
export function tolerantDefinition(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [key, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    out[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (error) {
          return new UndecodableRequest(error instanceof Error ? error.message : 'malformed');
        }
      },
    };
  }
  return out;
}

/** Earliest instant a google.protobuf.Timestamp may hold: 0001-01-01T00:00:00Z. */
export const MIN_TIMESTAMP_MS = -62_135_596_800_000;
/** Latest instant a google.protobuf.Timestamp may hold: 9999-12-31T23:59:59.999Z. */
export const MAX_TIMESTAMP_MS = 253_402_300_799_999;

/** True when `date` is a valid Date inside the google.protobuf.Timestamp range. Throws nothing. */
export function isTimestampInRange(date: Date): boolean {
  const ms = date.getTime();
  return Number.isFinite(ms) && ms >= MIN_TIMESTAMP_MS && ms <= MAX_TIMESTAMP_MS;
}

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Field violations for every Date in a decoded request (any depth) outside the Timestamp range, named by their
 * proto path (`appointment.start_time`, `items[2].expire_time`). Throws nothing.
 */
export function timestampViolations(request: unknown, maxDepth = 8): FieldViolation[] {
  const out: FieldViolation[] = [];
  const walk = (value: unknown, path: string, depth: number): void => {
    if (value instanceof Date) {
      if (!isTimestampInRange(value))
        out.push({ field: path, description: 'must be a timestamp between 0001-01-01 and 9999-12-31 UTC' });
      return;
    }
    if (depth >= maxDepth || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${path}[${i}]`, depth + 1));
      return;
    }
    for (const [key, child] of Object.entries(value)) {
      walk(child, path === '' ? snake(key) : `${path}.${snake(key)}`, depth + 1);
    }
  };
  walk(request, '', 0);
  return out;
}

/**
 * Throws ValidationError when the request could not be decoded (violation on {@link UNDECODABLE_FIELD}) or holds a
 * Timestamp out of range (a violation per field). Returns nothing otherwise.
 */
export function assertRequestWellFormed(request: unknown): void {
  if (request instanceof UndecodableRequest) {
    throw new ValidationError([
      {
        field: UNDECODABLE_FIELD,
        description: `not a valid protobuf message of this method's request type (${request.problem.slice(0, 120)})`,
      },
    ]);
  }
  const violations = timestampViolations(request);
  if (violations.length > 0) throw new ValidationError(violations);
}
