/**
 * AuditService handlers (first part: queries). Only admins and auditors may read the audit log, and every
 * query is itself recorded (`AuditLogQueried`) before the answer leaves: no event, no answer.
 */
import { randomUUID } from 'node:crypto';
import {
  PreconditionError,
  NotFoundError,
  PermissionError,
  ValidationError,
  collectViolations,
  type FieldViolation,
} from '@haven/errors';
import type { EventStore } from '@haven/eventstore';
import { audit, events as envelopeProto, phiEvents } from '@haven/proto';
import {
  bindHandlers,
  actorOf,
  callMetadata,
  commandEvent,
  encodePageToken,
  isPageOffset,
  keyPage,
  isResourceName,
  requirePrincipal,
  type CallContext,
  type Principal,
} from '@haven/service';
import type { AuditLog } from '../log/audit-log';
import type { AuditQuery, AuditRecord } from '../log/audit-record';
import { TREE_HEAD_ALGORITHM, recordLeafData, type Ledger, type TreeHead } from '../log/ledger';
import type { StaffDirectory } from '../log/staff-directory';

/** ListAuditEvents: 1–500 entries a page, 50 by default. */
const EVENT_PAGES = { defaultSize: 50, maxSize: 500 };
/** A size or index: a non-negative integer this service can hold. */
const SIZE = /^\d{1,15}$/;
const PATIENT_NAME = /^patients\/[A-Za-z0-9_-]{1,64}$/;
const AUDIT_EVENT_NAME = /^auditEvents\/([A-Za-z0-9-]{1,64})$/;
export const AUDIT_QUERIED = 'haven.audit.v1.AuditLogQueried';
export const AUDIT_EXPORTED = 'haven.audit.v1.AuditLogExported';

const ACTOR_KIND: Record<string, envelopeProto.ActorKind> = {
  user: envelopeProto.ActorKind.ACTOR_KIND_USER,
  patient: envelopeProto.ActorKind.ACTOR_KIND_PATIENT,
  guest: envelopeProto.ActorKind.ACTOR_KIND_GUEST,
  service_account: envelopeProto.ActorKind.ACTOR_KIND_SERVICE_ACCOUNT,
  service: envelopeProto.ActorKind.ACTOR_KIND_SERVICE,
  anonymous: envelopeProto.ActorKind.ACTOR_KIND_ANONYMOUS,
};

/** The API form of a record; `patientId` is the patient it is about (see AuditLog.patientOf). */
function toProto(r: AuditRecord, ledger: Ledger, patientId = r.patientId): audit.AuditEvent {
  return audit.AuditEvent.fromPartial({
    leafHash: ledger.leafHash(r.index),
    name: `auditEvents/${r.eventId}`,
    leafIndex: String(r.index),
    type: r.type,
    stream: r.stream,
    revision: r.revision,
    occurTime: new Date(r.occurredAt),
    recordTime: new Date(r.recordedAt),
    actor: {
      kind: ACTOR_KIND[r.actorKind] ?? envelopeProto.ActorKind.ACTOR_KIND_UNSPECIFIED,
      id: r.actorId,
      role: r.actorRole ?? '',
    },
    patient: patientId ? `patients/${patientId}` : '',
    correlationId: r.correlationId,
    causationId: r.causationId,
    ...(r.refusal ? { data: { ...r.refusal } } : {}),
  });
}

/** Collection prefixes of an actor filter and the actor kind each one fixes. */
const ACTOR_COLLECTIONS: Readonly<Record<string, string>> = {
  users: 'user',
  patients: 'patient',
  guests: 'guest',
  serviceAccounts: 'service_account',
  services: 'service',
};

