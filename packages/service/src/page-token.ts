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
import { ValidationError, collectViolations, type FieldViolation } from '@haven/errors';

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

/** The page sizes one List RPC allows: `page_size` 0 asks for `defaultSize`, anything else must be 1–`maxSize`. */
export interface PageLimits {
  readonly defaultSize: number;
  readonly maxSize: number;
}

/** The paging fields of a List request (absent reads as 0 and the empty token). */
export interface PageRequest {
  readonly pageSize?: number;
  readonly pageToken?: string;
}

/** A checked page request: how many items, and the position it resumes after (undefined on the first page). */
export interface KeyPage<P extends PagePosition> {
  readonly size: number;
  readonly after: P | undefined;
}

/** A checked page request of an offset-paged list: how many items, from which offset, of which list. */
export interface OffsetPage {
  readonly size: number;
  readonly offset: number;
  /** What the list is (its name and filter): the token is bound to it. */
  readonly filter: unknown;
}

/**
 * The number of items `pageSize` asks for: 0 → `limits.defaultSize`. Throws ValidationError (field `page_size`)
 * outside 0–`maxSize`.
 */
export function pageSizeOf(pageSize: number, limits: PageLimits): number {
  if (!Number.isSafeInteger(pageSize) || pageSize < 0 || pageSize > limits.maxSize) {
    throw new ValidationError([
      {
        field: 'page_size',
        description: `must be between 1 and ${limits.maxSize}, or 0 for ${limits.defaultSize}`,
      },
    ]);
  }
  return pageSize === 0 ? limits.defaultSize : pageSize;
}

/**
 * Reads the paging fields of a request for the list `filter`: 0 → `limits.defaultSize`, and the position in
 * its token, checked by `isPosition`. Throws one ValidationError with every violation: `page_size` outside
 * 0–`maxSize`, `page_token` not one {@link encodePageToken} issued for `filter`.
 */
export function keyPage<P extends PagePosition>(
  request: PageRequest,
  filter: unknown,
  limits: PageLimits,
  isPosition: (after: unknown) => after is P,
): KeyPage<P> {
  const violations: FieldViolation[] = [];
  const size = collectViolations(violations, () => pageSizeOf(request.pageSize ?? 0, limits));
  const after = collectViolations(violations, () =>
    decodePageToken(request.pageToken ?? '', filter, isPosition),
  );
  if (size === undefined || violations.length > 0) throw new ValidationError(violations);
  return { size, after };
}

/** {@link keyPage} of a list paged by offset: the first page starts at 0. */
export function offsetPage(request: PageRequest, filter: unknown, limits: PageLimits): OffsetPage {
  const { size, after } = keyPage(request, filter, limits, isPageOffset);
  return { size, offset: after ?? 0, filter };
}

/** The items of `page` in the whole list `all`. */
export function pageItems<T>(page: OffsetPage, all: readonly T[]): T[] {
  return all.slice(page.offset, page.offset + page.size);
}

/** The token of the page after `page` in a list of `total` items; empty on the last page. */
export function nextOffsetToken(page: OffsetPage, total: number): string {
  const next = page.offset + page.size;
  return next < total ? encodePageToken(page.filter, next) : '';
}
