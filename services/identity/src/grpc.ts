/**
 * The gRPC service haven.identity.v1.IdentityService: every RPC of the proto, each handled by its slice
 * (`<slice>/grpc.ts`) with the request checks of `shared/grpc-access.ts`.
 */
import { identity, passkeys } from '@haven/proto';
import type { ForwarderTrust, ServiceRegistration, TokenVerifier } from '@haven/service';
import { breakGlassHandlers } from './break-glass/grpc';
import { credentialHandlers } from './credential/grpc';
import type { IdentityApp } from './identity-app';
import { serviceAccountHandlers } from './service-account/grpc';
import { sessionHandlers } from './session/grpc';
import { passkeyGrpcService } from './passkey/grpc';
import { identityGrpcAccess } from './shared/grpc-access';
import { ssoHandlers } from './sso/grpc';
import { userHandlers } from './user/grpc';

const P = identity.IdentityServiceService;

/** Methods callable without an access token. */
export const PUBLIC_METHODS: readonly string[] = [
  P.login.path,
  P.refreshToken.path,
  P.activateUser.path,
  P.getJwks.path,
  P.issueServiceAccountToken.path,
  P.signInWithSso.path,
  passkeys.PasskeyServiceService.startPasskeySignIn.path,
  passkeys.PasskeyServiceService.finishPasskeySignIn.path,
];

export interface IdentityGrpcOptions {
  readonly app: IdentityApp;
  /** Used where a public method optionally takes a token (ActivateUser reactivation). */
  readonly verifier: TokenVerifier;
  /** Who may pass an end client's address on (the gateway); default nobody (the peer's address counts). */
  readonly forwarders?: ForwarderTrust;
}

/** The service registrations for startGrpcService: IdentityService and PasskeyService. */
export function identityGrpcServices(options: IdentityGrpcOptions): ServiceRegistration[] {
  const { app } = options;
  const access = identityGrpcAccess({
    sessionActive: (sessionId) => app.sessions.sessionActive(sessionId),
    verifier: options.verifier,
    forwarders: options.forwarders,
  });
  const handlers: ServiceRegistration['handlers'] = {
    ...userHandlers(app.users, access),
    ...sessionHandlers(app.sessions, access),
    ...credentialHandlers(app.credentials, access),
    ...serviceAccountHandlers(app.serviceAccounts, access),
    ...breakGlassHandlers(app.breakGlass, access),
    ...ssoHandlers(app.sso, access),
  };
  return [{ definition: P, handlers }, passkeyGrpcService(app.passkeys, access)];
}
