/**
 * Telemetry attribute names, and the allow-list. Nothing that is not listed here reaches a span, a span
 * event, a link or a metric: the allow-list processor (see `initTelemetry`) drops everything else.
 *
 * Deliberately absent (they can identify a patient or carry PHI): `url.full`, `url.path`, `url.query`
 * (patient links carry one-time tokens), `client.address`, `network.peer.address` (IP addresses are
 * identifiers under HIPAA), `user_agent.original`, `exception.message`, `exception.stacktrace` (messages
 * may quote input), `enduser.*`, and any `patient.*` or free-text attribute. Add a name only after
 * asking "can its value ever hold PHI?".
 */

// RPC (gRPC) — OpenTelemetry semantic conventions.
/** `grpc`. */
export const ATTR_RPC_SYSTEM = 'rpc.system';
/** Fully-qualified service, e.g. `haven.session.v1.SessionService`. */
export const ATTR_RPC_SERVICE = 'rpc.service';
/** Method name, e.g. `AdmitParticipant`. */
export const ATTR_RPC_METHOD = 'rpc.method';
/** Numeric gRPC status code. */
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';

// HTTP (gateway) — route templates only, never concrete paths.
/** `GET`, `POST`, … */
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
/** Numeric HTTP status. */
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
/** The route template (`/api/visits/:id`), never the concrete path. */
export const ATTR_HTTP_ROUTE = 'http.route';

// Messaging (NATS).
/** `nats`. */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
/**
 * The subject. Fan-out subjects (`haven.<context>.<aggregate>.<EventName>`) carry no id; for subjects
 * that carry an aggregate id (not PHI, but high-cardinality) prefer {@link ATTR_MESSAGING_DESTINATION_TEMPLATE}.
 */
export const ATTR_MESSAGING_DESTINATION = 'messaging.destination.name';
/** The subject template with ids replaced, e.g. `scheduling.appointment-{id}`. */
export const ATTR_MESSAGING_DESTINATION_TEMPLATE = 'messaging.destination.template';
/** `publish`, `receive`, `process`, `create`, `send`, `settle`. */
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
/** Message / event id (UUIDv7). */
export const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id';

// Errors and peers.
/** Error class or status name (`ValidationError`, `DEADLINE_EXCEEDED`). */
export const ATTR_ERROR_TYPE = 'error.type';
/** Exception class; set by `span.recordException`. (`exception.message` is not allowed.) */
export const ATTR_EXCEPTION_TYPE = 'exception.type';
/** Address of a server we call (NATS, Janus, a Haven service): our infrastructure, not a client. */
export const ATTR_SERVER_ADDRESS = 'server.address';
/** Port of a server we call. */
export const ATTR_SERVER_PORT = 'server.port';

// Haven.
/** The Haven service (`identity`, `scheduling`, `session`, `recording`, `audit`, `gateway`). */
export const ATTR_HAVEN_SERVICE = 'haven.service';
/** Fully-qualified event type, e.g. `haven.scheduling.v1.AppointmentBooked`. */
export const ATTR_HAVEN_EVENT_TYPE = 'haven.event.type';
/** Number of events appended or read. */
export const ATTR_HAVEN_EVENT_COUNT = 'haven.event.count';
/** The bounded context of a stream (`scheduling`), never the stream name with its id. */
export const ATTR_HAVEN_STREAM_CONTEXT = 'haven.stream.context';
/** Event store adapter (`jetstream`, `kurrentdb`). */
export const ATTR_HAVEN_EVENT_STORE = 'haven.event_store';
/** One of {@link HavenOutcome}. */
export const ATTR_HAVEN_OUTCOME = 'haven.outcome';
/** Actor kind: `user`, `patient`, `service_account`, `service`, `anonymous`. */
export const ATTR_HAVEN_ACTOR_KIND = 'haven.actor.kind';
/** Actor role: `admin`, `clinician`, `front_desk`, `auditor`. */
export const ATTR_HAVEN_ACTOR_ROLE = 'haven.actor.role';
/** Error category of a Haven error (`validation`, `not_found`, …). */
export const ATTR_HAVEN_ERROR_CATEGORY = 'haven.error.category';
/** Id of a Janus media node (infrastructure). */
export const ATTR_HAVEN_MEDIA_NODE = 'haven.media.node';
/** Size in bytes of an object processed (recording, export). */
export const ATTR_HAVEN_BYTES = 'haven.bytes';
/**
 * Name of an event consumer (relay, projection, bus subscription, revocation feed), e.g. `session.bookings`:
 * chosen in code, never derived from data.
 */
export const ATTR_HAVEN_CONSUMER = 'haven.consumer';

/** Values of {@link ATTR_HAVEN_OUTCOME}. */
export const HavenOutcome = {
  Success: 'success',
  Failure: 'failure',
  Denied: 'denied',
} as const;
/** One of the {@link HavenOutcome} values. */
export type HavenOutcome = (typeof HavenOutcome)[keyof typeof HavenOutcome];

/** Every attribute name that may reach a span, span event, link or metric. */
export const ALLOWED_ATTRIBUTES: ReadonlySet<string> = new Set([
  ATTR_RPC_SYSTEM,
  ATTR_RPC_SERVICE,
  ATTR_RPC_METHOD,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_DESTINATION,
  ATTR_MESSAGING_DESTINATION_TEMPLATE,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_HAVEN_SERVICE,
  ATTR_HAVEN_EVENT_TYPE,
  ATTR_HAVEN_EVENT_COUNT,
  ATTR_HAVEN_STREAM_CONTEXT,
  ATTR_HAVEN_EVENT_STORE,
  ATTR_HAVEN_OUTCOME,
  ATTR_HAVEN_ACTOR_KIND,
  ATTR_HAVEN_ACTOR_ROLE,
  ATTR_HAVEN_ERROR_CATEGORY,
  ATTR_HAVEN_MEDIA_NODE,
  ATTR_HAVEN_BYTES,
  ATTR_HAVEN_CONSUMER,
]);
