/**
 * AuditService handlers (first part: queries). Only admins and auditors may read the audit log, and every
 * query is itself recorded (`AuditLogQueried`) before the answer leaves: no event, no answer.
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError, PermissionError, ValidationError, type FieldViolation } from '@haven/errors';
import { newEvent, type EventStore } from '@haven/eventstore';
import { audit, events as envelopeProto } from '@haven/proto';
import { actorOf, requirePrincipal, type CallContext, type Principal } from '@haven/service';
import type { AuditLog } from '../log/audit-log';
import type { AuditRecord } from '../log/audit-record';

const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;
export const AUDIT_QUERIED = 'haven.audit.v1.AuditLogQueried';

const ACTOR_KIND: Record<string, envelopeProto.ActorKind> = {
  user: envelopeProto.ActorKind.ACTOR_KIND_USER,
  patient: envelopeProto.ActorKind.ACTOR_KIND_PATIENT,
  service_account: envelopeProto.ActorKind.ACTOR_KIND_SERVICE_ACCOUNT,
  service: envelopeProto.ActorKind.ACTOR_KIND_SERVICE,
  anonymous: envelopeProto.ActorKind.ACTOR_KIND_ANONYMOUS,
};

function toProto(r: AuditRecord): audit.AuditEvent {
  return audit.AuditEvent.fromPartial({
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
    patient: r.patientId ? `patients/${r.patientId}` : '',
    correlationId: r.correlationId,
    causationId: r.causationId,
  });
}

function requireAuditor(ctx: CallContext): Principal {
  const principal = requirePrincipal(ctx);
  const allowed =
    (principal.kind === 'user' && (principal.role === 'admin' || principal.role === 'auditor')) ||
    (principal.kind === 'service_account' && principal.scopes.includes('audit.events.read'));
  if (!allowed) throw new PermissionError('only admins and auditors may read the audit log');
  return principal;
}

export function auditHandlers(deps: { log: AuditLog; store: EventStore }) {
  const recordQuery = async (
    ctx: CallContext,
    principal: Principal,
    data: { method: string; patient: string; actor: string; resultCount: number },
  ) => {
    const event = newEvent({
      type: AUDIT_QUERIED,
      data,
      actor: actorOf(principal),
      correlationId: ctx.correlationId,
      ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
    });
    await deps.store.append(`audit.query-${randomUUID()}`, 'no_stream', [event]);
  };

  return {
    async listAuditEvents(
      request: audit.ListAuditEventsRequest,
      ctx: CallContext,
    ): Promise<audit.ListAuditEventsResponse> {
      const principal = requireAuditor(ctx);
      const violations: FieldViolation[] = [];
      if (request.pageSize < 0 || request.pageSize > MAX_PAGE)
        violations.push({ field: 'page_size', description: `must be between 0 and ${MAX_PAGE}` });
      if (request.pageToken !== '' && !/^\d{1,15}$/.test(request.pageToken))
        violations.push({ field: 'page_token', description: 'is not a token this service issued' });
      if (request.patient !== '' && !/^patients\/[A-Za-z0-9_-]{1,64}$/.test(request.patient))
        violations.push({ field: 'patient', description: 'must be patients/{patient}' });
      if (request.startTime && request.endTime && request.endTime <= request.startTime)
        violations.push({ field: 'end_time', description: 'must be after start_time' });
      if (violations.length > 0) throw new ValidationError(violations);

      const limit = request.pageSize || DEFAULT_PAGE;
      const types = new Set(request.types);
      const page = deps.log.query({
        ...(request.patient ? { patientId: request.patient.slice('patients/'.length) } : {}),
        ...(request.actor ? { actorId: request.actor.replace(/^users\//, '') } : {}),
        ...(request.startTime ? { from: request.startTime } : {}),
        ...(request.endTime ? { to: request.endTime } : {}),
        ...(request.pageToken ? { after: Number(request.pageToken) } : {}),
        ...(types.size > 0 ? { types } : {}),
        limit: limit + 1,
      });
      const records = page.slice(0, limit);
      await recordQuery(ctx, principal, {
        method: 'ListAuditEvents',
        patient: request.patient,
        actor: request.actor,
        resultCount: records.length,
      });
      return {
        auditEvents: records.map(toProto),
        nextPageToken: page.length > limit ? String(records.at(-1)!.index) : '',
      };
    },

    async getAuditEvent(
      request: audit.GetAuditEventRequest,
      ctx: CallContext,
    ): Promise<audit.GetAuditEventResponse> {
      const principal = requireAuditor(ctx);
      const id = /^auditEvents\/([A-Za-z0-9-]{1,64})$/.exec(request.name)?.[1];
      if (!id) throw new ValidationError([{ field: 'name', description: 'must be auditEvents/{event}' }]);
      const record = deps.log.get(id);
      if (!record) throw new NotFoundError(`audit event ${id} not found`);
      await recordQuery(ctx, principal, { method: 'GetAuditEvent', patient: '', actor: '', resultCount: 1 });
      return { auditEvent: toProto(record) };
    },
  };
}
