/**
 * @haven/service — the one way every Haven service boots: configuration, logging, token verification,
 * the gRPC server (auth, tracing, metrics, deadlines, error mapping, health, reflection, graceful shutdown),
 * gRPC client helpers and the decider command handler.
 */
export {
  baseConfigSchema,
  DEFAULT_GRPC_PORTS,
  createBaseConfigSchema,
  portSchema,
  commaListSchema,
  loadConfig,
  STACK_WIDE_VARIABLES,
  isSensitiveVariable,
  ConfigError,
  LOG_LEVELS,
  EVENT_STORES,
  natsCredentialShape,
  natsCredentialsOf,
  tlsShape,
  kmsConfigShape,
  kmsConfigShapeRequiringKeyring,
  kmsEnvOf,
  KMS_PROVIDERS,
  KMS_REQUIRED_VARIABLES,
  DEFAULT_TLS_REFRESH_MS,
  DEFAULT_TRUST_DOMAIN,
} from './config';
export type {
  BaseConfig,
  ConfigProblem,
  KmsConfig,
  KmsProvider,
  LoadConfigOptions,
  LogLevel,
  NatsConfig,
  TlsConfig,
} from './config';
export { NO_SSO, loadSsoConfig, parseSsoConfig, ssoProvider } from './sso-config';
export type { SsoConfig, SsoProvider } from './sso-config';
export { createLogger, serializeError, REDACTED_FIELDS, REDACT_PATHS } from './logger';
export type { Logger, CreateLoggerOptions } from './logger';
export { PrincipalKind, actorOf, requirePrincipal, callMetadata, commandMetadata } from './principal';
export { causedBy, commandEvent } from './command-event';
export type { EventMetadata } from './command-event';
export { RESOURCE_ID, idOfName } from './resource-names';
export type { Principal } from './principal';
export {
  createJwtVerifier,
  createVerifierFromConfig,
  principalFromClaims,
  JWT_ALGORITHMS,
  PATIENT_TOKEN_ISSUER,
} from './jwt';
export type { JwtVerifierOptions, TokenVerifier, TrustedIssuer } from './jwt';
export {
  RevocationFeed,
  RevocationPublisher,
  RevocationSet,
  RevocationReason,
  revocationCovers,
  verifyRevocationStream,
  REVOCATIONS_SUBJECT,
  REVOCATIONS_STREAM,
  REVOCATION_RETENTION_MS,
  SESSION_REVOKED_TYPE,
} from './revocation';
export type {
  RevocationFeedOptions,
  RevocationNatsOptions,
  RevocationSetOptions,
  SessionRevoked,
  TokenFacts,
} from './revocation';
export {
  recordBreakGlassUse,
  breakGlassCovers,
  BREAK_GLASS_SCOPE,
  BREAK_GLASS_USED_TYPE,
} from './break-glass';
export type { RecordBreakGlassUseOptions } from './break-glass';
export {
  startGrpcService,
  PeerDeniedError,
  PolicyDeniedError,
  LIVENESS_HEALTH_NAME,
  consumerHealthName,
} from './grpc-server';
export type {
  AuthorizationMode,
  CallContext,
  GrpcServiceOptions,
  RunningGrpcService,
  ServiceRegistration,
  UnaryHandler,
  ServerStreamingHandler,
} from './grpc-server';
export {
  grpcErrorFromHavenError,
  havenErrorDetails,
  parseStatusDetails,
  havenErrorFromServiceError,
  errorReason,
  isRetryable,
  ERROR_DOMAIN,
  STATUS_OF_CATEGORY,
} from './grpc-errors';
export type { GrpcErrorStatus, ParsedStatusDetails } from './grpc-errors';
export {
  encodeStatus,
  decodeStatus,
  STATUS_DETAILS_KEY,
  BAD_REQUEST_TYPE_URL,
  ERROR_INFO_TYPE_URL,
  RETRY_INFO_TYPE_URL,
} from './status-details';
export {
  clientAddressOf,
  forwardClientAddress,
  peerIp,
  sharedSecretForwarderTrust,
  CLIENT_ADDRESS_METADATA,
  FORWARDER_METADATA,
  NO_FORWARDER_TRUST,
} from './client-address';
export type { ClientAddress, ForwarderTrust, ForwardingCall } from './client-address';
export {
  assertRequestWellFormed,
  isTimestampInRange,
  timestampViolations,
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
} from './request-checks';
export type { DecodedStatus, ErrorInfoDetail, StatusInput } from './status-details';
export { mutualTlsFromFiles, mutualTlsOf, workloadOfCertificate } from './tls';
export type { MutualTls, MutualTlsFiles, MutualTlsServerCredentials } from './tls';
export { clientCallMetadata, callUnary, promisifyUnary } from './client';
export { bindHandlers } from './bind-handlers';
export { PATIENT_ERASED, followErasedPatients } from './patient-erasures';
export type { ErasedPatientsOptions } from './patient-erasures';
export type { BoundHandlers } from './bind-handlers';
export type { BoundUnaryCall, CallOptions, ClientCallMetadataInput, RequestOf, ResponseOf } from './client';
export { SerialQueues } from './serial-queues';
export { handleCommand, findReplay, loadAggregate, CallAbortedError, throwIfAborted } from './decider';
export type {
  CommandMetadata,
  CommandResult,
  DecidedEvent,
  HandleCommandOptions,
  LoadAggregateOptions,
  LoadedAggregate,
  SnapshotPolicy,
  StoredEvent,
} from './decider';
export {
  IDEMPOTENCY_WINDOW_MS,
  RequestIdReusedError,
  canonicalJson,
  idempotencyKey,
  idempotentResourceId,
  requestRecord,
} from './idempotency';
export type { IdempotencyKey } from './idempotency';
export { JWKS_PATH, startJwksServer } from './jwks-server';
export { listening } from './listening';
export { PHI_ACCESSED, phiAccessEvent } from './phi-access';
export type { PhiAccess, PhiOutcome } from './phi-access';
export { keyPage, nextOffsetToken, offsetPage, pageItems, pageSizeOf } from './page';
export type { KeyPage, OffsetPage, PageLimits, PageRequest } from './page';
export { decodePageToken, encodePageToken, isPageKeyPair, isPageOffset } from './page-token';
export type { PagePosition } from './page-token';
export type { JwksServer, JwksServerOptions } from './jwks-server';
export { installSignalHandlers } from './signals';
export type { SignalHandlerOptions } from './signals';
export { runServiceMain } from './main';
export type { ServiceMainOptions } from './main';
export { connectEventStore, connectRevocationFeed, serveHavenGrpc } from './runtime';
export { awaitNatsAtStart, serveStartupHealth, serviceStreams, waitForNats } from './startup';
export { loadNatsProvisionConfig, natsProvisionConfigSchema, provisionNatsStreams } from './nats-provision';
export type { NatsProvisionConfig } from './nats-provision';
export type { StartupHealth, WaitForNatsOptions } from './startup';
export type { HavenGrpcOptions } from './runtime';
export {
  accessRefusalStream,
  createAccessRefusalRecorder,
  accessRefusedData,
  isResourceName,
  AccessRefusalKind,
  ACCESS_REFUSED,
  ACCESS_REFUSALS_SUPPRESSED,
} from './access-refusals';
export type { AccessRefusal, AccessRefusalRecorder, AccessRefusalRecorderOptions } from './access-refusals';
export { FsObjectStore, StorageFullError } from './object-store';
export type { ObjectRange, ObjectStore, PutResult } from './object-store';
export {
  CLINIC_SETTING_DEFAULTS,
  CLINIC_SETTINGS_CHANGED,
  CLINIC_SETTINGS_STREAM,
  IDLE_TIMEOUT_SEC,
  LINK_GRACE_MINUTES,
  PasscodeDelivery,
  RecordingPolicy,
  clinicSettingsChangeOf,
  clinicSettingsInForce,
  evolveClinicSettings,
} from './clinic-settings';
export type {
  ClinicSettingValues,
  ClinicSettings,
  ClinicSettingsChange,
  SavedClinicSettings,
} from './clinic-settings';
export { followClinicSettings } from './clinic-settings-feed';
export type { ClinicSettingsFeed, FollowClinicSettingsOptions } from './clinic-settings-feed';