/** The actor filter of a request: `users/{id}`, `patients/{id}`… fix the kind too; a bare id does not. */
function actorFilter(actor: string): { actorId: string; actorKind?: string } {
  const m = /^([A-Za-z]+)\/([^/]+)$/.exec(actor);
  const kind = m?.[1] !== undefined ? ACTOR_COLLECTIONS[m[1]] : undefined;
  return kind !== undefined && m?.[2] !== undefined ? { actorId: m[2], actorKind: kind } : { actorId: actor };
}

function requireAuditor(ctx: CallContext): Principal {
  const principal = requirePrincipal(ctx);
  const allowed =
    (principal.kind === 'user' && (principal.role === 'admin' || principal.role === 'auditor')) ||
    (principal.kind === 'service_account' && principal.scopes.includes('audit.events.read'));
  if (!allowed) throw new PermissionError('only admins and auditors may read the audit log');
  return principal;
}

/** A signed tree head as the API shows it (with the public key to check it against). */
function signedTreeHead(head: TreeHead, ledger: Ledger): audit.SignedTreeHead {
  return {
    treeSize: String(head.treeSize),
    rootHash: head.rootHash,
    timestamp: new Date(head.timestampMs),
    signature: head.signature,
    signatureAlgorithm: TREE_HEAD_ALGORITHM,
    keyId: head.keyId,
    publicKey: ledger.publicKeyDer,
  };
}

/** A uint64 request field as a number, or a violation when it is not a size this service can hold. */
function sizeField(value: string, field: string, violations: FieldViolation[]): number {
  if (!SIZE.test(value)) {
    violations.push({ field, description: 'must be a non-negative integer below 10^15' });
    return 0;
  }
  return Number(value);
}

/** What the query RPCs read and where they record that they were asked. */
export interface AuditHandlerDeps {
  readonly log: AuditLog;
  readonly store: EventStore;
  readonly ledger: Ledger;
  /** Display names of staff, for a patient's access log. */
  readonly staff?: StaffDirectory;
}

/** The signed head of `size` (0: the whole log now); OUT_OF_RANGE-style violation when beyond the log. */
async function headFor(ledger: Ledger, size: number, field: string): Promise<TreeHead> {
  if (size > ledger.size) {
    throw new ValidationError([
      { field, description: `the ledger holds ${ledger.size} entries; ${size} is beyond it` },
    ]);
  }
  if (size === 0 && ledger.size === 0) {
    throw new PreconditionError('the audit ledger is empty: no tree head to sign yet');
  }
  return await ledger.head(size === 0 ? ledger.size : size);
}

/** Appends the `AuditLogQueried` event of a query: no event, no answer. */
async function recordQuery(
  store: EventStore,
  ctx: CallContext,
  principal: Principal,
  data: { method: string; patient: string; actor: string; resultCount: number },
): Promise<void> {
  const event = commandEvent(callMetadata(ctx, actorOf(principal)), { type: AUDIT_QUERIED, data });
  await store.append(`audit.query-${randomUUID()}`, 'no_stream', [event]);
}

/** A checked ListAuditEvents request: its filter (bound to the page token), position and log query. */
interface AuditEventsQuery {
  readonly filter: unknown[];
  readonly newestFirst: boolean;
  readonly limit: number;
  readonly query: AuditQuery;
}

