/**
 * What the identity slices need from the outside world: the adapters (store, credential store, hasher, key ring,
 * revocation sink), the clock, the throttles and the policies. index.ts and wiring.ts build it once
 * ({@link identityDeps}); each slice's service takes it.
 */
import type { EventStore } from '@haven/eventstore';
import type { Logger } from '@haven/service';
import { CredentialStore } from '../credential/credential-store';
import type { PasswordHasher } from '../credential/password/hasher';
import { DEFAULT_PASSWORD_POLICY, type PasswordPolicy } from '../credential/password/policy';
import type { SecretSealer } from '../credential/secret-sealer';
import type { WebAuthnSettings } from '../passkey/settings';
import { DEFAULT_SESSION_POLICY, type SessionPolicy } from '../session/session';
import type { SigningKeyRing } from '../tokens/keys';
import { ACCESS_TOKEN_TTL_SEC } from '../tokens/tokens';
import { DEFAULT_LOCKOUT_POLICY, type LockoutPolicy } from '../user/lockout';
import { Role } from '../user/user';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle, type LoginThrottlePolicy } from './login-throttle';
import type { RevocationSink } from './revocation';

/** Options of the identity application (every slice). */
export interface IdentityAppOptions {
  readonly store: EventStore;
  readonly hasher: PasswordHasher;
  readonly keys: SigningKeyRing;
  /** Seals the secrets of the credential streams (TOTP secrets, recovery codes, password hashes). */
  readonly sealer: SecretSealer;
  readonly commonPasswords: ReadonlySet<string>;
  readonly passwordPolicy?: PasswordPolicy;
  readonly lockoutPolicy?: LockoutPolicy;
  readonly sessionPolicy?: SessionPolicy;
  /**
   * The clinic's idle timeout in force, ms, and when it was saved (identity follows the clinic's settings), read at
   * every use; undefined while nobody saved one: `sessionPolicy`'s (the deployment's HAVEN_IDLE_TIMEOUT_SEC) applies.
   */
  readonly idleTimeout?: () => { readonly ms: number; readonly since?: number } | undefined;
  /** Throttles per client address and account name (default {@link DEFAULT_LOGIN_THROTTLE}). */
  readonly loginThrottle?: LoginThrottlePolicy;
  /** Invitation validity. Default 7 days. */
  readonly inviteTtlMs?: number;
  readonly accessTokenTtlSec?: number;
  /** Roles that must enroll TOTP. Default admin and clinician. */
  readonly mfaRequiredRoles?: readonly Role[];
  /** Where passkeys are valid and the attestation policy; absent or null: passkeys are off. */
  readonly webAuthn?: WebAuthnSettings | null;
  readonly logger?: Logger;
  readonly now?: () => number;
  /** Revocations are published here (logout, deactivation, role change, reuse, idle, absolute, MFA reset, secret rotation). */
  readonly revocations?: RevocationSink;
}

/** The policies, defaults filled in. */
export interface IdentityPolicies {
  readonly password: PasswordPolicy;
  readonly commonPasswords: ReadonlySet<string>;
  readonly lockout: LockoutPolicy;
  readonly session: SessionPolicy;
  /** Invitation validity. */
  readonly inviteTtlMs: number;
  readonly accessTokenTtlSec: number;
  /** Roles that must enroll TOTP. */
  readonly mfaRequiredRoles: readonly Role[];
  /** Where passkeys are valid and the attestation policy; null: passkeys are off. */
  readonly webAuthn: WebAuthnSettings | null;
}

/** The dependencies of every slice's service. */
export interface IdentityDeps {
  readonly store: EventStore;
  /** The credential streams (sealed secrets). */
  readonly credentialStore: CredentialStore;
  readonly hasher: PasswordHasher;
  readonly keys: SigningKeyRing;
  readonly now: () => number;
  readonly logger: Logger | undefined;
  readonly revocations: RevocationSink | undefined;
  /** Login and token-request throttles, per client address and account name. */
  readonly throttle: LoginThrottle;
  readonly policies: IdentityPolicies;
  /** The session policy in force now: `policies.session` with the clinic's idle timeout when it set one. */
  readonly sessionPolicy: () => SessionPolicy;
}

/** Builds the slices' dependencies from the options, filling in the defaults. */
export function identityDeps(options: IdentityAppOptions): IdentityDeps {
  const now = options.now ?? Date.now;
  const session = options.sessionPolicy ?? DEFAULT_SESSION_POLICY;
  const clinicIdle = options.idleTimeout;
  return {
    sessionPolicy: () => {
      const idle = clinicIdle?.();
      return idle === undefined
        ? session
        : {
            ...session,
            idleTimeoutMs: idle.ms,
            ...(idle.since !== undefined ? { idleTimeoutSince: idle.since } : {}),
          };
    },
    store: options.store,
    credentialStore: new CredentialStore(options.store, options.sealer),
    hasher: options.hasher,
    keys: options.keys,
    now,
    logger: options.logger,
    revocations: options.revocations,
    throttle: new LoginThrottle(options.loginThrottle ?? DEFAULT_LOGIN_THROTTLE, now),
    policies: {
      password: options.passwordPolicy ?? DEFAULT_PASSWORD_POLICY,
      commonPasswords: options.commonPasswords,
      lockout: options.lockoutPolicy ?? DEFAULT_LOCKOUT_POLICY,
      session,
      inviteTtlMs: options.inviteTtlMs ?? 7 * 86_400_000,
      accessTokenTtlSec: options.accessTokenTtlSec ?? ACCESS_TOKEN_TTL_SEC,
      mfaRequiredRoles: options.mfaRequiredRoles ?? [Role.Admin, Role.Clinician],
      webAuthn: options.webAuthn ?? null,
    },
  };
}
