import { collectViolations, type FieldViolation } from '@haven/errors';
import fc from 'fast-check';
import { keyPage, nextOffsetToken, offsetPage, pageItems, pageSizeOf } from './page';
import { encodePageToken, isPageKeyPair } from './page-token';

const filter = { clinician: 'clin-1', states: ['open'] };
const limits = { defaultSize: 50, maxSize: 100 };

/** The violations `run` is refused with; none when it is accepted. */
function violationsOf(run: () => unknown): FieldViolation[] {
  const violations: FieldViolation[] = [];
  collectViolations(violations, run);
  return violations;
}

describe('a page request', () => {
  it('reads page_size 0 (or absent) as the default and the empty token as the first page', () => {
    expect(offsetPage({ pageSize: 0, pageToken: '' }, filter, limits)).toEqual({
      size: 50,
      offset: 0,
      filter,
    });
    expect(offsetPage({}, filter, { defaultSize: 200, maxSize: 500 })).toEqual({
      size: 200,
      offset: 0,
      filter,
    });
  });

  it('takes every size from 1 to the maximum and refuses what lies outside, naming the limits', () => {
    expect(offsetPage({ pageSize: 1 }, filter, limits).size).toBe(1);
    expect(offsetPage({ pageSize: 100 }, filter, limits).size).toBe(100);
    for (const pageSize of [-1, 101, 1.5, Number.NaN, 2 ** 53]) {
      expect(violationsOf(() => offsetPage({ pageSize }, filter, limits))).toEqual([
        { field: 'page_size', description: 'must be between 1 and 100, or 0 for 50' },
      ]);
    }
  });

  it('resumes where the token says, for the same filter only', () => {
    const pageToken = encodePageToken(filter, 50);
    expect(offsetPage({ pageSize: 10, pageToken }, { ...filter }, limits).offset).toBe(50);
    expect(violationsOf(() => offsetPage({ pageToken }, { ...filter, clinician: 'clin-2' }, limits))).toEqual(
      [{ field: 'page_token', description: 'is not a token of this query' }],
    );
  });

  it('has its size read alone where a list has no token', () => {
    expect(pageSizeOf(0, { defaultSize: 200, maxSize: 500 })).toBe(200);
    expect(pageSizeOf(500, { defaultSize: 200, maxSize: 500 })).toBe(500);
    expect(violationsOf(() => pageSizeOf(501, { defaultSize: 200, maxSize: 500 }))).toEqual([
      { field: 'page_size', description: 'must be between 1 and 500, or 0 for 200' },
    ]);
  });

  it('names a bad size and a bad token together', () => {
    const fields = violationsOf(() => offsetPage({ pageSize: 101, pageToken: 'x' }, filter, limits));
    expect(fields.map((v) => v.field)).toEqual(['page_size', 'page_token']);
  });

  it('refuses a tampered token and random text as a token', () => {
    const token = encodePageToken(filter, 50);
    const body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { filter: string };
    const forged = Buffer.from(JSON.stringify({ after: 5, filter: `${body.filter}x` })).toString('base64url');
    expect(violationsOf(() => offsetPage({ pageToken: forged }, filter, limits))[0]?.field).toBe(
      'page_token',
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const pageToken = Buffer.from(bytes).toString('base64url');
        expect(violationsOf(() => offsetPage({ pageToken }, filter, limits))).toEqual([
          { field: 'page_token', description: 'is not a token of this query' },
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('reads a key position with the check it is given', () => {
    const key = ['2026-12-08T10:00:00.000Z', 'rec-1'] as const;
    const pageToken = encodePageToken(filter, key);
    expect(keyPage({ pageToken }, filter, limits, isPageKeyPair)).toEqual({ size: 50, after: key });
    const offset = encodePageToken(filter, 3);
    expect(violationsOf(() => keyPage({ pageToken: offset }, filter, limits, isPageKeyPair))[0]?.field).toBe(
      'page_token',
    );
  });
});

describe('offset pages', () => {
  it('walk a list once, item by item, and end with an empty token on the last page', () => {
    fc.assert(
      fc.property(fc.nat(40), fc.integer({ min: 1, max: 12 }), (total, pageSize) => {
        const all = Array.from({ length: total }, (_, i) => i);
        const seen: number[] = [];
        let pageToken = '';
        for (let calls = 0; calls <= total; calls++) {
          const page = offsetPage({ pageSize, pageToken }, filter, limits);
          seen.push(...pageItems(page, all));
          pageToken = nextOffsetToken(page, total);
          if (pageToken === '') break;
        }
        expect(pageToken).toBe('');
        expect(seen).toEqual(all);
      }),
    );
  });
});
