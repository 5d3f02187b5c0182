/**
 * The identity application: one service per slice (users, credentials, sessions, service accounts, break-glass)
 * over the same adapters. Every use case, RPCs and CLI alike, goes through one of them; secrets never leave them
 * except the tokens and one-time secrets handed to the caller.
 */
import { BreakGlassService } from './break-glass/break-glass-service';
import { CredentialService } from './credential/credential-service';
import { PasskeyService } from './passkey/passkey-service';
import { ServiceAccountService } from './service-account/service-account-service';
import { SessionService } from './session/session-service';
import type { SessionPolicy } from './session/session';
import { NO_SSO, type SsoConfig } from '@haven/service';
import { identityDeps, type IdentityAppOptions as SliceOptions, type IdentityPolicies } from './shared/deps';
import { createIdTokenVerifier, type IdTokenVerifier } from './sso/id-token';
import { SsoService } from './sso/sso-service';
import { UserService } from './user/user-service';

/** Options of the identity application: the slices' dependencies and the clinics' identity providers. */
export interface IdentityAppOptions extends SliceOptions {
  /** The clinics' OpenID providers (default none: local accounts only) and how their ID tokens are verified. */
  readonly sso?: { readonly config: SsoConfig; readonly verifier?: IdTokenVerifier };
}

/** The identity use cases, by slice. */
export class IdentityApp {
  readonly users: UserService;
  readonly credentials: CredentialService;
  readonly sessions: SessionService;
  readonly serviceAccounts: ServiceAccountService;
  readonly breakGlass: BreakGlassService;
  readonly sso: SsoService;
  readonly passkeys: PasskeyService;
  /** The policies in force (defaults filled in). */
  readonly policies: IdentityPolicies;
  /** The session policy in force now (the clinic's idle timeout over the deployment's). */
  readonly sessionPolicy: () => SessionPolicy;

  constructor(options: IdentityAppOptions) {
    const deps = identityDeps(options);
    this.policies = deps.policies;
    this.sessionPolicy = deps.sessionPolicy;
    this.users = new UserService(deps);
    this.credentials = new CredentialService(deps);
    this.sessions = new SessionService(deps, (username) => this.users.findUserIdByUsername(username));
    this.serviceAccounts = new ServiceAccountService(deps);
    this.breakGlass = new BreakGlassService(deps);
    this.sso = new SsoService(deps, {
      config: options.sso?.config ?? NO_SSO,
      verifier: options.sso?.verifier ?? createIdTokenVerifier(),
      sessions: this.sessions,
      users: this.users,
    });
    this.passkeys = new PasskeyService(deps, (ctx, userId, now) =>
      this.sessions.startPasskeySession(ctx, userId, now),
    );
  }
}
