import fc from 'fast-check';
import { contentRange, parseRangeHeader, resolveRange, unsatisfiedRange } from './http-range';

const W = 1000; // window

describe('HTTP range requests', () => {
  it.each([
    [undefined, { kind: 'none' }],
    ['bytes=0-', { kind: 'from', start: 0 }],
    ['bytes=100-199', { kind: 'from', start: 100, end: 199 }],
    ['bytes=-500', { kind: 'suffix', length: 500 }],
    [' bytes = 5 - 9 ', { kind: 'from', start: 5, end: 9 }],
    ['bytes=0-1,5-9', { kind: 'multiple' }],
    ['bytes=9-5', { kind: 'none' }], // invalid: ignored
    ['bytes=-', { kind: 'none' }],
    ['items=0-5', { kind: 'none' }],
    ['bytes=abc-', { kind: 'none' }],
    ['bytes=1234567890123456-', { kind: 'none' }], // longer than a safe integer
  ])('parses %p', (header, want) => {
    expect(parseRangeHeader(header)).toEqual(want);
  });

  describe('against a 5000-byte recording, clipped to a 1000-byte window', () => {
    it.each([
      ['bytes=0-', { offset: 0, length: 1000 }],
      ['bytes=100-199', { offset: 100, length: 100 }],
      ['bytes=4900-', { offset: 4900, length: 100 }],
      ['bytes=4900-99999', { offset: 4900, length: 100 }],
      ['bytes=-300', { offset: 4700, length: 300 }],
      ['bytes=-9000', { offset: 0, length: 1000 }],
      ['bytes=4999-4999', { offset: 4999, length: 1 }],
    ])('%s → %p', (header, want) => {
      expect(resolveRange(parseRangeHeader(header), 5000, W)).toEqual(want);
    });

    it.each(['bytes=5000-', 'bytes=6000-7000', 'bytes=-0', 'bytes=0-1,3-4'])(
      '%s is unsatisfiable',
      (header) => {
        expect(resolveRange(parseRangeHeader(header), 5000, W)).toBeUndefined();
      },
    );

    it('serves the whole representation without a Range header (the route loops over windows)', () => {
      expect(resolveRange(parseRangeHeader(undefined), 5000, W)).toEqual({ offset: 0, length: 5000 });
    });
  });

  it('an empty recording has no satisfiable range', () => {
    expect(resolveRange(parseRangeHeader('bytes=0-'), 0, W)).toBeUndefined();
    expect(resolveRange(parseRangeHeader('bytes=-1'), 0, W)).toBeUndefined();
  });

  it('always resolves inside the representation and within the window (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000 }),
        fc.nat({ max: 12_000 }),
        fc.option(fc.nat({ max: 12_000 }), { nil: undefined }),
        fc.boolean(),
        (size, a, b, suffix) => {
          const header = suffix ? `bytes=-${a}` : `bytes=${a}-${b ?? ''}`;
          const parsed = parseRangeHeader(header);
          const r = resolveRange(parsed, size, W);
          if (parsed.kind === 'none') {
            expect(r).toEqual({ offset: 0, length: size }); // an invalid range is ignored: the whole
            return;
          }
          if (r === undefined) return;
          expect(r.length).toBeGreaterThan(0);
          expect(r.length).toBeLessThanOrEqual(W);
          expect(r.offset + r.length).toBeLessThanOrEqual(size);
          if (!suffix) expect(r.offset).toBe(a);
        },
      ),
    );
  });

  it('writes Content-Range', () => {
    expect(contentRange({ offset: 100, length: 100 }, 5000)).toBe('bytes 100-199/5000');
    expect(unsatisfiedRange(5000)).toBe('bytes */5000');
  });
});
