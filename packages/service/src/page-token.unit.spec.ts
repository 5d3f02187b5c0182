import { ValidationError } from '@haven/errors';
import fc from 'fast-check';
import {
  decodePageToken,
  encodePageToken,
  isPageKeyPair,
  isPageOffset,
  keyPage,
  nextOffsetToken,
  offsetPage,
  pageItems,
  pageSizeOf,
} from './page-token';

const filter = { clinician: 'clin-1', states: ['open'] };

function refusal(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('the request was accepted');
}

describe('page tokens', () => {
  it('give back the position they were issued with, for the same filter', () => {
    expect(decodePageToken(encodePageToken(filter, 50), { ...filter }, isPageOffset)).toBe(50);
    const key = ['2026-11-26T10:00:00.000Z', 'apt-1'] as const;
    expect(decodePageToken(encodePageToken(['x', 1], key), ['x', 1], isPageKeyPair)).toEqual(key);
  });

  it('read the empty token as the first page', () => {
    expect(decodePageToken('', filter, isPageOffset)).toBeUndefined();
  });

  it('are refused (page_token, INVALID_ARGUMENT) for another filter', () => {
    const token = encodePageToken(filter, 50);
    const error = refusal(() => decodePageToken(token, { ...filter, clinician: 'clin-2' }, isPageOffset));
    expect(error.violations).toEqual([{ field: 'page_token', description: 'is not a token of this query' }]);
    refusal(() => decodePageToken(token, { ...filter, states: [] }, isPageOffset));
    refusal(() => decodePageToken(token, undefined, isPageOffset));
  });

  it('are refused when tampered with: a flipped character, another digest, a position of the wrong kind', () => {
    const token = encodePageToken(filter, 50);
    for (let i = 0; i < token.length; i++) {
      const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      let decoded: number | undefined;
      try {
        decoded = decodePageToken(flipped, filter, isPageOffset);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        continue;
      }
      // A flip that leaves the JSON, the digest and the kind intact can only move the position.
      expect(typeof decoded).toBe('number');
    }
    const body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { filter: string };
    const forged = (value: unknown): string =>
      Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    refusal(() => decodePageToken(forged({ after: 50, filter: 'AAAA' }), filter, isPageOffset));
    refusal(() => decodePageToken(forged({ after: -1, filter: body.filter }), filter, isPageOffset));
    refusal(() => decodePageToken(forged({ after: '50', filter: body.filter }), filter, isPageOffset));
    refusal(() => decodePageToken(forged({ after: ['a'], filter: body.filter }), filter, isPageKeyPair));
    refusal(() => decodePageToken(forged(null), filter, isPageOffset));
    refusal(() => decodePageToken('50', filter, isPageOffset)); // an offset token of the old scheme
    refusal(() => decodePageToken('not base64 at all!', filter, isPageOffset));
  });

  it('do not carry the filter itself (it may name a patient)', () => {
    const decoded = Buffer.from(encodePageToken({ mrn: 'MRN-123456' }, 0), 'base64url').toString('utf8');
    expect(decoded).not.toContain('MRN-123456');
  });
});

const limits = { defaultSize: 50, maxSize: 100 };

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
      expect(refusal(() => offsetPage({ pageSize }, filter, limits)).violations).toEqual([
        { field: 'page_size', description: 'must be between 1 and 100, or 0 for 50' },
      ]);
    }
  });

  it('resumes where the token says, for the same filter only', () => {
    const pageToken = encodePageToken(filter, 50);
    expect(offsetPage({ pageSize: 10, pageToken }, { ...filter }, limits).offset).toBe(50);
    expect(
      refusal(() => offsetPage({ pageToken }, { ...filter, clinician: 'clin-2' }, limits)).violations,
    ).toEqual([{ field: 'page_token', description: 'is not a token of this query' }]);
  });

  it('has its size read alone where a list has no token', () => {
    expect(pageSizeOf(0, { defaultSize: 200, maxSize: 500 })).toBe(200);
    expect(pageSizeOf(500, { defaultSize: 200, maxSize: 500 })).toBe(500);
    expect(refusal(() => pageSizeOf(501, { defaultSize: 200, maxSize: 500 })).violations).toEqual([
      { field: 'page_size', description: 'must be between 1 and 500, or 0 for 200' },
    ]);
  });

  it('names a bad size and a bad token together', () => {
    const fields = refusal(() => offsetPage({ pageSize: 101, pageToken: 'x' }, filter, limits)).violations;
    expect(fields.map((v) => v.field)).toEqual(['page_size', 'page_token']);
  });

  it('refuses a tampered token and random text as a token', () => {
    const token = encodePageToken(filter, 50);
    const body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { filter: string };
    const forged = Buffer.from(JSON.stringify({ after: 5, filter: `${body.filter}x` })).toString('base64url');
    expect(refusal(() => offsetPage({ pageToken: forged }, filter, limits)).violations[0]?.field).toBe(
      'page_token',
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const pageToken = Buffer.from(bytes).toString('base64url');
        expect(refusal(() => offsetPage({ pageToken }, filter, limits)).violations).toEqual([
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
    expect(
      refusal(() => keyPage({ pageToken: offset }, filter, limits, isPageKeyPair)).violations[0]?.field,
    ).toBe('page_token');
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
