/**
 * Which workload may open a connection to which gRPC service: the transport half of least privilege. Every Haven
 * service and client holds a certificate whose URI SAN names it (`spiffe://<trust domain>/<name>`); the gRPC
 * harness (@haven/service) reads the caller's name from its client certificate and checks it here before the
 * token is even looked at. A certificate of the wrong workload is refused with PERMISSION_DENIED.
 *
 * Haven's services meet through events, never by calling each other: only the gateway (relaying a user's or a
 * patient's token) and hospital systems (`integration`, with a service account's token) call gRPC. So a leaked
 * certificate of, say, the recording service opens no RPC anywhere.
 *
 * Pure: no Node builtins, no I/O.
 */
import type { AuthorizationDecision } from './authorize';

/** The workloads that hold a Haven certificate. */
export const Workload = {
  Identity: 'identity',
  Scheduling: 'scheduling',
  Session: 'session',
  Recording: 'recording',
  Audit: 'audit',
  Gateway: 'gateway',
  /** A hospital system calling gRPC with a service account's token (and the operator's tools). */
  Integration: 'integration',
  /** The NATS stream provisioning (a NATS client only). */
  Operator: 'operator',
  /** nats-server's own certificate. */
  Nats: 'nats',
} as const;
/** One of {@link Workload}. */
export type Workload = (typeof Workload)[keyof typeof Workload];
/** Every {@link Workload}, in a stable order (the dev stack issues a certificate to each). */
export const WORKLOADS: readonly Workload[] = Object.freeze(Object.values(Workload));

const CALLERS: readonly Workload[] = Object.freeze([Workload.Gateway, Workload.Integration]);

/**
 * gRPC service (full name) → the workloads whose client certificate may call it. Health checking and reflection
 * are not listed: any certificate of the deployment's CA may ask whether a server is up.
 */
export const PEER_POLICY: Readonly<Record<string, readonly Workload[]>> = Object.freeze({
  'haven.identity.v1.IdentityService': CALLERS,
  'haven.identity.v1.PasskeyService': CALLERS,
  'haven.scheduling.v1.SchedulingService': CALLERS,
  'haven.session.v1.SessionService': CALLERS,
  'haven.recording.v1.RecordingService': CALLERS,
  'haven.audit.v1.AuditService': CALLERS,
});

/**
 * Decides whether the workload named by the caller's client certificate (`undefined`: no certificate, or one
 * without a Haven identity) may call `method` (full gRPC path). Deny by default: a service without an entry is
 * refused. `reason` is safe to send to the caller. Throws nothing.
 */
export function authorizePeer(method: string, workload: string | undefined): AuthorizationDecision {
  const service = /^\/([^/]+)\//.exec(method)?.[1] ?? '';
  const callers = Object.prototype.hasOwnProperty.call(PEER_POLICY, service)
    ? PEER_POLICY[service]
    : undefined;
  if (!callers) return { allowed: false, reason: `${service || 'this service'} accepts no workload` };
  if (workload === undefined)
    return { allowed: false, reason: 'the client certificate names no Haven workload' };
  if ((callers as readonly string[]).includes(workload)) return { allowed: true };
  return { allowed: false, reason: `workload ${workload} may not call ${service}` };
}
