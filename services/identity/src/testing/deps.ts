/**
 * Test support: the slices' dependencies over an in-memory event store, a key ring in a temporary folder, cheap
 * argon2 parameters and in-memory sealing keys (unit tests only).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryEventStore } from '@haven/eventstore';
import { idempotencyKey, type IdempotencyKey } from '@haven/service';
import { createPasswordHasher, TEST_ARGON2_PARAMS } from '../credential/password/hasher';
import { identityDeps, type IdentityAppOptions, type IdentityDeps } from '../shared/deps';
import type { CommandContext } from '../shared/streams';
import { SigningKeyRing } from '../tokens/keys';
import { inMemorySealer } from './sealer';

/** Dependencies for one test, and how to clean them up. */
export interface TestDeps {
  readonly deps: IdentityDeps;
  readonly store: InMemoryEventStore;
  close(): Promise<void>;
}

/** Builds the dependencies; `options` override the defaults. */
export async function testDeps(options: Partial<IdentityAppOptions> = {}): Promise<TestDeps> {
  const dir = await mkdtemp(join(tmpdir(), 'haven-identity-deps-'));
  const store = new InMemoryEventStore();
  const deps = identityDeps({
    store,
    sealer: inMemorySealer(),
    hasher: createPasswordHasher(TEST_ARGON2_PARAMS),
    keys: await SigningKeyRing.open({ dataDir: dir }),
    commonPasswords: new Set(),
    ...options,
  });
  return {
    deps,
    store,
    close: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The bootstrap admin's command context. */
export const ADMIN: CommandContext = {
  actor: { kind: 'user', id: 'bootstrap', role: 'admin' },
  correlationId: 'c1',
};

/** A fixed request id (a UUID) for idempotency tests. */
export const REQUEST_ID = '7f9c2b1e-4a3d-4e5f-8a6b-0c1d2e3f4a5b';

/** The idempotency key of a clinician's call of `method` (`/haven.identity.v1.IdentityService/…`) with `requestId`. */
export function requestKeyOf(method: string, requestId = REQUEST_ID): IdempotencyKey {
  return idempotencyKey(
    { method, principal: { kind: 'user', id: 'u-1', role: 'clinician', scopes: [] } },
    requestId,
  )!;
}
