import { ValidationError } from '@haven/errors';
import { decodePageToken, encodePageToken, isPageKeyPair, isPageOffset } from './page-token';

const filter = { clinician: 'clin-1', states: ['open'] };

function refusal(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('the token was accepted');
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