/** Checks a ListAuditEvents request and turns it into a log query; throws ValidationError with every violation. */
function auditEventsQuery(request: audit.ListAuditEventsRequest): AuditEventsQuery {
  const violations: FieldViolation[] = [];
  if (request.patient !== '' && !PATIENT_NAME.test(request.patient))
    violations.push({ field: 'patient', description: 'must be patients/{patient}' });
  if (request.target !== '' && !isResourceName(request.target))
    violations.push({ field: 'target', description: 'must be a resource name, e.g. visits/{visit}' });
  if (request.actor.length > 200)
    violations.push({ field: 'actor', description: 'must be at most 200 characters' });
  if (request.startTime && request.endTime && request.endTime <= request.startTime)
    violations.push({ field: 'end_time', description: 'must be after start_time' });
  const order = request.orderBy.trim().replace(/\s+/g, ' ');
  if (!['', 'leaf_index', 'leaf_index asc', 'leaf_index desc'].includes(order))
    violations.push({ field: 'order_by', description: 'must be "leaf_index" or "leaf_index desc"' });
  const newestFirst = order === 'leaf_index desc';
  const types = new Set(request.types);
  const filter = [
    'auditEvents',
    request.patient,
    request.actor,
    request.target,
    request.startTime,
    request.endTime,
    newestFirst,
    [...types].sort(),
  ];
  // The token holds the leaf index the next page resumes after (before, newest first).
  const page = collectViolations(violations, () => keyPage(request, filter, EVENT_PAGES, isPageOffset));
  if (violations.length > 0 || !page) throw new ValidationError(violations);
  const { size: limit, after: position } = page;
  const query = {
    ...(request.patient ? { patientId: request.patient.slice('patients/'.length) } : {}),
    ...(request.actor ? actorFilter(request.actor) : {}),
    ...(request.target ? { target: request.target } : {}),
    ...(request.startTime ? { from: request.startTime } : {}),
    ...(request.endTime ? { to: request.endTime } : {}),
    ...(position === undefined ? {} : newestFirst ? { before: position } : { after: position }),
    ...(types.size > 0 ? { types } : {}),
    limit: limit + 1,
  };
  return { filter, newestFirst, limit, query };
}

async function listAuditEvents(
  deps: AuditHandlerDeps,
  request: audit.ListAuditEventsRequest,
  ctx: CallContext,
): Promise<audit.ListAuditEventsResponse> {
  const principal = requireAuditor(ctx);
  const { filter, newestFirst, limit, query } = auditEventsQuery(request);
  const page = newestFirst
    ? deps.log.newestFirst((r) => deps.log.matches(r, query), limit + 1)
    : deps.log.query(query);
  const records = page.slice(0, limit);
  await recordQuery(deps.store, ctx, principal, {
    method: 'ListAuditEvents',
    patient: request.patient,
    actor: request.actor,
    resultCount: records.length,
  });
  return {
    auditEvents: records.map((r) => toProto(r, deps.ledger, deps.log.patientOf(r))),
    nextPageToken: page.length > limit ? encodePageToken(filter, records.at(-1)!.index) : '',
  };
}

async function getAuditEvent(
  deps: AuditHandlerDeps,
  request: audit.GetAuditEventRequest,
  ctx: CallContext,
): Promise<audit.GetAuditEventResponse> {
  const principal = requireAuditor(ctx);
  const id = AUDIT_EVENT_NAME.exec(request.name)?.[1];
  if (!id) throw new ValidationError([{ field: 'name', description: 'must be auditEvents/{event}' }]);
  const record = deps.log.get(id);
  if (!record) throw new NotFoundError(`audit event ${id} not found`);
  await recordQuery(deps.store, ctx, principal, {
    method: 'GetAuditEvent',
    patient: '',
    actor: '',
    resultCount: 1,
  });
  return { auditEvent: toProto(record, deps.ledger, deps.log.patientOf(record)) };
}

async function getTreeHead(
  deps: AuditHandlerDeps,
  request: audit.GetTreeHeadRequest,
  ctx: CallContext,
): Promise<audit.GetTreeHeadResponse> {
  requireAuditor(ctx);
  const violations: FieldViolation[] = [];
  const size = sizeField(request.treeSize, 'tree_size', violations);
  if (violations.length > 0) throw new ValidationError(violations);
  return { treeHead: signedTreeHead(await headFor(deps.ledger, size, 'tree_size'), deps.ledger) };
}

