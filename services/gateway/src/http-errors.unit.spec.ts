import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { encodeStatus, STATUS_DETAILS_KEY } from '@haven/service';
import { httpErrorFromGrpc } from './http-errors';

function serviceError(code: status, retryDelayMs?: number, reason?: string): ServiceError {
  const metadata = new Metadata();
  metadata.set(
    STATUS_DETAILS_KEY,
    Buffer.from(
      encodeStatus({
        code,
        message: 'm',
        ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
        ...(reason !== undefined ? { errorInfo: { reason, domain: 'haven' } } : {}),
      }),
    ),
  );
  return Object.assign(new Error('m'), { code, details: 'm', metadata });
}

describe('httpErrorFromGrpc', () => {
  it('maps RESOURCE_EXHAUSTED to 429 with Retry-After from the RetryInfo, rounded up to whole seconds', () => {
    expect(httpErrorFromGrpc(serviceError(status.RESOURCE_EXHAUSTED, 2100))).toMatchObject({
      status: 429,
      retryAfterSec: 3,
      body: { error: { code: 'RESOURCE_EXHAUSTED' } },
    });
    expect(httpErrorFromGrpc(serviceError(status.RESOURCE_EXHAUSTED)).retryAfterSec).toBe(1);
    expect(httpErrorFromGrpc(serviceError(status.UNAVAILABLE)).retryAfterSec).toBeUndefined();
  });

  it('names why an admission was refused when the participant has not consented to the recording', () => {
    const running = httpErrorFromGrpc(
      serviceError(status.FAILED_PRECONDITION, undefined, 'RECORDING_CONSENT_REQUIRED'),
    );
    expect(running).toMatchObject({ status: 409, body: { error: { code: 'FAILED_PRECONDITION' } } });
    expect(running.body.error.message).toBe(
      'This visit is being recorded: they can be admitted once they consent to the recording. ' +
        'They are asked in the waiting room.',
    );
    const required = httpErrorFromGrpc(
      serviceError(status.FAILED_PRECONDITION, undefined, 'RECORDING_CONSENT_REQUIRED_BY_POLICY'),
    );
    expect(required.body.error.message).toBe(
      'This clinic records every visit: they can be admitted once they consent to the recording. ' +
        'They are asked in the waiting room.',
    );
    // Any other precondition keeps the generic message; a reason never reaches the browser by itself.
    expect(
      httpErrorFromGrpc(serviceError(status.FAILED_PRECONDITION, undefined, 'VISIT_LOCKED')).body.error
        .message,
    ).toBe('That cannot be done right now.');
    // The same reason under another status is not trusted to mean the same thing.
    expect(
      httpErrorFromGrpc(serviceError(status.PERMISSION_DENIED, undefined, 'RECORDING_CONSENT_REQUIRED')).body
        .error.message,
    ).toBe('You are not allowed to do that.');
  });
});
