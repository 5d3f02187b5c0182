/**
 * Page tokens of every List RPC (Google AIP-158): opaque to clients and bound to the query that issued them.
 * A token carries where the next page starts (an offset, or the sort key of the last item returned) and a
 * digest of the list's filter: a token from another query (another filter, another order, another caller when
 * the caller narrows the list) is refused with INVALID_ARGUMENT instead of silently paging a different list.
 *
 * A token is not a secret and grants nothing: the position in it only says where to resume a list the caller
 * may read anyway, so it is not signed. It does not hold the filter itself, which may name a patient.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '@haven/errors';

/** Where the next page starts: an offset or the sort key of the last item returned. */
export type PagePosition = number | string | readonly (number | string)[];

interface TokenBody {
  readonly after: unknown;
  readonly filter: unknown;
}

function digestOf(filter: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(filter) ?? '')
    .digest('base64url')
    .slice(0, 22);
}

function refused(): ValidationError {
  return new ValidationError([{ field: 'page_token', description: 'is not a token of this query' }]);
}

/** The page token resuming after `after` in the list `filter` (any JSON value describing the query). */
export function encodePageToken(filter: unknown, after: PagePosition): string {
  return Buffer.from(
    JSON.stringify({ after, filter: digestOf(filter) } satisfies TokenBody),
    'utf8',
  ).toString('base64url');
}

/**
 * The position in `token`, checked by `isPosition`; undefined for the empty token (the first page). Throws
 * ValidationError (field `page_token`) when the token is not one {@link encodePageToken} issued for `filter`:
 * malformed, tampered with, from another query, or holding a position `isPosition` refuses.
 */
export function decodePageToken<P extends PagePosition>(
  token: string,
  filter: unknown,
  isPosition: (after: unknown) => after is P,
): P | undefined {
  if (token === '') return undefined;
  let body: TokenBody;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as TokenBody;
  } catch {
    throw refused();
  }
  if (
    typeof body !== 'object' ||
    body === null ||
    body.filter !== digestOf(filter) ||
    !isPosition(body.after)
  ) {
    throw refused();
  }
  return body.after;
}

/** A position that is an offset (or an index): a non-negative safe integer. */
export function isPageOffset(after: unknown): after is number {
  return typeof after === 'number' && Number.isSafeInteger(after) && after >= 0;
}

/** A position that is a sort key of two strings (e.g. a time and an id). */
export function isPageKeyPair(after: unknown): after is readonly [string, string] {
  return Array.isArray(after) && after.length === 2 && after.every((part) => typeof part === 'string');
}
