/** Fixtures for the audit service's tests. */
import type { AuditRecord } from './audit-record';

/** An audit record at `index` (a clinician's VisitOpened unless `over` says otherwise). */
export function auditRecord(index: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    index,
    eventId: `evt-${index}`,
    type: 'haven.session.v1.VisitOpened',
    stream: `session.visit-${index}`,
    context: 'session',
    revision: '0',
    occurredAt: '2026-11-26T10:00:00.000Z',
    actorKind: 'user',
    actorId: 'u-clin',
    correlationId: 'c',
    causationId: 'c',
    sourcePosition: String(index + 1),
    recordedAt: '2026-11-26T10:00:01.000Z',
    ...over,
  };
}
