/**
 * @haven/auth — least privilege as one table in code: every RPC's full method path → the roles, principal kinds
 * and service-account scopes allowed to call it, and the pure decision over it. Enforced by @haven/service's
 * gRPC harness before any handler runs (deny by default). No Node builtins: pure code may import it.
 */
export { POLICY, Role, ROLES, PrincipalKind, Scope, SCOPES } from './policy';
export type { MethodPolicy, NonUserKind, PublicPolicy, RestrictedPolicy } from './policy';
export {
  authorize,
  describePolicy,
  policyMarkdown,
  policyMethods,
  policyOf,
  publicMethods,
} from './authorize';
export type { AuthorizationDecision, AuthorizationSubject } from './authorize';
export { PEER_POLICY, Workload, WORKLOADS, authorizePeer } from './peers';
