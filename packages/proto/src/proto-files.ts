import { join, resolve } from 'node:path';

/**
 * Absolute path of the repository's `proto/` directory (the import root of every Haven
 * `.proto` file). Computed from this module's directory, which is `packages/proto/src` under
 * jest and `packages/proto/dist` at runtime: both sit three levels below the repository root.
 */
export const PROTO_ROOT: string = resolve(__dirname, '..', '..', '..', 'proto');

/**
 * Every `.proto` file of the public contract, relative to {@link PROTO_ROOT}, for loading
 * with `@grpc/proto-loader` (`load(PROTO_FILES, { includeDirs: [PROTO_ROOT] })`), e.g. to
 * serve gRPC reflection. A unit test checks this list against the files on disk.
 */
export const PROTO_FILES: readonly string[] = Object.freeze([
  'google/rpc/code.proto',
  'google/rpc/error_details.proto',
  'google/rpc/status.proto',
  'haven/audit/v1/audit_events.proto',
  'haven/audit/v1/audit_service.proto',
  'haven/events/v1/envelope.proto',
  'haven/events/v1/phi_events.proto',
  'haven/identity/v1/identity_events.proto',
  'haven/identity/v1/identity_service.proto',
  'haven/identity/v1/passkey_service.proto',
  'haven/recording/v1/recording_events.proto',
  'haven/recording/v1/recording_service.proto',
  'haven/scheduling/v1/scheduling_events.proto',
  'haven/scheduling/v1/scheduling_service.proto',
  'haven/security/v1/security_events.proto',
  'haven/session/v1/session_events.proto',
  'haven/session/v1/session_service.proto',
]);

/**
 * Absolute path of one file of {@link PROTO_FILES}.
 * Throws nothing; it does not check that the file exists.
 */
export function protoPath(file: string): string {
  return join(PROTO_ROOT, file);
}

/** Fully-qualified gRPC service names, e.g. for health checks and reflection. */
export const SERVICE_NAMES = {
  identity: 'haven.identity.v1.IdentityService',
  scheduling: 'haven.scheduling.v1.SchedulingService',
  session: 'haven.session.v1.SessionService',
  recording: 'haven.recording.v1.RecordingService',
  audit: 'haven.audit.v1.AuditService',
} as const;
/**
 * The Haven service whose process serves a proto service: every service of `haven.<name>.v1` (e.g. identity's
 * PasskeyService beside its IdentityService) runs in the Haven service `<name>`. Undefined for any other name.
 */
export function havenServiceOf(protoService: string): keyof typeof SERVICE_NAMES | undefined {
  const match = /^haven\.([a-z]+)\.v1\.[A-Za-z]+$/.exec(protoService);
  const name = match?.[1];
  return name !== undefined && Object.prototype.hasOwnProperty.call(SERVICE_NAMES, name)
    ? (name as keyof typeof SERVICE_NAMES)
    : undefined;
}
/** One of the {@link SERVICE_NAMES} values. */
export type ServiceName = (typeof SERVICE_NAMES)[keyof typeof SERVICE_NAMES];
