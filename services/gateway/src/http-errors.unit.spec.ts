import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { encodeStatus, STATUS_DETAILS_KEY } from '@haven/service';
import { httpErrorFromGrpc } from './http-errors';

function serviceError(code: status, retryDelayMs?: number): ServiceError {
  const metadata = new Metadata();
  metadata.set(
    STATUS_DETAILS_KEY,
    Buffer.from(
      encodeStatus({ code, message: 'm', ...(retryDelayMs !== undefined ? { retryDelayMs } : {}) }),
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
});
