/**
 * argon2id password hashing via @node-rs/argon2 (prebuilt native binding, runs off the main thread).
 */
import { hash, verify } from '@node-rs/argon2';

/** argon2id cost parameters. */
export interface Argon2Params {
  /** KiB of memory. */
  readonly memoryCost: number;
  /** Passes. */
  readonly timeCost: number;
  readonly parallelism: number;
}

/** OWASP Password Storage Cheat Sheet's argon2id minimum: m=19456 KiB (19 MiB), t=2, p=1. */
export const OWASP_ARGON2_PARAMS: Argon2Params = Object.freeze({
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

/** Cheap parameters for tests only (never production): m=1024 KiB, t=1, p=1. */
export const TEST_ARGON2_PARAMS: Argon2Params = Object.freeze({
  memoryCost: 1024,
  timeCost: 1,
  parallelism: 1,
});

/** Hashes and verifies passwords. */
export interface PasswordHasher {
  readonly params: Argon2Params;
  /** A PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`. */
  hash(password: string): Promise<string>;
  /** False for a wrong password or a malformed hash (never throws on bad input). */
  verify(phc: string, password: string): Promise<boolean>;
  /** Verifies against a fixed dummy hash, so unknown users cost the same time as known ones. Always false. */
  verifyDummy(password: string): Promise<false>;
  /** Whether any hash in `history` matches `password` (checked one after another). */
  matchesAny(history: readonly string[], password: string): Promise<boolean>;
}

/** Creates a hasher with the given parameters (default OWASP). */
export function createPasswordHasher(params: Argon2Params = OWASP_ARGON2_PARAMS): PasswordHasher {
  // argon2id is the library's default algorithm (Algorithm.Argon2id = 2; a const enum, so not referenced here).
  const options = {
    memoryCost: params.memoryCost,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  };
  let dummy: Promise<string> | undefined;
  const safeVerify = async (phc: string, password: string): Promise<boolean> => {
    try {
      return await verify(phc, password);
    } catch {
      return false;
    }
  };
  return {
    params,
    hash: (password) => hash(password, options),
    verify: safeVerify,
    async verifyDummy(password) {
      dummy ??= hash('haven-dummy-password-for-timing', options);
      await safeVerify(await dummy, password);
      return false;
    },
    async matchesAny(history, password) {
      let found = false;
      for (const phc of history) if (await safeVerify(phc, password)) found = true;
      return found;
    },
  };
}
