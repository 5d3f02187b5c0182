/**
 * @haven/eventstore: the event store port (DESIGN.md §3), its envelope, ids, and adapters
 * (JetStream by default, KurrentDB, in-memory for unit tests). Test helpers: `@haven/eventstore/testing`.
 */
export type { Actor, EventEnvelope, NewEvent, RequestRecord, SealedPhi } from './envelope';
export type {
  AppendResult,
  Checkpoint,
  EventStore,
  ExpectedRevision,
  InspectableEventStore,
  PositionedEvent,
  ReadOptions,
  StoreInspection,
  StoreSettingDeviation,
  StoreStatus,
  StoredEvent,
  StoredRange,
  StoreHead,
  StreamName,
  SubscribeOptions,
  Subscription,
} from './port';
export { inspectionOf } from './inspection';
export { PENDING_COUNT_LIMIT } from './port';
export type { NewEventInput } from './ids';
export { newEventId, eventIdTimestamp, newEvent, parseStreamName, streamName } from './ids';
export { encodeEnvelope, decodeEnvelope, parseEnvelope } from './codec';
export { InMemoryEventStore } from './memory';
export type { Snapshot, SnapshotRequest, SnapshotStore, FileSnapshotStoreOptions } from './snapshot';
export { InMemorySnapshotStore, FileSnapshotStore } from './snapshot';
export type { JetStreamEventStoreOptions, JetStreamConnectOptions } from './jetstream';
export {
  JetStreamEventStore,
  EVENT_STORE_STREAM,
  EVENT_STORE_SUBJECT_PREFIX,
  EventHeaders,
  subjectOf,
} from './jetstream';
export { JetStreamInspection } from './jetstream-inspection';
export { KurrentDbEventStore } from './kurrentdb';
export type { EventStoreConfig } from './factory';
export { createEventStore } from './factory';
export { closeNatsConnection, connectNats, inboxPrefixOf, natsConnectionOptions } from './nats-connection';
export type { NatsConnectOptions, NatsCredentials } from './nats-connection';
export {
  ACCEPTED_MARKS_RETENTION_MS,
  ACCEPTED_MARKS_STREAM,
  ACCEPTED_MARKS_SUBJECT_PREFIX,
  BUS_STREAM,
  BUS_SUBJECT_PREFIX,
  CHECKPOINT_BUCKET,
  DEFAULT_DUPLICATE_WINDOW_MS,
  HAVEN_STREAMS,
  HavenStream,
  REVOCATION_RETENTION_MS,
  REVOCATIONS_STREAM,
  REVOCATIONS_SUBJECT,
  StreamNotProvisionedError,
  havenStreamSpec,
  isStreamNotFound,
  provisionHavenStreams,
  streamProblemMessage,
  streamDeviations,
  streamProblems,
  verifyHavenStreams,
} from './nats-streams';
export type {
  HavenStreamSpec,
  ProvisionOptions,
  ProvisionedStream,
  StreamFindingsLog,
  StreamVerification,
  VerifyStreamsOptions,
} from './nats-streams';
export {
  HAVEN_SERVICE_USERS,
  OPERATOR_ONLY_SUBJECTS,
  OPERATOR_USER,
  natsPermissionTable,
  natsPermissionsJson,
  refusalsAggregateOf,
  renderNatsAuthorization,
  servicePermissions,
} from './nats-permissions';
export type { HavenServiceUser, NatsPermissions, NatsUserPasswords } from './nats-permissions';
export type { BackoffOptions, ConsumerHealthOptions, ConsumerReporter, ConsumerStatus } from './consumers';
export { ConsumerHealth, ConsumerState, SingleFlight, backoffDelay } from './consumers';
export type {
  SourceHead,
  SupervisedConsumer,
  SupervisedHandle,
  SupervisorLogger,
  SupervisorOptions,
} from './supervisor';
export { ConsumerSupervisor, withTimeout } from './supervisor';
export type {
  CheckpointSource,
  CheckpointStore,
  Follower,
  FollowerLogger,
  FollowOptions,
  FollowSource,
  FollowStoreOptions,
  FollowWithCheckpointsOptions,
} from './follower';
export { follow, followStore, followWithCheckpoints, storeSource } from './follower';
export type { StreamItem } from './jetstream-source';
export { jetStreamSource } from './jetstream-source';
