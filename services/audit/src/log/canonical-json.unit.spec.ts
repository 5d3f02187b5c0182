import { canonicalJson } from './canonical-json';
import { eventDigest } from './event-digest';

describe('canonicalJson', () => {
  it('sorts keys by UTF-16 code units and writes numbers and strings as RFC 8785 says', () => {
    // RFC 8785 section 3.2.2 / 3.2.3 examples (333333333.33333329 written as the double it parses to).
    expect(
      canonicalJson({
        numbers: [333333333.3333333, 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
        string: '€$\u000f\nA\'B"\\\\"/',
        literals: [null, true, false],
      }),
    ).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '\u0080': 4, '1': 5, '\u00f6': 6 })).toBe(
      '{"\\r":2,"1":5,"\u0080":4,"\u00f6":6,"\u20ac":1,"\ud83d\ude00":3}',
    );
    expect(canonicalJson({ at: new Date(0), skipped: undefined })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
    expect(canonicalJson(undefined)).toBeUndefined();
  });

  it('turns a lone surrogate in a value or a key into U+FFFD and keeps a pair', () => {
    expect(canonicalJson({ a: 'x\ud800', ['\udc00']: ['\udc00\ud800', '\ud83d\ude00'] })).toBe(
      '{"a":"x\ufffd","\ufffd":["\ufffd\ufffd","\ud83d\ude00"]}',
    );
  });

  it('keeps a "__proto__" key from JSON.parse as an ordinary key', () => {
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":"\\ud800"}}'))).toBe(
      '{"__proto__":{"x":"\ufffd"},"b":1}',
    );
  });

  it('refuses what JSON cannot carry', () => {
    expect(() => canonicalJson({ n: Number.POSITIVE_INFINITY })).toThrow();
    expect(() => canonicalJson({ n: Number.NaN })).toThrow();
  });
});

describe('eventDigest', () => {
  it('digests an event whose data holds a lone surrogate (the audit log records every event)', () => {
    const event = {
      id: '0190a0b0-0000-7000-8000-000000000000',
      type: 'PatientRegistered',
      stream: 'patient-1',
      revision: 0n,
      data: { note: JSON.parse('"\\ud800"') as string },
      metadata: {},
    } as unknown as Parameters<typeof eventDigest>[0];
    expect(eventDigest(event)).toMatch(/^[0-9a-f]{64}$/);
    expect(eventDigest(event)).toBe(eventDigest({ ...event, data: { note: '\ufffd' } }));
  });
});
