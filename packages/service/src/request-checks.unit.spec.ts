import { ValidationError } from '@haven/errors';
import {
  assertRequestWellFormed,
  isTimestampInRange,
  timestampViolations,
  tolerantDefinition,
  UndecodableRequest,
} from './request-checks';

describe('Timestamp range checks', () => {
  it('accepts the whole google.protobuf.Timestamp range and nothing outside it', () => {
    expect(isTimestampInRange(new Date('0001-01-01T00:00:00.000Z'))).toBe(true);
    expect(isTimestampInRange(new Date('9999-12-31T23:59:59.999Z'))).toBe(true);
    expect(isTimestampInRange(new Date(-62_135_596_800_001))).toBe(false);
    expect(isTimestampInRange(new Date(253_402_300_800_000))).toBe(false);
    expect(isTimestampInRange(new Date(Number.NaN))).toBe(false);
  });

  it('names every bad Timestamp by its proto path, at any depth and in lists', () => {
    const request = {
      startTime: new Date(Number.NaN),
      appointment: { endTime: new Date(1e15), startTime: new Date() },
      items: [{ expireTime: new Date(0) }, { expireTime: new Date(-1e16) }],
      name: 'x',
      bytes: new Uint8Array([1, 2]),
    };
    expect(timestampViolations(request).map((v) => v.field)).toEqual([
      'start_time',
      'appointment.end_time',
      'items[1].expire_time',
    ]);
  });

  it('throws a ValidationError for undecodable bytes and for bad Timestamps, nothing for a good request', () => {
    expect(() => assertRequestWellFormed({ when: new Date() })).not.toThrow();
    const undecodable = (() => {
      try {
        assertRequestWellFormed(new UndecodableRequest('premature EOF'));
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(undecodable).toBeInstanceOf(ValidationError);
    expect((undecodable as ValidationError).violations[0]?.field).toBe('request');
    expect(() => assertRequestWellFormed({ endTime: new Date(1e15) })).toThrow(ValidationError);
  });
});

describe('tolerantDefinition', () => {
  it('turns a throwing request decoder into an UndecodableRequest and keeps everything else', () => {
    const definition = {
      get: {
        path: '/x.S/Get',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: unknown) => Buffer.from(String(v)),
        requestDeserialize: (b: Buffer) => {
          if (b.length === 0) throw new Error('premature EOF');
          return b.toString();
        },
        responseSerialize: (v: unknown) => Buffer.from(String(v)),
        responseDeserialize: (b: Buffer) => b.toString(),
      },
    };
    const tolerant = tolerantDefinition(definition);
    expect(tolerant['get']?.requestDeserialize(Buffer.from('ok'))).toBe('ok');
    const bad: unknown = tolerant['get']?.requestDeserialize(Buffer.alloc(0));
    expect(bad).toBeInstanceOf(UndecodableRequest);
    expect((bad as UndecodableRequest).problem).toBe('premature EOF');
    expect(tolerant['get']?.path).toBe('/x.S/Get');
  });
});