/** The leaf an inclusion proof is asked for: by index or by audit event; adds violations, or throws NOT_FOUND. */
function proofLeafIndex(
  log: AuditLog,
  leaf: audit.GetInclusionProofRequest['leaf'],
  violations: FieldViolation[],
): number {
  if (leaf?.$case === 'leafIndex') return sizeField(leaf.leafIndex, 'leaf_index', violations);
  if (leaf?.$case === 'auditEvent') {
    const id = AUDIT_EVENT_NAME.exec(leaf.auditEvent)?.[1];
    if (!id) {
      violations.push({ field: 'audit_event', description: 'must be auditEvents/{event}' });
      return 0;
    }
    const record = log.get(id);
    if (!record) throw new NotFoundError(`audit event ${id} not found`);
    return record.index;
  }
  violations.push({ field: 'leaf', description: 'give leaf_index or audit_event' });
  return 0;
}

async function getInclusionProof(
  deps: AuditHandlerDeps,
  request: audit.GetInclusionProofRequest,
  ctx: CallContext,
): Promise<audit.GetInclusionProofResponse> {
  requireAuditor(ctx);
  const { ledger } = deps;
  const violations: FieldViolation[] = [];
  const size = sizeField(request.treeSize, 'tree_size', violations);
  const index = proofLeafIndex(deps.log, request.leaf, violations);
  if (violations.length > 0) throw new ValidationError(violations);
  const head = await headFor(ledger, size, 'tree_size');
  if (index >= head.treeSize) {
    throw new ValidationError([
      { field: 'leaf_index', description: `must be below the tree size ${head.treeSize}` },
    ]);
  }
  const entry = deps.log.all()[index];
  return {
    leafIndex: String(index),
    treeSize: String(head.treeSize),
    leafHash: ledger.leafHash(index),
    auditPath: ledger.inclusionProof(index, head.treeSize),
    treeHead: signedTreeHead(head, ledger),
    leafData: entry ? recordLeafData(entry) : Buffer.alloc(0),
  };
}

async function getConsistencyProof(
  deps: AuditHandlerDeps,
  request: audit.GetConsistencyProofRequest,
  ctx: CallContext,
): Promise<audit.GetConsistencyProofResponse> {
  requireAuditor(ctx);
  const { ledger } = deps;
  const violations: FieldViolation[] = [];
  const first = sizeField(request.firstTreeSize, 'first_tree_size', violations);
  const second = sizeField(request.secondTreeSize, 'second_tree_size', violations);
  if (violations.length === 0 && first < 1)
    violations.push({ field: 'first_tree_size', description: 'must be at least 1' });
  if (violations.length > 0) throw new ValidationError(violations);
  const head = await headFor(ledger, second, 'second_tree_size');
  if (first > head.treeSize) {
    throw new ValidationError([
      { field: 'first_tree_size', description: `must not exceed the second tree size ${head.treeSize}` },
    ]);
  }
  return {
    firstTreeSize: String(first),
    secondTreeSize: String(head.treeSize),
    proof: ledger.consistencyProof(first, head.treeSize),
    treeHead: signedTreeHead(head, ledger),
  };
}

/** One entry of a patient's access log as the API shows it. */
function accessLogEntry(r: AuditRecord, staff: StaffDirectory | undefined): audit.AccessLogEntry {
  return {
    accessTime: new Date(r.occurredAt),
    accessorRole: r.actorKind === 'patient' ? 'patient' : (r.actorRole ?? r.actorKind),
    accessorDisplayName: r.actorKind === 'user' ? (staff?.nameOf(r.actorId) ?? '') : '',
    resource: r.access!.what,
    fields: [...r.access!.fields],
    purpose: phiEvents.phiAccessPurposeFromJSON(r.access!.why),
    outcome: phiEvents.phiAccessOutcomeFromJSON(`PHI_ACCESS_OUTCOME_${r.access!.outcome.toUpperCase()}`),
    breakGlass: r.access!.breakGlass,
    auditEvent: `auditEvents/${r.eventId}`,
  };
}

/**
 * A patient's own accounting of accesses to their PHI (who — by role —, when, what, why, outcome), newest
 * first. Only for a patient principal, only their own entries; the query itself is recorded like any other.
 */
