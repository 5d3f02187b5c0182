import { ACCESS_REFUSED, matches, refusalOf, toAuditRecord, type IngestibleEvent } from './audit-record';

const refused = (data: Record<string, unknown>, actor: IngestibleEvent['actor']): IngestibleEvent => ({
  id: 'e-1',
  type: ACCESS_REFUSED,
  stream: 'security.refusals_session-2026112610',
  revision: 0n,
  occurredAt: '2026-11-26T10:00:00.000Z',
  actor,
  correlationId: 'c-1',
  causationId: 'c-1',
  data,
  position: 1n,
});

describe('refusal facts in audit records', () => {
  it('keeps method, kind, code, reason, target and service of an AccessRefused, and its actor', () => {
    const facts = {
      method: '/haven.session.v1.SessionService/GetVisit',
      kind: 'permission',
      code: 'PERMISSION',
      reason: 'not allowed to see this visit',
      target: 'visits/apt-1',
      service: 'session',
    };
    const record = toAuditRecord(
      refused({ ...facts, principalId: 'u-b' }, { kind: 'user', id: 'u-b', role: 'clinician' }),
      0,
      new Date(),
    );
    expect(record.refusal).toEqual(facts);
    expect(matches(record, { limit: 10, actorId: 'u-b', actorKind: 'user', target: 'visits/apt-1' })).toBe(
      true,
    );
    expect(matches(record, { limit: 10, target: 'visits/apt-2' })).toBe(false);
    expect(matches(record, { limit: 10, actorId: 'u-b', actorKind: 'patient' })).toBe(false);
  });

  it('reads events of the first shape (no code, target or service) and drops a target that is free text', () => {
    const old = refusalOf(
      refused(
        { method: '/m', kind: 'policy', reason: 'r', target: 'Robin Quillfeather' },
        {
          kind: 'service',
          id: 'scheduling',
        },
      ),
    );
    expect(old).toEqual({ method: '/m', kind: 'policy', code: '', reason: 'r' });
  });

  it('ignores a malformed AccessRefused and every other type', () => {
    expect(refusalOf(refused({ method: 1, kind: 'policy', reason: 'r' }, { kind: 'service', id: 's' }))).toBe(
      undefined,
    );
    expect(refusalOf({ type: 'haven.x.v1.Other', data: { method: '/m', kind: 'k', reason: 'r' } })).toBe(
      undefined,
    );
  });
});
