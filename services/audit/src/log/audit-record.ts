/**
 * What the audit service keeps per event, and the pure functions that derive it. No I/O.
 * A record keeps the envelope's metadata (never `data` values that could be PHI, never the sealed `phi`),
 * so the log can be shown to auditors as is — plus, for `PhiAccessed`, the resource names and codes of the
 * access (what, which fields, why, outcome) so a patient can be told who looked at their record. The record
 * order is the ingestion order; the Merkle ledger hashes these same records.
 */
import { PHI_ACCESSED, isResourceName } from '@haven/service';

export interface AuditRecord {
  /** 0-based position in the audit log (the future Merkle leaf index). */
  readonly index: number;
  readonly eventId: string;
  readonly type: string;
  readonly stream: string;
  readonly context: string;
  readonly revision: string;
  readonly occurredAt: string;
  readonly actorKind: string;
  readonly actorId: string;
  readonly actorRole?: string;
  /** The patient the event is about, when it names one (ids only). */
  readonly patientId?: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceId?: string;
  /** Position of the event in the event store: the ingestion checkpoint. */
  readonly sourcePosition: string;
  /**
   * SHA-256 (hex) of the event as the store held it when it was recorded (see `event-digest.ts`): the store
   * watch reads the event back at `sourcePosition` and compares. Absent in records made before it existed.
   */
  readonly sourceDigest?: string;
  readonly recordedAt: string;
  /** For `PhiAccessed` events: what was read, why, with what outcome (resource names and codes, no PHI). */
  readonly access?: PhiAccessFacts;
  /** For `AccessRefused` events: what was refused, to whom it would have given access, and why (no PHI). */
  readonly refusal?: RefusalFacts;
}

/** The non-PHI facts of a refusal (haven/security/v1/security_events.proto `AccessRefused`). */
export interface RefusalFacts {
  /** The gRPC method path, HTTP route or media request that was refused. */
  readonly method: string;
  /** Which check said no (`unauthenticated`, `policy`, `permission`, `state`, `csrf`, `media`). */
  readonly kind: string;
  /** Machine code (`POLICY_DENIED`, `PERMISSION`, …); empty on events recorded before codes existed. */
  readonly code: string;
  /** Short PHI-free text. */
  readonly reason: string;
  /** The resource name the caller tried to reach; absent when the request named none. */
  readonly target?: string;
  /** The service that refused (`session`, `gateway`, …); absent on events recorded before it was named. */
  readonly service?: string;
}

/** The non-PHI facts of a PHI access, kept so a patient can be told who looked at their record. */
export interface PhiAccessFacts {
  /** The resource read, e.g. `patients/{id}` or `appointments/{id}`. */
  readonly what: string;
  /** The PHI fields opened (`given_name`, `reason`, …). */
  readonly fields: readonly string[];
  /** Declared purpose, e.g. `PHI_ACCESS_PURPOSE_TREATMENT`. */
  readonly why: string;
  /** `granted`, `denied` or `failed`. */
  readonly outcome: string;
  /** True when a break-glass grant covered the access. */
  readonly breakGlass: boolean;
}

/** The access facts of a `PhiAccessed` event; undefined for any other event or a malformed one. */
export function accessOf(event: Pick<IngestibleEvent, 'type' | 'data'>): PhiAccessFacts | undefined {
  if (event.type !== PHI_ACCESSED) return undefined;
  const { what, why, outcome, fields, breakGlassGrant } = event.data;
  if (typeof what !== 'string' || typeof why !== 'string' || typeof outcome !== 'string') return undefined;
  return {
    what,
    fields: Array.isArray(fields) ? fields.filter((f): f is string => typeof f === 'string') : [],
    why,
    outcome,
    breakGlass: typeof breakGlassGrant === 'string' && breakGlassGrant !== '',
  };
}

/** Event type of a refusal (see haven/security/v1/security_events.proto). */
export const ACCESS_REFUSED = 'haven.security.v1.AccessRefused';

const SHORT = (v: unknown, max: number): string | undefined =>
  typeof v === 'string' && v.length <= max ? v : undefined;

/**
 * The refusal facts of an `AccessRefused` event; undefined for any other event or a malformed one. Only short
 * strings are kept and a target only when it is shaped like a resource name, so a forged event cannot smuggle
 * free text into the log.
 */
export function refusalOf(event: Pick<IngestibleEvent, 'type' | 'data'>): RefusalFacts | undefined {
  if (event.type !== ACCESS_REFUSED) return undefined;
  const method = SHORT(event.data['method'], 200);
  const kind = SHORT(event.data['kind'], 32);
  const reason = SHORT(event.data['reason'], 200);
  if (method === undefined || kind === undefined || reason === undefined) return undefined;
  const code = SHORT(event.data['code'], 64) ?? '';
  const target = event.data['target'];
  const service = SHORT(event.data['service'], 64);
  return {
    method,
    kind,
    code,
    reason,
    ...(isResourceName(target) ? { target } : {}),
    ...(service !== undefined ? { service } : {}),
  };
}

