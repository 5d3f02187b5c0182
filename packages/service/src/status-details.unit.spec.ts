import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { NotFoundError, ResourceExhaustedError, ValidationError } from '@haven/errors';
import {
  errorReason,
  grpcErrorFromHavenError,
  havenErrorFromServiceError,
  parseStatusDetails,
} from './grpc-errors';
import { decodeStatus, encodeStatus } from './status-details';

describe('google.rpc.Status encoding', () => {
  it('round-trips code, message, violations and ErrorInfo', () => {
    const status = {
      code: 3,
      message: 'bad',
      fieldViolations: [
        { field: 'a.b', description: 'required' },
        { field: 'c', description: 'too long' },
      ],
      errorInfo: { reason: 'VALIDATION', domain: 'haven', metadata: { correlationId: 'c-1' } },
    };
    expect(decodeStatus(encodeStatus(status))).toEqual({ ...status, otherDetails: [] });
  });

  it('round-trips a RetryInfo delay', () => {
    expect(decodeStatus(encodeStatus({ code: 8, message: 'slow down', retryDelayMs: 2500 }))).toEqual({
      code: 8,
      message: 'slow down',
      fieldViolations: [],
      otherDetails: [],
      retryDelayMs: 2500,
    });
  });

  it('writes RetryInfo as protobufjs decodes google.rpc.RetryInfo (wire compatible)', () => {
    const root = protobuf.Root.fromJSON({
      nested: {
        Status: {
          fields: {
            code: { type: 'int32', id: 1 },
            details: { rule: 'repeated', type: 'Any', id: 3 },
          },
        },
        Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
        RetryInfo: { fields: { retry_delay: { type: 'Duration', id: 1 } } },
        Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
      },
    });
    const Status = root.lookupType('Status');
    const RetryInfo = root.lookupType('RetryInfo');
    const status = Status.toObject(
      Status.decode(encodeStatus({ code: 8, message: '', retryDelayMs: 61_250 })),
      {
        longs: Number,
      },
    ) as { details: { type_url: string; value: Uint8Array }[] };
    expect(status.details[0]?.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    expect(RetryInfo.toObject(RetryInfo.decode(status.details[0]!.value), { longs: Number })).toEqual({
      retry_delay: { seconds: 61, nanos: 250_000_000 },
    });
  });

  it('is what protobufjs decodes as google.rpc.Status (wire compatible)', () => {
    // protobufjs (under @grpc/proto-loader) as an independent decoder; the rpc messages declared inline.
    const root = protobuf.Root.fromJSON({
      nested: {
        google: {
          nested: {
            rpc: {
              nested: {
                Status: {
                  fields: {
                    code: { type: 'int32', id: 1 },
                    message: { type: 'string', id: 2 },
                    details: { rule: 'repeated', type: 'Any', id: 3 },
                  },
                },
                Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
                BadRequest: {
                  fields: { field_violations: { rule: 'repeated', type: 'FieldViolation', id: 1 } },
                  nested: {
                    FieldViolation: {
                      fields: { field: { type: 'string', id: 1 }, description: { type: 'string', id: 2 } },
                    },
                  },
                },
              },
            },
          },
        },
      },
    });
    const Status = root.lookupType('google.rpc.Status');
    const BadRequest = root.lookupType('google.rpc.BadRequest');
    const decoded = Status.toObject(
      Status.decode(
        encodeStatus({ code: 3, message: 'm', fieldViolations: [{ field: 'f', description: 'd' }] }),
      ),
    ) as {
      code: number;
      message: string;
      details: { type_url: string; value: Uint8Array }[];
    };
    expect(decoded.code).toBe(3);
    expect(decoded.details[0]?.type_url).toBe('type.googleapis.com/google.rpc.BadRequest');
    expect(BadRequest.toObject(BadRequest.decode(decoded.details[0]!.value))).toEqual({
      field_violations: [{ field: 'f', description: 'd' }],
    });
  });
});

describe('grpcErrorFromHavenError', () => {
  it('maps a ValidationError to INVALID_ARGUMENT with its violations', () => {
    const err = grpcErrorFromHavenError(
      new ValidationError([{ field: 'start_time', description: 'must be in the future' }]),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    const parsed = parseStatusDetails(err);
    expect(parsed.fieldViolations).toEqual([{ field: 'start_time', description: 'must be in the future' }]);
    expect(parsed.reason).toBe('VALIDATION');
    expect(parsed.domain).toBe('haven');
  });

  it('maps a ResourceExhaustedError to RESOURCE_EXHAUSTED with RetryInfo, and back', () => {
    const err = grpcErrorFromHavenError(
      new ResourceExhaustedError('too many attempts', { retryAfterMs: 4200 }),
    );
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(parseStatusDetails(err)).toMatchObject({ retryDelayMs: 4200, reason: 'RESOURCE_EXHAUSTED' });
    const back = havenErrorFromServiceError(err);
    expect(back).toBeInstanceOf(ResourceExhaustedError);
    expect((back as ResourceExhaustedError).retryAfterMs).toBe(4200);
  });

  it('hides the message of a foreign error', () => {
    const err = grpcErrorFromHavenError(new Error('patient Jane Doe'), { correlationId: 'c-9' });
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe('internal error (correlation id c-9)');
    expect(parseStatusDetails(err).errorMetadata).toEqual({ correlationId: 'c-9' });
  });

  it('derives reasons from class names', () => {
    class VisitLockedError extends NotFoundError {}
    expect(errorReason(new VisitLockedError('x'))).toBe('VISIT_LOCKED');
    expect(errorReason(new NotFoundError('x'))).toBe('NOT_FOUND');
  });
});
