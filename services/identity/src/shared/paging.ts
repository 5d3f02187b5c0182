/**
 * Offset paging of the identity list RPCs (ListUsers, ListServiceAccounts): the page token is the offset of the
 * next page in the directory stream.
 */
import { ValidationError } from '@haven/errors';

/** A page request: size 1–100 (default 50) and where it starts. */
export interface OffsetPage {
  readonly pageSize: number;
  readonly offset: number;
}

/** Reads a page request. Throws ValidationError when the size is over 100 or the token is malformed. */
export function offsetPage(input: { pageSize?: number; pageToken?: string }): OffsetPage {
  const pageSize = input.pageSize && input.pageSize > 0 ? input.pageSize : 50;
  if (pageSize > 100) throw new ValidationError([{ field: 'page_size', description: 'at most 100' }]);
  const offset = input.pageToken ? Number.parseInt(input.pageToken, 10) : 0;
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new ValidationError([{ field: 'page_token', description: 'malformed' }]);
  return { pageSize, offset };
}

/** The token of the page after `page` in a list of `total` items; empty on the last page. */
export function nextPageToken(page: OffsetPage, total: number): string {
  const next = page.offset + page.pageSize;
  return next < total ? String(next) : '';
}
