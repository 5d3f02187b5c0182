/**
 * Test support: the environment identity's integration suites start it with, and their calls (integration tests
 * only).
 */
import type { identity } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { TEST_PASSWORD } from './users';

/**
 * The service's environment for a suite: `natsEnv` (the suite's NATS user), ephemeral ports, the suite's data
 * folder and cheap argon2 for a fast suite (production defaults are OWASP's, see config.unit.spec.ts); `extra`
 * adds or overrides variables.
 */
export function testIdentityEnv(
  natsEnv: Readonly<Record<string, string>>,
  dataDir: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    ...natsEnv,
    HAVEN_GRPC_PORT: '0',
    HAVEN_HTTP_PORT: '0',
    HAVEN_DATA_DIR: dataDir,
    HAVEN_ARGON2_MEMORY_KIB: '1024',
    HAVEN_ARGON2_TIME_COST: '1',
    ...extra,
  };
}

/** An IdentityService RPC name. */
export type IdentityMethod = Extract<keyof identity.IdentityServiceClient, string>;

/** Calls `method` on `client` with `token` as the bearer (none when undefined), 10 s deadline. */
export function callIdentity<M extends IdentityMethod>(
  client: identity.IdentityServiceClient,
  method: M,
  request: Parameters<identity.IdentityServiceClient[M]>[0],
  token?: string,
) {
  return callUnary(
    client,
    method,
    request as never,
    clientCallMetadata(token !== undefined ? { token } : {}),
    {
      deadlineMs: 10_000,
    },
  );
}

/** Login of `username` with TEST_PASSWORD and `totpCode` (a TOTP or a recovery code; none by default). */
export function loginIdentity(client: identity.IdentityServiceClient, username: string, totpCode = '') {
  return callIdentity(client, 'login', { username, password: TEST_PASSWORD, totpCode });
}

/** A suite's `call` (callIdentity) and `signIn` (loginIdentity) on the client `client()` answers at call time. */
export function identityCalls(client: () => identity.IdentityServiceClient) {
  return {
    call: <M extends IdentityMethod>(
      method: M,
      request: Parameters<identity.IdentityServiceClient[M]>[0],
      token?: string,
    ) => callIdentity(client(), method, request, token),
    signIn: (username: string, totpCode?: string) => loginIdentity(client(), username, totpCode),
  };
}