async function listMyAccessLog(
  deps: AuditHandlerDeps,
  request: audit.ListMyAccessLogRequest,
  ctx: CallContext,
): Promise<audit.ListMyAccessLogResponse> {
  const principal = requirePrincipal(ctx);
  if (principal.kind !== 'patient') throw new PermissionError('only a patient may read their own access log');
  const filter = ['myAccessLog', principal.id];
  const { size: limit, after } = keyPage(request, filter, { defaultSize: 50, maxSize: 100 }, isPageOffset);
  const before = after ?? Infinity;
  const mine = deps.log.newestFirst(
    (r) => r.access !== undefined && r.patientId === principal.id && r.index < before,
    limit + 1,
  );
  const page = mine.slice(0, limit);
  await recordQuery(deps.store, ctx, principal, {
    method: 'ListMyAccessLog',
    patient: `patients/${principal.id}`,
    actor: '',
    resultCount: page.length,
  });
  return {
    entries: page.map((r) => accessLogEntry(r, deps.staff)),
    nextPageToken: mine.length > limit ? encodePageToken(filter, page.at(-1)!.index) : '',
  };
}

/** The query RPCs of AuditService, one function each. */
export function auditHandlers(deps: AuditHandlerDeps) {
  return bindHandlers(deps, {
    listAuditEvents,
    getAuditEvent,
    getTreeHead,
    getInclusionProof,
    getConsistencyProof,
    listMyAccessLog,
  });
}

/**
 * ExportAuditLog: every entry matching the filters, oldest first, then the signed tree head covering them (the
 * last message). Each entry carries its leaf index and hash, so a full export lets the recipient recompute the
 * root and compare it with the signed head; a filtered one, check any entry with GetInclusionProof. The export
 * is recorded (`AuditLogExported`) before the first entry leaves.
 */
export function auditStreams(deps: { log: AuditLog; store: EventStore; ledger: Ledger }) {
  return {
    async exportAuditLog(
      request: audit.ExportAuditLogRequest,
      ctx: CallContext,
      send: (message: audit.ExportAuditLogResponse) => Promise<void>,
    ): Promise<void> {
      const principal = requireAuditor(ctx);
      const violations: FieldViolation[] = [];
      if (request.patient !== '' && !PATIENT_NAME.test(request.patient))
        violations.push({ field: 'patient', description: 'must be patients/{patient}' });
      if (request.startTime && request.endTime && request.endTime <= request.startTime)
        violations.push({ field: 'end_time', description: 'must be after start_time' });
      if (violations.length > 0) throw new ValidationError(violations);
      if (deps.ledger.size === 0) throw new PreconditionError('the audit ledger is empty: nothing to export');
      const head = await deps.ledger.head(deps.ledger.size);
      const entries = deps.log.query({
        ...(request.patient ? { patientId: request.patient.slice('patients/'.length) } : {}),
        ...(request.startTime ? { from: request.startTime } : {}),
        ...(request.endTime ? { to: request.endTime } : {}),
        limit: head.treeSize,
      });
      await deps.store.append(`audit.export-${randomUUID()}`, 'no_stream', [
        commandEvent(callMetadata(ctx, actorOf(principal)), {
          type: AUDIT_EXPORTED,
          data: {
            startTime: request.startTime?.toISOString() ?? '',
            endTime: request.endTime?.toISOString() ?? '',
            patient: request.patient,
            entryCount: entries.length,
            treeSize: head.treeSize,
          },
        }),
      ]);
      for (const record of entries) {
        if (record.index >= head.treeSize) break;
        await send({
          item: { $case: 'auditEvent', auditEvent: toProto(record, deps.ledger, deps.log.patientOf(record)) },
        });
      }
      await send({ item: { $case: 'treeHead', treeHead: signedTreeHead(head, deps.ledger) } });
    },
  };
}
