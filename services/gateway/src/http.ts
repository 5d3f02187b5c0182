/**
 * Small request/response helpers shared by the gateway's route modules: body fields with field violations,
 * path and query parameters, resource names, error responses. Cookies are ./security's.
 */
import type { Request, Response } from 'express';
import { UnauthenticatedError } from '@haven/errors';
import { principalFromClaims, RESOURCE_ID } from '@haven/service';
import type { Principal } from '@haven/service';
import { httpError } from './http-errors';
import type { HttpError, HttpFieldViolation } from './http-errors';

/** Sends an {@link HttpError} (with `Retry-After` when it has a retry delay). */
export function send(res: Response, error: HttpError): void {
  if (error.retryAfterSec !== undefined) res.setHeader('retry-after', String(error.retryAfterSec));
  res.status(error.status).json(error.body);
}

/** Answers 400 with the field violations and returns true, or returns false when there are none. */
export function invalid(res: Response, violations: readonly HttpFieldViolation[]): boolean {
  if (violations.length === 0) return false;
  send(res, httpError('INVALID_ARGUMENT', violations));
  return true;
}

/** The `:id` path parameter, or undefined after answering 404 when it cannot be an id. */
export function pathId(req: Request, res: Response): string | undefined {
  const id = req.params['id'];
  if (typeof id !== 'string' || !PATH_ID.test(id)) {
    send(res, httpError('NOT_FOUND'));
    return undefined;
  }
  return id;
}

/** A query parameter given once as text, else ''. */
export function queryText(req: Request, name: string): string {
  const value = req.query[name];
  return typeof value === 'string' ? value : '';
}

/** The body as a record ({} for anything else). */
export function asRecord(body: unknown): Record<string, unknown> {
  return body !== null && typeof body === 'object' && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : {};
}

/**
 * The value `name` picks in a table of choices, or undefined: only the table's own keys count, so a request
 * naming an object member (`toString`, `constructor`, `__proto__`) picks nothing instead of a function.
 */
export function choiceOf<T>(table: Readonly<Record<string, T>>, name: unknown): T | undefined {
  return typeof name === 'string' && Object.hasOwn(table, name) ? table[name] : undefined;
}

/** Reads an optional string field; records a violation when it is present but not a string or too long. */
export function stringField(
  body: Record<string, unknown>,
  field: string,
  maxLength: number,
  violations: HttpFieldViolation[],
): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    violations.push({ field, description: 'must be text' });
    return undefined;
  }
  if (value.length > maxLength) {
    violations.push({ field, description: `must be at most ${maxLength} characters` });
    return undefined;
  }
  return value;
}

/** Reads an optional date-time field (anything `Date` parses); records a violation when it does not parse. */
export function dateField(
  body: Record<string, unknown>,
  field: string,
  violations: HttpFieldViolation[],
): Date | undefined {
  const text = stringField(body, field, 64, violations);
  if (text === undefined || text.trim() === '') return undefined;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    violations.push({ field, description: 'must be a date and time' });
    return undefined;
  }
  return date;
}

/** `collection/id` from a bare id (an id that already carries the collection is kept). */
export function resourceName(collection: string, id: string | undefined): string {
  const trimmed = id?.trim() ?? '';
  if (trimmed === '' || trimmed.startsWith(`${collection}/`)) return trimmed;
  return `${collection}/${trimmed}`;
}

/** The last segment of a resource name (`visits/a/participants/b` → `b`). */
export function lastSegment(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? name : name.slice(i + 1);
}

/** Ids the gateway puts into resource names from a URL path: letters, digits, `_` and `-`. */
export const PATH_ID = RESOURCE_ID;

/** Decodes a JWT's claims without checking its signature (only when no verifier is configured). */
export function unverifiedPrincipal(token: string): Principal {
  return principalFromClaims(unverifiedClaims(token));
}

/**
 * Decodes a JWT's claims without checking the signature. Throws UnauthenticatedError when malformed or expired.
 */
export function unverifiedClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (payload === undefined) throw new UnauthenticatedError('malformed token');
  let claims: Record<string, unknown>;
  try {
    claims = asRecord(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch (cause) {
    throw new UnauthenticatedError('malformed token', { cause });
  }
  if (typeof claims['exp'] !== 'number' || claims['exp'] * 1000 <= Date.now()) {
    throw new UnauthenticatedError('token expired');
  }
  return claims;
}

/** `exp` and `iat` of a JWT in ms (undefined when absent or malformed); never verifies. */
export function tokenTimes(token: string): { expMs?: number; iatMs?: number } {
  try {
    const payload = token.split('.')[1] ?? '';
    const claims = asRecord(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    const exp = claims['exp'];
    const iat = claims['iat'];
    return {
      ...(typeof exp === 'number' ? { expMs: exp * 1000 } : {}),
      ...(typeof iat === 'number' ? { iatMs: iat * 1000 } : {}),
    };
  } catch {
    return {};
  }
}
