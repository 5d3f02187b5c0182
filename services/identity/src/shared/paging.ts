/**
 * Offset paging of the identity list RPCs (ListUsers, ListServiceAccounts): the page token (@haven/service's
 * filter-bound codec) holds the offset of the next page in the directory stream and is refused for another
 * list or filter.
 */
import { ValidationError } from '@haven/errors';
import { decodePageToken, encodePageToken, isPageOffset } from '@haven/service';

/** A page request: size 1–100 (default 50), where it starts, and the list it pages. */
export interface OffsetPage {
  readonly pageSize: number;
  readonly offset: number;
  /** What the list is (its name and filter): the token is bound to it. */
  readonly filter: unknown;
}

/**
 * Reads a page request of the list `filter`. Throws ValidationError when the size is over 100 or the token is
 * not one this list issued.
 */
export function offsetPage(input: { pageSize?: number; pageToken?: string }, filter: unknown): OffsetPage {
  const pageSize = input.pageSize && input.pageSize > 0 ? input.pageSize : 50;
  if (pageSize > 100) throw new ValidationError([{ field: 'page_size', description: 'at most 100' }]);
  const offset = decodePageToken(input.pageToken ?? '', filter, isPageOffset) ?? 0;
  return { pageSize, offset, filter };
}

/** The token of the page after `page` in a list of `total` items; empty on the last page. */
export function nextPageToken(page: OffsetPage, total: number): string {
  const next = page.offset + page.pageSize;
  return next < total ? encodePageToken(page.filter, next) : '';
}
