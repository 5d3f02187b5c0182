import { NatsError } from 'nats';
import { isStreamNotFound } from './nats-streams';

function apiError(code: number, errCode: number, description: string): NatsError {
  const err = new NatsError(description, String(code));
  err.api_error = { code, err_code: errCode, description };
  return err;
}

describe('isStreamNotFound', () => {
  it('is true for JetStream error 10059 and for an old server that only says so in words', () => {
    expect(isStreamNotFound(apiError(404, 10059, 'stream not found'))).toBe(true);
    expect(isStreamNotFound(new NatsError('stream not found', '404'))).toBe(true);
  });

  it('is false for a missing message (also a 404), a missing consumer and anything not from NATS', () => {
    expect(isStreamNotFound(apiError(404, 10037, 'no message found'))).toBe(false);
    expect(isStreamNotFound(apiError(404, 10014, 'consumer not found'))).toBe(false);
    expect(isStreamNotFound(new Error('stream not found'))).toBe(false);
  });
});
