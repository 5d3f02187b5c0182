/**
 * What a promise that must fail rejected with: `expect((await failureOf(call)).code).toBe(Status.NOT_FOUND)`.
 * Throws when the promise resolves, so a call that wrongly succeeds fails the test.
 */
import type { ServiceError } from '@grpc/grpc-js';

/** The rejection of `promise` (a gRPC call's ServiceError unless told otherwise); throws if it resolved. */
export async function failureOf<E = ServiceError>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error('expected the call to fail');
}

/**
 * The gRPC status a call ended with: its error's code, or OK (0) when it resolved —
 * `expect(await statusOf(call)).toBe(Status.PERMISSION_DENIED)`.
 */
export async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (error) {
    return (error as ServiceError).code;
  }
  return 0;
}
