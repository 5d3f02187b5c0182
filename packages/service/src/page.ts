/**
 * The paging step of every List RPC around the page-token codec: `page_size` checked against the RPC's own limits
 * (0 asks for its default), the token decoded for the request's filter, and the next page's token. Offset-paged
 * lists use {@link offsetPage}, {@link pageItems} and {@link nextOffsetToken}; lists resuming after a sort key use
 * {@link keyPage} and encode the last item's key themselves.
 */
import { ValidationError, collectViolations, type FieldViolation } from '@haven/errors';
import { decodePageToken, encodePageToken, isPageOffset, type PagePosition } from './page-token';

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