export interface IngestibleEvent {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly revision: bigint;
  readonly occurredAt: string;
  readonly actor: { readonly kind: string; readonly id: string; readonly role?: string };
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent?: string;
  readonly data: Record<string, unknown>;
  readonly phi?: { readonly subject: string };
  readonly position: bigint;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id inside a W3C traceparent, or undefined when absent or malformed. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}

/** The patient an event is about: the sealed PHI's subject, or a `patientId` / `whose` id in data. */
export function patientOf(event: IngestibleEvent): string | undefined {
  if (event.phi) return event.phi.subject;
  const { patientId, whose } = event.data;
  if (typeof patientId === 'string') return patientId;
  if (typeof whose === 'string') return whose;
  return undefined;
}

/** Builds the audit record for an event at the given log index (with the digest of the stored event, if given). */
export function toAuditRecord(
  event: IngestibleEvent,
  index: number,
  recordedAt: Date,
  sourceDigest?: string,
): AuditRecord {
  const patientId = patientOf(event);
  const traceId = traceIdOf(event.traceparent);
  const access = accessOf(event);
  const refusal = refusalOf(event);
  return {
    index,
    eventId: event.id,
    type: event.type,
    stream: event.stream,
    context: event.stream.split('.')[0] ?? '',
    revision: event.revision.toString(),
    occurredAt: event.occurredAt,
    actorKind: event.actor.kind,
    actorId: event.actor.id,
    ...(event.actor.role !== undefined ? { actorRole: event.actor.role } : {}),
    ...(patientId !== undefined ? { patientId } : {}),
    correlationId: event.correlationId,
    causationId: event.causationId,
    ...(traceId !== undefined ? { traceId } : {}),
    sourcePosition: event.position.toString(),
    ...(sourceDigest !== undefined ? { sourceDigest } : {}),
    recordedAt: recordedAt.toISOString(),
    ...(access !== undefined ? { access } : {}),
    ...(refusal !== undefined ? { refusal } : {}),
  };
}

export interface AuditQuery {
  readonly patientId?: string;
  readonly actorId?: string;
  /** The actor's kind too, when the filter named one (`patients/…` → `patient`). */
  readonly actorKind?: string;
  /** The resource an entry is about: a refusal's target or a PHI access's `what`. */
  readonly target?: string;
  readonly types?: ReadonlySet<string>;
  readonly from?: Date;
  readonly to?: Date;
  /** Index to start after (page token), exclusive; oldest first. */
  readonly after?: number;
  /** Index to start before (page token), exclusive; newest first. */
  readonly before?: number;
  readonly limit: number;
}

/**
 * Streams of one aggregate that belongs to one patient: a visit (`VisitOpened` names the patient) and an
 * appointment (`AppointmentBooked` does). Every event of such a stream is about that patient, even when the
 * event itself carries no patient id (admit, lock, kick, end; reschedule, cancel, link redeemed).
 */
const PATIENT_STREAM = /^(session\.visit|scheduling\.appointment)-/;

/** The patient a stream belongs to, when this record names it and the stream is one patient's (see above). */
export function streamPatientOf(record: AuditRecord): string | undefined {
  return record.patientId !== undefined && PATIENT_STREAM.test(record.stream) ? record.patientId : undefined;
}

/**
 * True when a record matches every filter the query sets. `patientOf` resolves the record's patient (default:
 * the id the record carries; the audit log also knows the patient of a visit's or an appointment's stream).
 */
export function matches(
  record: AuditRecord,
  q: AuditQuery,
  patientOf: (record: AuditRecord) => string | undefined = (r) => r.patientId,
): boolean {
  if (q.patientId !== undefined && patientOf(record) !== q.patientId) return false;
  if (q.actorId !== undefined && record.actorId !== q.actorId) return false;
  if (q.actorKind !== undefined && record.actorKind !== q.actorKind) return false;
  if (q.target !== undefined && record.refusal?.target !== q.target && record.access?.what !== q.target) {
    return false;
  }
  if (q.types !== undefined && !q.types.has(record.type)) return false;
  const at = Date.parse(record.occurredAt);
  if (q.from && at < q.from.getTime()) return false;
  if (q.to && at >= q.to.getTime()) return false;
  if (q.after !== undefined && record.index <= q.after) return false;
  if (q.before !== undefined && record.index >= q.before) return false;
  return true;
}
